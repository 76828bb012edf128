"""Object lookups for the RCP pages, through the policy (refusal = 404, traced)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

from concerto.accounts import policy
from concerto.audit.access import record_access
from concerto.audit.models import AuditEvent
from concerto.rcp.models import Board, Registration, Session


def deny(
    request: HttpRequest, *, action: str, patient_id: int | None = None, obj: Any = None
) -> Http404:
    """Trace a refused attempt and return the 404 to raise."""
    if request.user.is_authenticated:
        record_access(
            request,
            action=action,
            patient_id=patient_id,
            obj=obj,
            outcome=AuditEvent.Outcome.DENIED,
        )
    return Http404("Introuvable")


def managed_board(request: HttpRequest, pk: int) -> Board:
    board = Board.objects.select_related("territory").filter(pk=pk).first()
    if board is None or not policy.can_manage_board(request.user, board):
        raise Http404("Introuvable")
    return board


def member_board(request: HttpRequest, pk: int) -> Board:
    """A board's own pages (members, calendar, settings: no patient data): its members
    and those who manage it."""
    board = Board.objects.select_related("territory").filter(pk=pk).first()
    if board is None or not policy.can_open_board(request.user, board):
        raise Http404("Introuvable")
    return board


def member_session(request: HttpRequest, pk: int, *, action: str = "session.view") -> Session:
    """A session of a board the user is a member of or manages (its page lists the
    files to members only); a refusal is traced."""
    session = Session.objects.select_related("board__territory").filter(pk=pk).first()
    if session is None or not policy.can_open_board(request.user, session.board):
        raise deny(request, action=action, obj=session)
    return session


def managed_session(request: HttpRequest, pk: int, *, action: str) -> Session:
    """A session to cancel, move or mark held (no patient data shown): its organisers
    and its territory's administrators."""
    session = Session.objects.select_related("board__territory").filter(pk=pk).first()
    if session is None or not policy.can_manage_board(request.user, session.board):
        raise deny(request, action=action, obj=session)
    return session


def _patient_of(pk: int) -> int | None:
    return Registration.objects.filter(pk=pk).values_list("patient_id", flat=True).first()


def clinical_registration(request: HttpRequest, pk: int, *, action: str) -> Registration:
    """A registration for the clinicians' pages: visible to the user (policy) and the
    user registered it or takes part in its board. GPs use the portal instead."""
    registration = (
        policy.visible_registrations(request.user)
        .select_related("session__board__territory", "patient", "registered_by")
        .filter(pk=pk)
        .first()
    )
    if registration is None or not (
        registration.registered_by_id == request.user.pk
        or policy.can_take_part(request.user, registration.session.board)
    ):
        raise deny(request, action=action, patient_id=_patient_of(pk))
    return registration


def deciding_registration(request: HttpRequest, pk: int, *, action: str) -> Registration:
    """The board's participants only (decision, compte-rendu, PPS)."""
    registration = clinical_registration(request, pk, action=action)
    if not policy.can_decide(request.user, registration.session.board):
        raise deny(request, action=action, patient_id=registration.patient_id)
    return registration
