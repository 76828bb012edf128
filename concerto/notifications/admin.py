"""Back office: every notification with its status, reasons and what needs attention.

Read-only: rows are written by the worker only. Organisers see the rows of the boards
they may manage (scoped through concerto.accounts.policy); each listing is recorded in
the access trail since it names patients.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html_join

from concerto.accounts import policy
from concerto.audit.access import record_access, record_accesses
from concerto.audit.models import AuditEvent
from concerto.lib.admin import ReadOnlyAdmin
from concerto.notifications.models import Notification


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = "à traiter"
    parameter_name = "a_traiter"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("oui", "À traiter (échec ou expirée)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "oui":
            return queryset.filter(status__in=Notification.NEEDS_ATTENTION)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "registration",
        "status",
        "attention",
        "reasons_display",
        "addresses_display",
        "due_at",
        "sent_at",
        "attempts",
    ]
    list_filter = [NeedsAttentionFilter, "status"]
    list_select_related = ["registration__patient", "registration__session__board"]
    search_fields = ["message_id", "gp_rpps"]
    readonly_fields = [
        field.name for field in Notification._meta.fields if field.name != "claim_token"
    ] + ["reasons_display"]
    exclude = ["claim_token"]

    @admin.display(description="à traiter", boolean=True)
    def attention(self, obj: Notification) -> bool:
        return obj.needs_attention

    @admin.display(description="motifs")
    def reasons_display(self, obj: Notification) -> str:
        if obj.status in Notification.NEEDS_ATTENTION:
            return obj.last_error
        return format_html_join("", "<div>{}</div>", ((label,) for label in obj.reason_labels))

    @admin.display(description="adresses")
    def addresses_display(self, obj: Notification) -> str:
        return ", ".join(obj.addresses)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:  # (the back office's traced read of patient data)
            return queryset
        return queryset.filter(
            registration__in=policy.visible_registrations(request.user).values("pk")
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # The list names each row's patient: one event per patient shown (the trail is
        # searched by patient), as for the other lists of patient data.
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        shown = changelist.result_list if changelist is not None else []
        record_accesses(
            request,
            action="notification.list",
            patient_ids=[row.registration.patient_id for row in shown],
        )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The admin's own lookup turns a malformed id into "not found"; do the same.
        rows = Notification.objects.filter(pk=object_id) if str(object_id).isdigit() else None
        row = rows.select_related("registration").first() if rows is not None else None
        allowed = row is not None and self.get_queryset(request).filter(pk=row.pk).exists()
        # A row of another board's patient, or none: refused (the admin answers "does
        # not exist"), naming the patient asked for when there is one.
        record_access(
            request,
            action="notification.view",
            patient_id=row.registration.patient_id if row else None,
            obj=row,
            outcome=AuditEvent.Outcome.OK if allowed else AuditEvent.Outcome.DENIED,
        )
        return super().change_view(request, object_id, form_url, extra_context)
