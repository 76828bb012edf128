"""Project-level pages: home and health check."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from concerto.accounts import policy


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Public welcome page; once logged in, each person's way in.

    A GP whose only role is médecin traitant goes straight to the news feed
    (K-Process memo: "Une fois connecté, vous pourrez accéder à un tableau de bord").
    """
    roles = policy.roles(request.user) if request.user.is_authenticated else set()
    if roles == {policy.Role.GP}:
        return redirect("portal:dashboard")
    return render(request, "home.html", {"roles": roles, "Role": policy.Role})


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
