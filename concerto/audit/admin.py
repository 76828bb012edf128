from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from concerto.audit.access import record_access
from concerto.audit.models import AuditEvent
from concerto.lib.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "actor",
        "actor_role",
        "action",
        "object_type",
        "object_id",
        "patient_id",
        "outcome",
        "ip",
    ]
    list_filter = ["outcome", "action"]
    search_fields = ["actor", "action", "=patient_id", "=actor_id"]
    date_hierarchy = "at"

    # Reading the trail is traced, as the search page (/journal/) is.
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        record_access(
            request,
            action="audit.admin_list",
            patient_id=None,
            details={"query": {k: v[:40] for k, v in request.GET.items()}},
            outcome=_outcome(self.has_view_permission(request)),
        )
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        event = self.get_object(request, object_id)
        record_access(
            request,
            action="audit.admin_view",
            patient_id=None,
            details={"event": object_id[:20]},
            outcome=_outcome(event is not None and self.has_view_permission(request, event)),
        )
        return super().change_view(request, object_id, form_url, extra_context)


def _outcome(allowed: bool) -> str:
    return AuditEvent.Outcome.OK if allowed else AuditEvent.Outcome.DENIED
