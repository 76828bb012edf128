from django.contrib import admin

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
