from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "concerto.portal"
    verbose_name = "Portail du médecin traitant"
