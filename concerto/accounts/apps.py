from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest, HttpResponse


class AccountsConfig(AppConfig):
    name = "concerto.accounts"
    verbose_name = "Comptes et connexion"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in

        from concerto.accounts import checks  # noqa: F401 — registers the checks
        from concerto.accounts.middleware import mark_login

        user_logged_in.connect(mark_login, dispatch_uid="concerto.accounts.mark_login")
        # No password form anywhere, the admin site included: everyone comes in through
        # Pro Santé Connect (or the demo login in demo mode).
        admin.site.login = _admin_login  # type: ignore[method-assign]
        admin.site.logout = _admin_logout  # type: ignore[method-assign,assignment]


# The views are imported when first called, not here: they bring the OpenID Connect client
# (0.2 s of start-up), which the management commands (imports, workers) never use.


def _admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    from concerto.accounts.views import admin_login

    return admin_login(request, extra_context)


def _admin_logout(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    from concerto.accounts.views import admin_logout

    return admin_logout(request, extra_context)
