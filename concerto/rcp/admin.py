"""Back office for RCP secretaries (French Django admin).

Changes with business rules (opt-in, cancelling) go through the actions, from admin
actions; plain data (titles, webconference link, members) is edited in place and
recorded in the audit trail by ``save_model``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from concerto.accounts import policy
from concerto.audit.access import record_access, record_accesses
from concerto.audit.models import AuditEvent
from concerto.lib.admin import ReadOnlyAdmin, TracedSaveAdmin
from concerto.lib.errors import ActionRefused
from concerto.rcp import actions
from concerto.rcp.forms import SessionForm
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


class AuditedAdmin(TracedSaveAdmin):
    """Every save traced; no delete (boards, sessions and territories are kept: their
    history is the board's, and a deletion would leave no trace)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Territory)
class TerritoryAdmin(AuditedAdmin):
    """Territories are the administrators' (SPEC §1): a territory administrator changes
    their own (name, holiday calendar); only a regional administrator adds one."""

    list_display = ["name", "slug", "holiday_subdivision"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Territory]:
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=policy.administered_territories(request.user).values("pk"))
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return policy.administered_territories(request.user).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        territories = policy.administered_territories(request.user)
        return territories.filter(pk=obj.pk).exists() if obj else territories.exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return policy.is_regional_admin(request.user)


class BoardInline(admin.TabularInline):
    """A board's rows: whoever manages the board (policy) manages them."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or policy.can_manage_board(request.user, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request, obj)


class MembershipInline(BoardInline):
    model = BoardMembership
    extra = 1
    autocomplete_fields = ["user"]


class ConsentInline(BoardInline):
    model = NotificationConsent
    extra = 0
    can_delete = False
    fields = ("user", "agreed", "at", "recorded_by")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
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

    # Permissions from the policy (SPEC §1), not from per-model grants: a board's
    # secretaries and its territory's administrators, whatever groups they are in.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff) and (
            policy.managed_boards(request.user).exists()
            or policy.board_territories(request.user).exists()
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return self.has_module_permission(request)
        board = getattr(obj, "board", obj)
        return bool(request.user.is_staff) and policy.can_manage_board(request.user, board)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)


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

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A board's territory decides who administers its patients and its holiday
        # calendar: moved only by a regional administrator.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not policy.is_regional_admin(request.user):
            fields.append("territory")
        return fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "territory":
            kwargs["queryset"] = policy.board_territories(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "title" in form.changed_data:
            actions.refresh_upcoming_news(obj)
        if not change and not policy.can_manage_board(request.user, obj):
            # A secretary's new board stays theirs (else it would vanish from their list).
            actions.add_member(
                by=request.user, board=obj, user=request.user, role=BoardMembership.Role.ORGANISER
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Members through the actions (their trail: who gave whom access to the board's
        patients); other inlines as usual."""
        if formset.model is not BoardMembership:
            super().save_formset(request, form, formset, change)
            return
        board = form.instance
        # (what the admin's history message reads, as ModelFormSet.save() would set it)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        # The rows as stored: validating the formset already copied the posted values
        # onto each form's instance.
        stored = {m.pk: m for m in BoardMembership.objects.filter(board=board)}
        for removed in formset.deleted_forms:
            gone = stored.get(removed.instance.pk)
            if gone is not None:
                actions.remove_member(by=request.user, membership=gone)
                formset.deleted_objects.append(gone)
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed():
                continue
            data = row.cleaned_data
            if not data or data.get("DELETE"):
                continue
            old = stored.get(row.instance.pk)
            if old is not None and (old.user_id, old.role) != (data["user"].pk, data["role"]):
                actions.remove_member(by=request.user, membership=old)  # replaced by another
            membership = actions.add_member(
                by=request.user,
                board=board,
                user=data["user"],
                role=data["role"],
                specialty=data.get("specialty") or "",
            )
            if old is None:
                formset.new_objects.append(membership)
            else:
                formset.changed_objects.append((membership, row.changed_data))
        self._warn_missing_consent(request, board, [m.user_id for m in formset.new_objects])

    @staticmethod
    def _warn_missing_consent(request: HttpRequest, board: Board, added: list[int]) -> None:
        """The notification stays on when a member joins (switching it off would stop every
        GP's notice), but the opt-in rests on every member's agreement: the organiser is
        told whose is missing, as the board's page tells it."""
        if not added or not board.notifications_enabled:
            return
        missing = [u for u in actions.members_without_consent(board) if u.pk in added]
        if missing:
            names = ", ".join(u.display_name for u in missing)
            messages.warning(
                request,
                f"La notification du médecin traitant reste activée pour cette RCP, mais "
                f"{names} n'a pas encore donné son accord : recueillez-le (page de la RCP, "
                f"« Je donne mon accord »).",
            )

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


class SessionAdminForm(forms.ModelForm):
    """A new session: in the future, within the planning horizon (as the application's
    calendar page; its board is one the user manages, by the form field's choices)."""

    class Meta:
        model = Session
        fields = ["board", "date", "time"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None:
            check = SessionForm({"date": data.get("date"), "time": data.get("time")})
            if data.get("date") and data.get("time") and not check.is_valid():
                raise forms.ValidationError(list(check.non_field_errors()))
        return data


@admin.register(Session)
class SessionAdmin(ManagedBoardsAdmin):
    form = SessionAdminForm
    board_path = "board"
    list_display = ["board", "date", "time", "status"]
    list_filter = ["status", ("board", admin.RelatedOnlyFieldListFilter)]
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
    def cancel(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        """After a confirmation page that lists the sessions and their files, as the
        session page's own cancellation asks for a confirmation (files to move, GPs
        told on their feed)."""
        if request.POST.get("confirm") != "yes":
            sessions = list(
                queryset.select_related("board")
                .annotate(
                    active_files=Count(
                        "registrations",
                        filter=Q(registrations__status=Registration.Status.ACTIVE),
                    )
                )
                .order_by("date", "time")
            )
            return TemplateResponse(
                request,
                "admin/rcp/session/cancel_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Annuler des séances",
                    "opts": self.model._meta,
                    "sessions": sessions,
                    "files": sum(session.active_files for session in sessions),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        cancelled = 0
        for session in queryset:
            try:
                actions.cancel_session(by=request.user, session=session)
                cancelled += 1
            except ActionRefused as exc:
                self.message_user(request, f"{session} : {exc.message}", messages.ERROR)
        if cancelled:
            self.message_user(request, f"{cancelled} séance(s) annulée(s).")
        return None  # (back to the list)


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

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # Only the declared filters: a name or a birth date typed into the URL
        # (?birth_name__startswith=…) would list patients by identity, and leave it in the
        # logs and the browser's history.
        declared = {str(self.date_hierarchy or "").split("__")[0]} - {""}
        for item in self.list_filter:
            if isinstance(item, str | tuple | list):  # a field, or (field, filter class)
                declared.add(str(item if isinstance(item, str) else item[0]).split("__")[0])
            else:  # a filter class: its own parameter
                declared.add(str(getattr(item, "parameter_name", "")))
        return lookup.split("__")[0] in declared and super().lookup_allowed(lookup, value, request)

    def _refused(self, request: HttpRequest, view: str, patient_id: int | None) -> None:
        record_access(
            request,
            action=f"admin.{self.model._meta.model_name}.{view}",
            patient_id=patient_id,
            outcome=AuditEvent.Outcome.DENIED,
        )

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            self._refused(request, "history", self.patient_of(obj))
        else:
            record_access(
                request,
                action=f"admin.{self.model._meta.model_name}.history",
                patient_id=self.patient_of(obj),
            )
        return super().history_view(request, object_id, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if not self.has_view_permission(request):
            self._refused(request, "list", None)  # (Django then answers 403)
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
        # Django refuses after this: no permission (403), or no such row (redirect).
        allowed = obj is not None and self.has_view_permission(request, obj)
        record_access(
            request,
            action=f"admin.{self.model._meta.model_name}.view",
            patient_id=self.patient_of(obj),
            details={"object_id": str(object_id)[:20]},
            outcome=AuditEvent.Outcome.OK if allowed else AuditEvent.Outcome.DENIED,
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
