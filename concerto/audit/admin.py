from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from concerto.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
