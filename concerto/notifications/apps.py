from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "concerto.notifications"
    verbose_name = "Notifications MSSanté"
