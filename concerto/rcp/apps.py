from django.apps import AppConfig


class RcpConfig(AppConfig):
    name = "concerto.rcp"
    verbose_name = "RCP"
