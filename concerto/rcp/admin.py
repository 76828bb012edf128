"""Back office for RCP secretaries (French Django admin).

Changes with business rules (opt-in, cancelling) go through the actions, from admin
actions; plain data (titles, webconference link, members) is edited in place and
recorded in the audit trail by ``save_model``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from concerto.accounts import policy
from concerto.audit import trail
from concerto.audit.access import record_access, record_accesses
from concerto.lib.admin import ReadOnlyAdmin
from concerto.lib.errors import ActionRefused
from concerto.rcp import actions
from concerto.rcp.models import (
    PPS,
    Board,
    BoardMembership,
    CompteRendu,
    Document,
    GPContribution,
    NewsItem,
    NotificationConsent,
    Registration,
    Session,
    Territory,
)


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        trail.record(
            by=request.user,
            action=f"admin.{'change' if change else 'add'}",
            obj=obj,
            ip=request.META.get("REMOTE_ADDR"),
            details={"fields": sorted(form.changed_data)},
        )


@admin.register(Territory)
class TerritoryAdmin(AuditedAdmin):
    list_display = ["name", "slug", "holiday_subdivision"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class MembershipInline(admin.TabularInline):
    model = BoardMembership
    extra = 1
    autocomplete_fields = ["user"]


class ConsentInline(admin.TabularInline):
    model = NotificationConsent
    extra = 0
    can_delete = False
    fields = ("user", "agreed", "at", "recorded_by")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ManagedBoardsAdmin(AuditedAdmin):
    """Boards and sessions: a secretary sees and changes only the boards they organise
    (or administer by territory); the policy decides."""

    board_path = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        managed = policy.managed_boards(request.user)
        lookup = f"{self.board_path}__in" if self.board_path else "pk__in"
        return super().get_queryset(request).filter(**{lookup: managed.values("pk")})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "board":
            kwargs["queryset"] = policy.managed_boards(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Board)
class BoardAdmin(ManagedBoardsAdmin):
    list_display = [
        "title",
        "specialty",
        "territory",
        "usual_weekday",
        "usual_time",
        "notifications_enabled",
        "has_webconference",
    ]
    list_filter = ["territory", "notifications_enabled", "specialty"]
    search_fields = ["title", "specialty"]
    readonly_fields = ["notifications_enabled", "notifications_enabled_at"]
    inlines = [MembershipInline, ConsentInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["enable_notifications", "disable_notifications", "record_all_consents"]

    @admin.display(boolean=True, description="webconférence")
    def has_webconference(self, obj: Board) -> bool:
        return obj.has_webconference

    @admin.action(description="Activer la notification du médecin traitant (accords requis)")
    def enable_notifications(self, request: HttpRequest, queryset: QuerySet[Board]) -> None:
        for board in queryset:
            try:
                actions.enable_notifications(by=request.user, board=board)
                self.message_user(request, f"{board} : notification activée.")
            except ActionRefused as exc:
                self.message_user(request, f"{board} : {exc.message}", messages.ERROR)

    @admin.action(description="Désactiver la notification du médecin traitant")
    def disable_notifications(self, request: HttpRequest, queryset: QuerySet[Board]) -> None:
        for board in queryset:
            actions.disable_notifications(by=request.user, board=board)
        self.message_user(request, "Notification désactivée.")

    @admin.action(description="Enregistrer mon accord à la notification")
    def record_all_consents(self, request: HttpRequest, queryset: QuerySet[Board]) -> None:
        for board in queryset:
            try:
                actions.record_notification_consent(
                    by=request.user, board=board, user=request.user, agreed=True
                )
                self.message_user(request, f"{board} : accord enregistré.")
            except ActionRefused as exc:
                self.message_user(request, f"{board} : {exc.message}", messages.ERROR)


@admin.register(Session)
class SessionAdmin(ManagedBoardsAdmin):
    board_path = "board"
    list_display = ["board", "date", "time", "status"]
    list_filter = ["status", "board__territory", "board"]
    search_fields = ["board__title"]
    date_hierarchy = "date"
    readonly_fields = ["status", "cancelled_at"]
    actions = ["cancel"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # An existing session's board, date and time change through the application's
        # actions ("Déplacer": its checks, the GPs' news lines), never here: moving a
        # session to another board would hand its patients to that board's members.
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["board", "date", "time"] if obj is not None else fields

    @admin.action(description="Annuler les séances sélectionnées")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        for session in queryset:
            try:
                actions.cancel_session(by=request.user, session=session)
            except ActionRefused as exc:
                self.message_user(request, f"{session} : {exc.message}", messages.ERROR)
        self.message_user(request, "Séances annulées.")


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    can_delete = False
    fields = ("title", "content_type", "size", "uploaded_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PatientDataAdmin(ReadOnlyAdmin):
    """Patient data in the back office: read-only, for superusers only, every read traced.

    Secretaries and clinicians work on the application's own pages, which apply the
    object-level policy; the admin cannot scope a changelist object by object as well.
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    @staticmethod
    def patient_of(obj: Any) -> int | None:
        """The patient a row is about (the trail is searched by patient)."""
        if obj is None:
            return None
        if obj._meta.model_name == "patient":
            return int(obj.pk)
        if getattr(obj, "patient_id", None) is not None:
            return int(obj.patient_id)
        registration = getattr(obj, "registration", None)
        return int(registration.patient_id) if registration is not None else None

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)
        # One event per patient on the page shown, as for the portal's lists.
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        shown = changelist.result_list if changelist is not None else []
        record_accesses(
            request,
            action=f"admin.{self.model._meta.model_name}.list",
            patient_ids=[self.patient_of(obj) for obj in shown],
        )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        obj = self.get_object(request, object_id)
        record_access(
            request,
            action=f"admin.{self.model._meta.model_name}.view",
            patient_id=self.patient_of(obj),
            details={"object_id": str(object_id)[:20]},
        )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Registration)
class RegistrationAdmin(PatientDataAdmin):
    list_display = ["patient", "session", "status", "prefiche_completed_at", "cim10_code"]
    list_filter = ["status", "session__board__territory", "session__board"]
    search_fields = ["session__board__title", "cim10_code"]
    inlines = [DocumentInline]


@admin.register(CompteRendu)
class CompteRenduAdmin(PatientDataAdmin):
    list_display = ["registration", "version", "case_status", "quorum_met", "validated_at"]
    list_filter = ["case_status", "quorum_met"]


@admin.register(PPS)
class PPSAdmin(PatientDataAdmin):
    list_display = ["patient", "doctor_name", "establishment_name", "created_at"]
    search_fields = ["doctor_name"]


admin.site.register(GPContribution, PatientDataAdmin)
admin.site.register(NewsItem, PatientDataAdmin)
