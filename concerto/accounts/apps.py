from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "concerto.accounts"
    verbose_name = "Comptes et connexion"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from concerto.accounts import checks  # noqa: F401 — registers the checks
        from concerto.accounts.middleware import mark_login

        user_logged_in.connect(mark_login, dispatch_uid="concerto.accounts.mark_login")
