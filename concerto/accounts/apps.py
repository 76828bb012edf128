from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "concerto.accounts"
    verbose_name = "Comptes et connexion"

    def ready(self) -> None:
        from concerto.accounts import checks  # noqa: F401 — registers the checks
