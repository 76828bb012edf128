from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "concerto.audit"
    verbose_name = "Traçabilité"

    def ready(self) -> None:
        from concerto.audit import checks  # noqa: F401  (registers the system checks)
