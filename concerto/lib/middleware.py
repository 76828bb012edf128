"""Pages are not kept by the browser."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Every page the application itself answers (static files are WhiteNoise's, served
    before this) says ``Cache-Control: no-store, private``, unless its view said
    otherwise: a page showing a patient must not stay in the browser's disk or
    back/forward cache, where the next person at a shared workstation would find it by
    pressing Back after the doctor's logout or time-out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response
