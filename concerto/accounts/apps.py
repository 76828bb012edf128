from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "concerto.accounts"
    verbose_name = "Comptes et connexion"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in

        from concerto.accounts import checks  # noqa: F401 — registers the checks
        from concerto.accounts.middleware import mark_login
        from concerto.accounts.views import admin_login, admin_logout

        user_logged_in.connect(mark_login, dispatch_uid="concerto.accounts.mark_login")
        # No password form anywhere, the admin site included: everyone comes in through
        # Pro Santé Connect (or the demo login in demo mode).
        admin.site.login = admin_login  # type: ignore[method-assign]
        admin.site.logout = admin_logout  # type: ignore[method-assign,assignment]
