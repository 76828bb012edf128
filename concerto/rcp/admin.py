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

from concerto.audit import trail
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


@admin.register(Board)
class BoardAdmin(AuditedAdmin):
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
class SessionAdmin(AuditedAdmin):
    list_display = ["board", "date", "time", "status"]
    list_filter = ["status", "board__territory", "board"]
    search_fields = ["board__title"]
    date_hierarchy = "date"
    readonly_fields = ["status", "cancelled_at"]
    actions = ["cancel"]

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


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ["patient", "session", "status", "prefiche_completed_at", "cim10_code"]
    list_filter = ["status", "session__board__territory", "session__board"]
    search_fields = [
        "patient__birth_name",
        "patient__used_name",
        "session__board__title",
        "cim10_code",
    ]
    raw_id_fields = ["session", "patient"]
    readonly_fields = [
        "registered_by",
        "registered_at",
        "status",
        "withdrawn_at",
        "prefiche_completed_at",
    ]
    inlines = [DocumentInline]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            fields = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in actions.PREFICHE_FIELDS
            }
            if fields:
                actions.update_prefiche(by=request.user, registration=obj, **fields)
        else:
            actions.register_patient(
                by=request.user,
                session=obj.session,
                patient=obj.patient,
                **{name: form.cleaned_data[name] for name in actions.PREFICHE_FIELDS},
            )


@admin.register(CompteRendu)
class CompteRenduAdmin(admin.ModelAdmin):
    list_display = ["registration", "version", "case_status", "quorum_met", "validated_at"]
    list_filter = ["case_status", "quorum_met"]
    search_fields = ["registration__patient__birth_name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # validated compte-rendus are frozen

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PPS)
class PPSAdmin(admin.ModelAdmin):
    list_display = ["patient", "doctor_name", "establishment_name", "created_at"]
    search_fields = ["patient__birth_name", "doctor_name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.register(GPContribution)
admin.site.register(NewsItem)
