"""The demo mail sink's page: what the local MSSanté stand-in received (admins only)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from concerto.audit.access import record_access
from concerto.notifications.sink import received_messages


@login_required
@require_GET
def demo_mailbox(request: HttpRequest) -> HttpResponse:
    user = request.user
    allowed = (
        not settings.PRODUCTION
        and user.is_authenticated
        and (user.is_superuser or getattr(user, "is_regional_admin", False))
    )
    if not allowed:
        raise Http404
    record_access(request, action="notification.demo_mailbox", patient_id=None)
    return render(
        request,
        "notifications/demo_mailbox.html",
        {
            "messages_received": received_messages(settings.MAIL_SINK_DIR),
            "folder": settings.MAIL_SINK_DIR,
        },
    )
