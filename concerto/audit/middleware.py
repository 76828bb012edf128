"""The address a request came from, for every trail event written while it is served."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

# REMOTE_ADDR only (see concerto.audit.access.client_ip); None outside a request.
REQUEST_IP: ContextVar[str | None] = ContextVar("concerto_request_ip", default=None)


class RequestAddressMiddleware:
    """Lets the actions' trail events carry the address too ("from which address",
    SPEC §1), without passing the request down to them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = REQUEST_IP.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            REQUEST_IP.reset(token)
