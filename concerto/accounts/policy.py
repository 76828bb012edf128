"""Who may see and do what (SPEC §1): the one place permissions are decided.

Every view asks these functions; none decides on its own. Object-level: a GP sees a
patient only while declared as that patient's GP; board members see the patients
registered to their board's sessions; a médecin inscripteur sees the patients they
registered. Administrators (of a territory, or regional) manage boards, sessions,
members and territories, and read statistics, but see no patient file through these
rules (SPEC §1 gives them no clinical role; docs/decisions/0007). A refusal is a 404 in
the views, never a 403 that would reveal existence.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from concerto.patients.models import IDENTITY_FIELDS, Patient
from concerto.rcp.models import Board, BoardMembership, Registration, Territory


class Role:
    GP = "medecin_traitant"
    REGISTRAR = "medecin_inscripteur"
    ORGANISER = "organisateur"
    PARTICIPANT = "participant"
    ADMIN = "administrateur"


def _authenticated(user: Any) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def roles(user: Any) -> set[str]:
    """Every role the user holds somewhere (for menus and the access trail)."""
    if not _authenticated(user):
        return set()
    found: set[str] = set()
    if user.rpps and Patient.objects.filter(gp_rpps=user.rpps).exists():
        found.add(Role.GP)
    if user.is_registrar:
        found.add(Role.REGISTRAR)
    for role in BoardMembership.objects.filter(user=user).values_list("role", flat=True):
        found.add(Role.ORGANISER if role == BoardMembership.Role.ORGANISER else Role.PARTICIPANT)
    if user.is_regional_admin or user.is_superuser or user.admin_territories.exists():
        found.add(Role.ADMIN)
    return found


def is_gp_of(user: Any, patient: Patient) -> bool:
    return _authenticated(user) and bool(user.rpps) and patient.gp_rpps == user.rpps


def _visibility(user: Any, *, to_registration: str, to_patient: str) -> Q:
    """The one visibility rule, written once for both querysets: board members see their
    boards' registrations, the declared GP their patients, a registrar what they
    registered. ``to_registration`` and
    ``to_patient`` are the lookup prefixes from the queried model."""
    r, p = to_registration, to_patient
    condition = Q(**{f"{r}session__board__memberships__user": user})
    if user.rpps:
        condition |= Q(**{f"{p}gp_rpps": user.rpps})
    if user.is_registrar:
        condition |= Q(**{f"{r}registered_by": user})
    return condition


def visible_patients(user: Any) -> QuerySet[Patient]:
    """The patients ``user`` may see, as one query (use it to scope every lookup)."""
    if not _authenticated(user):
        return Patient.objects.none()
    condition = _visibility(user, to_registration="registrations__", to_patient="")
    return Patient.objects.filter(condition).distinct()


def can_view_patient(user: Any, patient: Patient) -> bool:
    return visible_patients(user).filter(pk=patient.pk).exists()


def visible_registrations(user: Any) -> QuerySet[Registration]:
    if not _authenticated(user):
        return Registration.objects.none()
    condition = _visibility(user, to_registration="", to_patient="patient__")
    return Registration.objects.filter(condition).distinct()


def can_manage_board(user: Any, board: Board) -> bool:
    """Secretaries/organisers of the board, and administrators of its territory."""
    if not _authenticated(user):
        return False
    if user.is_regional_admin or user.is_superuser:
        return True
    if user.admin_territories.filter(pk=board.territory_id).exists():
        return True
    return board.memberships.filter(user=user, role=BoardMembership.Role.ORGANISER).exists()


def managed_boards(user: Any) -> QuerySet[Board]:
    """The boards ``user`` organises or administers (same rule as can_manage_board)."""
    if not _authenticated(user):
        return Board.objects.none()
    if user.is_regional_admin or user.is_superuser:
        return Board.objects.all()
    return Board.objects.filter(
        Q(memberships__user=user, memberships__role=BoardMembership.Role.ORGANISER)
        | Q(territory__in=user.admin_territories.all())
    ).distinct()


def can_take_part(user: Any, board: Board) -> bool:
    """Members of the board, participants and organisers: its session files. Not its
    territory's administrators, who manage the board without reading its files."""
    if not _authenticated(user):
        return False
    return board.memberships.filter(user=user).exists()


def can_open_board(user: Any, board: Board) -> bool:
    """A board's own pages and its sessions' (files shown to members only): its members
    and those who manage it."""
    return can_take_part(user, board) or can_manage_board(user, board)


def is_regional_admin(user: Any) -> bool:
    return _authenticated(user) and bool(user.is_superuser or user.is_regional_admin)


def administered_territories(user: Any) -> QuerySet[Territory]:
    """The territories ``user`` administers (a regional administrator: all of them)."""
    if is_regional_admin(user):
        return Territory.objects.all()
    if not _authenticated(user):
        return Territory.objects.none()
    return user.admin_territories.all()  # type: ignore[no-any-return]


def board_territories(user: Any) -> QuerySet[Territory]:
    """Where ``user`` may create a board: the territories they administer, and those of
    the boards they organise."""
    if is_regional_admin(user):
        return Territory.objects.all()
    return Territory.objects.filter(
        Q(pk__in=administered_territories(user).values("pk"))
        | Q(pk__in=managed_boards(user).values("territory_id"))
    )


def can_decide(user: Any, board: Board) -> bool:
    """Record and validate decisions, compte-rendus and PPS: the board's participants
    only (SPEC §1) — not its secretaries, not territory administrators."""
    if not _authenticated(user):
        return False
    return board.memberships.filter(user=user, role=BoardMembership.Role.PARTICIPANT).exists()


def can_register_patients(user: Any) -> bool:
    return _authenticated(user) and bool(user.is_registrar)


def role_of(user: Any, board: Board) -> str:
    """The role in which ``user`` acts on ``board``'s files, for the access trail: their
    membership first, then administrator (of its territory or the region), then
    registrar."""
    membership = board.memberships.filter(user=user).values_list("role", flat=True).first()
    if membership == BoardMembership.Role.ORGANISER:
        return Role.ORGANISER
    if membership is not None:
        return Role.PARTICIPANT
    if can_manage_board(user, board):  # (not a member: an administrator)
        return Role.ADMIN
    return Role.REGISTRAR if getattr(user, "is_registrar", False) else ""


def can_search_audit(user: Any) -> bool:
    """The access trail covers every territory: regional administrators only."""
    return _authenticated(user) and bool(user.is_regional_admin or user.is_superuser)


# The GP portal's scope: the patients whose declared GP the user is now, and their news
# lines. ``NewsItem.gp_rpps`` is the patient's ``gp_rpps``, kept so by the database
# (triggers of migration rcp 0002), so the feed reads one index, with no join. Both reads
# are SQL rather than querysets: the dashboard is the portal's busiest page, and
# compiling them through the ORM cost more than running them (1.5 ms of 2 ms per page).
_GP_PATIENT_ROWS = (
    f"SELECT id, {', '.join(IDENTITY_FIELDS)} FROM patients_patient "  # noqa: S608 — names
    "WHERE gp_rpps = %s ORDER BY birth_name, first_names, id"
)
_NEWS_FEED_ORDER = "ORDER BY date DESC, created_at DESC, id DESC"


def gp_patient_rows(user: Any) -> list[tuple[Any, ...]]:
    """The patients whose declared GP ``user`` is now (the GP portal's whole scope), as
    ``(pk, *IDENTITY_FIELDS)`` rows sorted by name."""
    if not _authenticated(user) or not user.rpps:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_GP_PATIENT_ROWS, [user.rpps])
        return cursor.fetchall()


def gp_news_rows(
    user: Any, *, patient_id: int | None, offset: int, limit: int
) -> tuple[list[tuple[Any, ...]], int]:
    """A slice of the news lines of the patients whose declared GP ``user`` is now (of one
    of them when ``patient_id`` is given), newest first, as ``(date, text, kind,
    patient_id, registration_id, pps_id)`` rows, and the total number of lines. Read in
    order from the feed's index: no sort of every line."""
    if not _authenticated(user) or not user.rpps:
        return [], 0
    condition, params = "gp_rpps = %s", [user.rpps]
    if patient_id is not None:
        condition, params = f"{condition} AND patient_id = %s", [*params, patient_id]
    count = f"SELECT COUNT(*) FROM rcp_newsitem WHERE {condition}"  # noqa: S608 — no value
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date, text, kind, patient_id, registration_id, pps_id, "  # noqa: S608
            f"({count}) FROM rcp_newsitem WHERE {condition} {_NEWS_FEED_ORDER} "
            "LIMIT %s OFFSET %s",
            [*params, *params, limit, offset],
        )
        rows = cursor.fetchall()
        if not rows:  # no line at all, or a page past the end (then the total alone)
            if not offset:
                return [], 0
            cursor.execute(count, params)
            return [], int(cursor.fetchone()[0])
    return [row[:-1] for row in rows], int(rows[0][-1])
