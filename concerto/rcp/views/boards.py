"""Boards and sessions: "Mes RCP", the board page, consent log, session calendar."""

from __future__ import annotations

import datetime as dt
from itertools import groupby
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from concerto.accounts import policy
from concerto.audit.access import record_access
from concerto.lib import clock
from concerto.lib.errors import ActionRefused
from concerto.notifications.calendar import UnknownSubdivision, day_off
from concerto.notifications.queries import statuses_for
from concerto.rcp import actions, recurrence
from concerto.rcp.access import (
    managed_board,
    managed_session,
    member_board,
    member_session,
)
from concerto.rcp.forms import RecurringSessionForm, SessionForm, WebconferenceForm
from concerto.rcp.models import Board, NotificationConsent, Registration, Session
from concerto.rcp.views.outcome import act, refusal_text

MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]  # fmt: skip


def visible_boards(user: Any) -> QuerySet[Board]:
    if user.is_regional_admin or user.is_superuser:
        return Board.objects.all()
    return Board.objects.filter(
        Q(memberships__user=user) | Q(territory__in=user.admin_territories.all())
    ).distinct()


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Mes RCP: my boards with their next session; for registrars, my registrations."""
    user: Any = request.user
    today = timezone.localdate()
    boards = list(visible_boards(user).select_related("territory").order_by("title"))
    next_sessions: dict[int, Session] = {}
    for session in Session.objects.filter(
        board__in=boards, status=Session.Status.PLANNED, date__gte=today
    ).order_by("date", "time"):
        next_sessions.setdefault(session.board_id, session)
    rows = [
        {
            "board": board,
            "next": next_sessions.get(board.pk),
            "manage": policy.can_manage_board(user, board),
        }
        for board in boards
    ]
    mine = []
    if policy.can_register_patients(user):
        # A moved file is its new registration only (everything followed it there); a
        # file whose session was cancelled stays listed, to move, once that day has passed.
        mine = list(
            Registration.objects.filter(registered_by=user, moved_to__isnull=True)
            .filter(
                Q(session__date__gte=today)
                | Q(status=Registration.Status.ACTIVE, session__status=Session.Status.CANCELLED)
            )
            .select_related("session__board", "patient")
            .order_by("session__date", "session__time", "registered_at")
        )
        for registration in mine:
            record_access(
                request,
                action="registration.list",
                patient_id=registration.patient_id,
                obj=registration,
                role=policy.Role.REGISTRAR,
            )
    return render(
        request,
        "rcp/home.html",
        {
            "rows": rows,
            "my_registrations": [r for r in mine if r.is_active],
            # (apart: not to be presented, but their pré-fiche is still read there)
            "my_withdrawn": [r for r in mine if not r.is_active],
            "can_register": policy.can_register_patients(user),
            "can_stats": any(r["manage"] for r in rows),
            # (Only then: a GP's way back to their own page.)
            "is_gp": not rows and policy.Role.GP in policy.roles(user),
        },
    )


@login_required
@require_GET
def board_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _board_page(request, member_board(request, pk))


def _board_page(
    request: HttpRequest,
    board: Board,
    webconference_form: WebconferenceForm | None = None,
    consent_error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The board's page; ``webconference_form``: a refused link, shown again as typed;
    ``consent_error``: a withdrawal sent without its confirmation."""
    user: Any = request.user
    memberships = board.memberships.select_related("user").order_by("role", "user__last_name")
    consents = NotificationConsent.objects.filter(board=board).select_related("user", "recorded_by")
    is_member = board.memberships.filter(user=user).exists()
    my_consent = consents.filter(user=user).first() if is_member else None
    manage = policy.can_manage_board(user, board)
    return render(
        request,
        "rcp/board_detail.html",
        {
            "board": board,
            "memberships": memberships,
            "consents": consents,
            "is_member": is_member,
            "my_consent": my_consent,
            "manage": manage,
            "missing": actions.members_without_consent(board),
            "webconference_form": webconference_form
            or WebconferenceForm(
                initial={"url": board.webconference_url, "code": board.webconference_code}
            ),
            "upcoming": board.sessions.filter(
                date__gte=timezone.localdate(), status=Session.Status.PLANNED
            )[:5],
            "consent_error": consent_error,
        },
        status=status,
    )


@login_required
@require_POST
def board_webconference(request: HttpRequest, pk: int) -> HttpResponse:
    board = managed_board(request, pk)
    form = WebconferenceForm(request.POST)
    if form.is_valid():
        actions.update_webconference(
            by=request.user,
            board=board,
            url=form.cleaned_data["url"],
            code=form.cleaned_data["code"],
        )
        messages.success(request, "Webconférence enregistrée.")
        return redirect("rcp:board", pk=board.pk)
    # The page again with what was typed and the error at its field: a redirect showed
    # the saved link, as if the new one had been taken.
    return _board_page(request, board, webconference_form=form)


@login_required
@require_POST
def board_consent(request: HttpRequest, pk: int) -> HttpResponse:
    board = member_board(request, pk)
    agreed = request.POST.get("agreed") == "1"
    if not agreed and board.notifications_enabled and request.POST.get("confirm") != "1":
        # One member's withdrawal stops every GP's notice of the board: confirmed first.
        return _board_page(
            request,
            board,
            consent_error="Cochez la case pour confirmer : votre retrait désactive la "
            "notification pour toute la RCP.",
            status=400,
        )
    try:
        actions.record_notification_consent(
            by=request.user, board=board, user=request.user, agreed=agreed
        )
    except ActionRefused as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(
            request,
            "Votre accord est enregistré."
            if agreed
            else "Votre retrait est enregistré : la notification est désactivée.",
        )
    return redirect("rcp:board", pk=board.pk)


@login_required
@require_POST
def board_notifications(request: HttpRequest, pk: int) -> HttpResponse:
    board = managed_board(request, pk)
    try:
        if request.POST.get("enable") == "1":
            actions.enable_notifications(by=request.user, board=board)
            messages.success(request, "Notification du médecin traitant activée.")
        else:
            actions.disable_notifications(by=request.user, board=board)
            messages.success(request, "Notification du médecin traitant désactivée.")
    except ActionRefused as exc:
        messages.error(request, refusal_text(exc))
    return redirect("rcp:board", pk=board.pk)


def _calendar(board: Board) -> list[tuple[str, list[Session]]]:
    sessions = (
        board.sessions.annotate(
            active=Count("registrations", filter=Q(registrations__status="active"))
        )
        .order_by("date", "time")
        .filter(date__gte=timezone.localdate() - dt.timedelta(days=92))
    )
    return [
        (f"{MONTHS[month - 1]} {year}", list(items))
        for (year, month), items in groupby(sessions, key=lambda s: (s.date.year, s.date.month))
    ]


@login_required
@require_http_methods(["GET", "POST"])
def board_sessions(request: HttpRequest, pk: int) -> HttpResponse:
    """Calendar of a board's sessions; organisers create one-off or recurring sessions."""
    board = member_board(request, pk)
    manage = policy.can_manage_board(request.user, board)
    single = SessionForm(prefix="single", initial={"time": board.usual_time})
    recurring = RecurringSessionForm(
        prefix="rec",
        initial={"weekday": board.usual_weekday, "time": board.usual_time, "skip_holidays": True},
    )
    if request.method == "POST":
        if not manage:
            raise Http404("Introuvable")
        if request.POST.get("kind") == "recurring":
            recurring = RecurringSessionForm(request.POST, prefix="rec")
            if recurring.is_valid():
                data = recurring.cleaned_data
                plan = recurrence.weekly_dates(
                    start=data["start"],
                    end=data["end"],
                    weekday=data["weekday"],
                    every_weeks=data["every_weeks"],
                    skip_holidays=data["skip_holidays"],
                    subdivision=board.territory.holiday_subdivision,
                )
                try:
                    created, existing = actions.schedule_sessions(
                        by=request.user, board=board, dates=plan.dates, time=data["time"]
                    )
                except ActionRefused as exc:
                    recurring.add_error(None, refusal_text(exc))
                else:
                    made = {session.date for session in created}
                    kept = [day for day in plan.kept_holidays if day in made]
                    text = f"{len(created)} séance(s) créée(s)."
                    if kept:
                        text += f" Dont jours fériés (planifiés comme demandé) : {_days(kept)}."
                    if plan.skipped_holidays:
                        text += f" Jours fériés non planifiés : {_days(plan.skipped_holidays)}."
                    if existing:
                        text += f" Déjà prévues : {_days(existing)}."
                    messages.success(request, text)
                    return redirect("rcp:board-sessions", pk=board.pk)
        else:
            single = SessionForm(request.POST, prefix="single")
            if single.is_valid():
                try:
                    created, existing = actions.schedule_sessions(
                        by=request.user,
                        board=board,
                        dates=[single.cleaned_data["date"]],
                        time=single.cleaned_data["time"],
                    )
                except ActionRefused as exc:
                    single.add_error(None, refusal_text(exc))
                else:
                    if existing:
                        single.add_error(None, "Une séance est déjà prévue à cette date et heure.")
                    else:
                        new = created[0]
                        messages.success(
                            request, f"Séance du {new.date:%d/%m/%Y} à {new.time:%H:%M} créée."
                        )
                        _warn_day_off(request, new)
                        return redirect("rcp:board-sessions", pk=board.pk)
    return render(
        request,
        "rcp/board_sessions.html",
        {
            "board": board,
            "manage": manage,
            "calendar": _calendar(board),
            "single_form": single,
            "recurring_form": recurring,
        },
    )


@login_required
@require_GET
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The session's files: pre-fiche, documents, GP contribution, notification status."""
    return _session_page(request, member_session(request, pk))


def _session_page(
    request: HttpRequest, session: Session, move_form: SessionForm | None = None
) -> HttpResponse:
    """The session's page, each file shown traced; ``move_form``: a refused move, shown
    again as typed with its errors."""
    # The files are the board members'; an administrator who manages the board without
    # being a member sees the session and its management forms only (ADR 0007).
    members_only = policy.can_take_part(request.user, session.board)
    registrations = list(
        session.registrations.filter(status=Registration.Status.ACTIVE)
        .select_related("patient", "registered_by", "gp_contribution")
        .prefetch_related("documents", "compte_rendus")
        .order_by("registered_at", "pk")
        if members_only
        else []
    )
    # The files withdrawn or moved from the session: named, with where they went and
    # what their GP was told (a notice may have left before the withdrawal).
    withdrawn_files = list(
        session.registrations.filter(status=Registration.Status.WITHDRAWN)
        .select_related("patient", "moved_to__session")
        .order_by("withdrawn_at", "pk")
        if members_only
        else []
    )
    statuses = statuses_for([*registrations, *withdrawn_files])
    role = policy.role_of(request.user, session.board)
    for registration in [*registrations, *withdrawn_files]:
        record_access(
            request,
            action="session.view_registration",
            patient_id=registration.patient_id,
            obj=registration,
            role=role,
            details=None if registration.is_active else {"withdrawn": True},
        )
    items = []
    for registration in registrations:
        contribution = getattr(registration, "gp_contribution", None)
        crs = list(registration.compte_rendus.all())
        items.append(
            {
                "registration": registration,
                "status": statuses.get(registration.pk),
                "contribution": contribution,
                "latest_cr": crs[-1] if crs else None,
            }
        )
    withdrawn = session.registrations.filter(status=Registration.Status.WITHDRAWN).count()
    active = session.registrations.filter(status=Registration.Status.ACTIVE).count()
    return render(
        request,
        "rcp/session_detail.html",
        {
            "session": session,
            "items": items,
            "files_shown": members_only,
            "can_decide": policy.can_decide(request.user, session.board),
            "withdrawn": withdrawn,
            "withdrawn_files": [
                (registration, statuses.get(registration.pk)) for registration in withdrawn_files
            ],
            "active": active,
            "manage": policy.can_manage_board(request.user, session.board),
            "is_future": session.starts_at > clock.now(),
            "move_form": move_form
            or SessionForm(prefix="move", initial={"date": session.date, "time": session.time}),
        },
    )


@login_required
@require_POST
def session_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    session = managed_session(request, pk, action="session.cancel")
    if not request.POST.get("confirm"):  # (one click must not cancel a meeting)
        messages.error(request, "Cochez la confirmation pour annuler la séance.")
    else:
        files = session.registrations.filter(status=Registration.Status.ACTIVE).exists()
        act(
            request,
            lambda: actions.cancel_session(by=request.user, session=session),
            "Séance annulée."
            + (" Ses dossiers inscrits sont à déplacer vers une autre séance." if files else ""),
        )
    return redirect("rcp:session", pk=session.pk)


@login_required
@require_POST
def session_move(request: HttpRequest, pk: int) -> HttpResponse:
    session = managed_session(request, pk, action="session.move")
    form = SessionForm(request.POST, prefix="move")
    if not form.is_valid():  # the page again, the date typed and its error at the field
        return _session_page(request, session, move_form=form)
    try:
        session = actions.move_session(
            by=request.user,
            session=session,
            date=form.cleaned_data["date"],
            time=form.cleaned_data["time"],
        )
    except ActionRefused as exc:
        messages.error(request, refusal_text(exc))
    except IntegrityError:  # the unique (board, date, time) constraint
        messages.error(request, "Une séance de cette RCP est déjà prévue à cette date et heure.")
    else:
        messages.success(
            request,
            "Séance déplacée. Les notifications non encore envoyées suivent la nouvelle date ; "
            "celles déjà envoyées ne sont pas renvoyées.",
        )
        _warn_day_off(request, session)
    return redirect("rcp:session", pk=session.pk)


def _days(days: Any) -> str:
    return ", ".join(f"{day:%d/%m/%Y}" for day in days)


def _warn_day_off(request: HttpRequest, session: Session) -> None:
    """A session set on a public holiday or a weekend is kept (some boards meet on a
    Saturday), but a typing slip is likelier: the organiser is told."""
    try:
        reason = day_off(session.date, session.board.territory.holiday_subdivision)
    except UnknownSubdivision:  # (the session is saved: no warning rather than an error)
        return
    if reason:
        messages.warning(
            request,
            f"Attention : le {session.date:%d/%m/%Y} est {reason}. Si c'est une erreur, "
            "déplacez la séance depuis sa page.",
        )


@login_required
@require_POST
def session_held(request: HttpRequest, pk: int) -> HttpResponse:
    session = managed_session(request, pk, action="session.held")
    act(
        request,
        lambda: actions.mark_session_held(by=request.user, session=session),
        "Séance marquée comme tenue.",
    )
    return redirect("rcp:session", pk=session.pk)
