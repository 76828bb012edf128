"""RCP actions (STYLE §2): every change to boards, sessions, registrations, decisions.

Each function takes keyword-only arguments and the acting user as ``by``, runs in one
transaction and writes its audit event inside it: a refused or failing action leaves
neither the change nor the event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from concerto.accounts import policy
from concerto.audit import trail
from concerto.lib import clock
from concerto.lib.errors import ActionRefused
from concerto.patients.models import Patient
from concerto.rcp import rules, uploads
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

PREFICHE_FIELDS = (
    "reason",
    "cim10_code",
    "cim10_label",
    "histology",
    "tnm",
    "oms_status",
    "history",
    "question",
)


def _local_date(instant: dt.datetime) -> dt.date:
    return timezone.localtime(instant).date()


def _line_text(session: Session, *, decided: bool = False) -> str:
    """The text of the GPs' line about a presentation at ``session``, by its state: "A
    venir : présentation en …", "Présenté en …" once held or once the file's compte-rendu
    is validated (``decided``: the session may not be marked held), "Séance annulée : …"."""
    if session.status == Session.Status.HELD or decided:
        return rules.presented_text(session.board.title, session.date)
    if session.status == Session.Status.CANCELLED:
        return rules.cancelled_text(session.board.title, session.date)
    return rules.upcoming_text(session.board.title, session.date)


def _trace(*, by: Any, board: Board, **event: Any) -> None:
    """Write the action's audit event, with the role in which ``by`` acts on ``board``
    (``policy.role_of``) unless the caller gives it."""
    role = event.pop("role", "") or (policy.role_of(by, board) if by is not None else "")
    trail.record(by=by, role=role, **event)


# --- Boards ---------------------------------------------------------------------------


@transaction.atomic
def create_board(
    *,
    by: Any,
    territory: Territory,
    title: str,
    specialty: str,
    establishment: Any = None,
    usual_weekday: int | None = None,
    usual_time: dt.time | None = None,
    webconference_url: str = "",
    webconference_code: str = "",
    requires_core_specialties: bool = False,
) -> Board:
    board = Board(
        territory=territory,
        title=title,
        specialty=specialty,
        establishment=establishment,
        usual_weekday=usual_weekday,
        usual_time=usual_time,
        webconference_url=webconference_url,
        webconference_code=webconference_code,
        requires_core_specialties=requires_core_specialties,
    )
    board.full_clean()
    board.save()
    _trace(board=board, by=by, action="board.create", obj=board)
    return board


@transaction.atomic
def update_webconference(*, by: Any, board: Board, url: str, code: str) -> Board:
    board.webconference_url = url
    board.webconference_code = code
    board.full_clean()
    board.save(update_fields=["webconference_url", "webconference_code"])
    _trace(board=board, by=by, action="board.webconference", obj=board)
    return board


@transaction.atomic
def add_member(
    *, by: Any, board: Board, user: Any, role: str, specialty: str = ""
) -> BoardMembership:
    membership, created = BoardMembership.objects.get_or_create(
        board=board, user=user, role=role, defaults={"specialty": specialty}
    )
    if not created and membership.specialty != specialty:
        membership.specialty = specialty
        membership.save(update_fields=["specialty"])
    _trace(
        board=board,
        by=by,
        action="board.add_member",
        obj=board,
        details={"user_id": user.pk, "role": role},
    )
    return membership


def remove_member(*, by: Any, membership: BoardMembership) -> None:
    """End a membership (the member no longer sees the board's patients); traced."""
    BoardMembership.objects.filter(pk=membership.pk).delete()
    _trace(
        board=membership.board,
        by=by,
        action="board.remove_member",
        obj=membership.board,
        details={"user_id": membership.user_id, "role": membership.role},
    )


def _members_without_consent(board: Board) -> list[Any]:
    latest: dict[int, bool] = {}
    for consent in board.consents.order_by("at", "id"):
        latest[consent.user_id] = consent.agreed
    missing = []
    seen: set[int] = set()
    for membership in board.memberships.select_related("user").order_by("user__last_name"):
        if membership.user_id in seen:
            continue
        seen.add(membership.user_id)
        if not latest.get(membership.user_id, False):
            missing.append(membership.user)
    return missing


def members_without_consent(board: Board) -> list[Any]:
    """Organisers and participants whose latest consent is not an agreement."""
    return _members_without_consent(board)


@transaction.atomic
def record_notification_consent(
    *, by: Any, board: Board, user: Any, agreed: bool
) -> NotificationConsent:
    """A member agrees to (or withdraws from) the GP notification scheme.

    A withdrawal switches the board's opt-in off: it needs everyone's agreement.
    """
    board = Board.objects.select_for_update().get(pk=board.pk)
    if not board.memberships.filter(user=user).exists():
        raise ActionRefused(
            "Seuls les organisateurs et participants de la RCP donnent leur accord."
        )
    latest = (
        NotificationConsent.objects.filter(board=board, user=user).order_by("-at", "-pk").first()
    )
    if agreed and latest is not None and latest.agreed:
        return latest  # (an agreement given again: one line; a withdrawal always counts)
    consent = NotificationConsent.objects.create(
        board=board, user=user, agreed=agreed, at=clock.now(), recorded_by=by
    )
    _trace(
        board=board,
        by=by,
        action="board.notification_consent",
        obj=board,
        details={"user_id": user.pk, "agreed": agreed},
    )
    if not agreed and board.notifications_enabled:
        board.notifications_enabled = False
        board.notifications_enabled_at = None
        board.save(update_fields=["notifications_enabled", "notifications_enabled_at"])
        _trace(
            board=board,
            by=by,
            action="board.notifications_disabled",
            obj=board,
            details={"reason": "consent_withdrawn", "user_id": user.pk},
        )
    return consent


@transaction.atomic
def enable_notifications(*, by: Any, board: Board) -> Board:
    """Switch the notification opt-in on, once every organiser and participant agreed."""
    board = Board.objects.select_for_update().get(pk=board.pk)
    if not board.memberships.exists():
        raise ActionRefused("La RCP n'a encore ni organisateur ni participant.")
    missing = _members_without_consent(board)
    if missing:
        names = ", ".join(getattr(u, "display_name", str(u)) for u in missing)
        raise ActionRefused(f"Accord manquant pour : {names}.")
    if not board.notifications_enabled:
        board.notifications_enabled = True
        board.notifications_enabled_at = clock.now()
        board.save(update_fields=["notifications_enabled", "notifications_enabled_at"])
        _trace(board=board, by=by, action="board.notifications_enabled", obj=board)
    return board


@transaction.atomic
def disable_notifications(*, by: Any, board: Board) -> Board:
    board = Board.objects.select_for_update().get(pk=board.pk)
    if board.notifications_enabled:
        board.notifications_enabled = False
        board.notifications_enabled_at = None
        board.save(update_fields=["notifications_enabled", "notifications_enabled_at"])
        _trace(board=board, by=by, action="board.notifications_disabled", obj=board)
    return board


# --- Sessions -------------------------------------------------------------------------


@transaction.atomic
def schedule_session(*, by: Any, board: Board, date: dt.date, time: dt.time) -> Session:
    session = Session(board=board, date=date, time=time)
    session.starts_at = Session.local_start(date, time)
    session.full_clean(exclude=["starts_at"])
    session.save()
    _trace(board=board, by=by, action="session.schedule", obj=session)
    return session


@transaction.atomic
def schedule_sessions(
    *, by: Any, board: Board, dates: Iterable[dt.date], time: dt.time
) -> tuple[list[Session], list[dt.date]]:
    """Schedule several sessions at once (a recurrence), all or nothing.

    Returns the sessions created and the dates left out because the board already
    meets then. A date in the past is refused.
    """
    created: list[Session] = []
    existing: list[dt.date] = []
    now = clock.now()
    # One scheduling of the board's sessions at a time: a second click on "Créer" waits,
    # then finds the sessions the first one made (it used to meet the unique constraint).
    Board.objects.select_for_update().filter(pk=board.pk).first()
    for date in sorted(set(dates)):
        if Session.local_start(date, time) <= now:
            raise ActionRefused(f"La date du {date:%d/%m/%Y} est passée.")
        if Session.objects.filter(board=board, date=date, time=time).exists():
            existing.append(date)
            continue
        created.append(schedule_session(by=by, board=board, date=date, time=time))
    return created, existing


def _has_validated_decisions(session: Session) -> bool:
    return CompteRendu.objects.filter(
        registration__session=session, validated_at__isnull=False
    ).exists()


@transaction.atomic
def cancel_session(*, by: Any, session: Session) -> Session:
    session = Session.objects.select_for_update().select_related("board").get(pk=session.pk)
    if session.status == Session.Status.CANCELLED:
        return session
    if session.status == Session.Status.HELD:
        raise ActionRefused("Une séance déjà tenue ne peut pas être annulée.")
    if _has_validated_decisions(session):
        raise ActionRefused(
            "Des décisions de cette séance sont validées : elle a eu lieu et ne peut pas "
            "être annulée."
        )
    session.status = Session.Status.CANCELLED
    session.cancelled_at = clock.now()
    session.save(update_fields=["status", "cancelled_at"])
    # The GPs' "A venir" lines say the meeting is cancelled (they used to vanish, the GP
    # left to wonder); a file moved to another session gets its own line there.
    NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration__session=session).update(
        text=_line_text(session)
    )
    _trace(board=session.board, by=by, action="session.cancel", obj=session)
    return session


@transaction.atomic
def move_session(*, by: Any, session: Session, date: dt.date, time: dt.time) -> Session:
    """Move a planned session. Pending notifications follow the new date (the notify
    worker recomputes the notification day from the session); sent ones are not resent.
    The board is locked too, as by a registration: a rename of the board waits, then
    rewrites the lines with the new date (it used to put the old one back)."""
    session = Session.objects.select_for_update().select_related("board").get(pk=session.pk)
    if session.status != Session.Status.PLANNED:
        raise ActionRefused("Seule une séance prévue peut être déplacée.")
    if session.starts_at <= clock.now():
        # (Decisions are validated from the start on: a started session is never moved.)
        raise ActionRefused("La séance a commencé : elle ne peut plus être déplacée.")
    if Session.local_start(date, time) <= clock.now():
        raise ActionRefused("La nouvelle date doit être dans le futur.")
    previous = (session.date.isoformat(), session.time.isoformat())
    session.date, session.time = date, time
    session.save(update_fields=["date", "time", "starts_at"])
    for item in NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration__session=session):
        item.date = date
        item.text = _line_text(session)
        item.save(update_fields=["date", "text"])
    _trace(
        board=session.board,
        by=by,
        action="session.move",
        obj=session,
        details={"from": previous, "to": (date.isoformat(), time.isoformat())},
    )
    return session


@transaction.atomic
def mark_session_held(*, by: Any, session: Session) -> Session:
    session = Session.objects.select_for_update().select_related("board").get(pk=session.pk)
    if session.status == Session.Status.HELD:
        return session
    if session.status == Session.Status.CANCELLED:
        raise ActionRefused("Une séance annulée ne peut pas être tenue.")
    if session.starts_at > clock.now():
        raise ActionRefused(
            "La séance n'a pas encore commencé : elle se marque « tenue » à partir de son début."
        )
    session.status = Session.Status.HELD
    session.save(update_fields=["status"])
    # The GP's "A venir" line becomes a past presentation (the line itself stays).
    NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration__session=session).update(
        text=_line_text(session)
    )
    _trace(board=session.board, by=by, action="session.held", obj=session)
    return session


# --- Registrations and pre-fiche --------------------------------------------------------


def _check_open_for_registration(session: Session) -> None:
    if session.status == Session.Status.CANCELLED:
        raise ActionRefused("Cette séance est annulée : aucune inscription n'est possible.")
    if session.status == Session.Status.HELD or session.starts_at <= clock.now():
        raise ActionRefused("Cette séance a déjà eu lieu : aucune inscription n'est possible.")


def _upsert_upcoming_news(registration: Registration) -> None:
    session = registration.session
    NewsItem.objects.update_or_create(
        kind=NewsItem.Kind.UPCOMING,
        registration=registration,
        defaults={
            "patient": registration.patient,
            "date": session.date,
            "text": _line_text(session),
            "created_at": clock.now(),
        },
    )


def refresh_upcoming_news(board: Board) -> int:
    """The GPs' "A venir : présentation en {board} …" lines name the board: rewritten
    after a rename, keeping their place in the feed. Returns how many changed."""
    changed = 0
    items = list(
        NewsItem.objects.filter(
            kind=NewsItem.Kind.UPCOMING, registration__session__board=board
        ).select_related("registration__session")
    )
    decided = set(
        CompteRendu.objects.filter(
            registration_id__in=[item.registration_id for item in items],
            validated_at__isnull=False,
        ).values_list("registration_id", flat=True)
    )
    for item in items:
        if item.registration is None:  # (an upcoming line always has its registration)
            continue
        session = item.registration.session
        session.board = board  # (the new title; held and cancelled lines stay so)
        text = _line_text(session, decided=item.registration_id in decided)
        if item.text != text:
            item.text = text
            item.save(update_fields=["text"])
            changed += 1
    return changed


@transaction.atomic
def register_patient(
    *, by: Any, session: Session, patient: Patient, **prefiche: Any
) -> Registration:
    """Inscription of a patient to a session, with the first pre-fiche fields."""
    unknown = set(prefiche) - set(PREFICHE_FIELDS)
    if unknown:
        raise TypeError(f"Champs inconnus : {sorted(unknown)}")
    session = Session.objects.select_for_update().select_related("board").get(pk=session.pk)
    _check_open_for_registration(session)
    if Registration.objects.filter(
        session=session, patient=patient, status=Registration.Status.ACTIVE
    ).exists():
        raise ActionRefused("Ce patient est déjà inscrit à cette séance.")
    registration = Registration(
        session=session, patient=patient, registered_by=by, registered_at=clock.now(), **prefiche
    )
    registration.full_clean(exclude=["session", "patient", "registered_by"])
    registration.save()
    _upsert_upcoming_news(registration)
    _trace(
        board=registration.session.board,
        by=by,
        action="registration.create",
        obj=registration,
        patient_id=patient.pk,
    )
    return registration


def _check_editable(registration: Registration) -> None:
    if registration.compte_rendus.filter(validated_at__isnull=False).exists():
        raise ActionRefused("Le compte-rendu est validé : la pré-fiche ne peut plus changer.")
    if not registration.is_active:
        raise ActionRefused("Cette inscription a été retirée.")


def _prefiche_label(name: str) -> str:
    return str(getattr(Registration._meta.get_field(name), "verbose_name", name))


@transaction.atomic
def update_prefiche(
    *, by: Any, registration: Registration, seen: dict[str, Any] | None = None, **fields: Any
) -> Registration:
    """Write ``fields``. ``seen``: the values the user saw of the fields they changed; if
    someone saved another value of one of them meanwhile, nothing is written (the
    refusal names the fields) rather than silently replacing it."""
    unknown = set(fields) - set(PREFICHE_FIELDS)
    if unknown:
        raise TypeError(f"Champs inconnus : {sorted(unknown)}")
    registration = Registration.objects.select_for_update().get(pk=registration.pk)
    _check_editable(registration)
    if seen is not None:
        # A field someone else saved since (not the very value this user saves now: a
        # double click on "Enregistrer" is no clash).
        clashes = [
            name
            for name, value in fields.items()
            if name in seen
            and not rules.same_value(getattr(registration, name), seen[name])
            and not rules.same_value(getattr(registration, name), value)
        ]
        if clashes:
            labels = [_prefiche_label(name) for name in clashes]
            raise PreficheChanged(
                "La pré-fiche a été modifiée entre-temps par quelqu'un d'autre ("
                + ", ".join(labels)
                + ") : rien n'a été enregistré. Vos saisies sont conservées ; ce qui a été "
                "enregistré entre-temps est rappelé sous chaque champ concerné. "
                "Enregistrez à nouveau pour le remplacer.",
                fields=clashes,
            )
    for name, value in fields.items():
        setattr(registration, name, value)
    if registration.prefiche_completed_at is not None:
        # A complete pre-fiche stays complete (the GP may have been notified about it).
        missing = registration.missing_prefiche_fields()
        if missing:
            labels = [_prefiche_label(name) for name in missing]
            raise ActionRefused(
                "La pré-fiche est marquée complète : ces champs restent obligatoires : "
                + ", ".join(labels)
                + "."
            )
    registration.full_clean(exclude=["session", "patient", "registered_by"])
    registration.save(update_fields=list(fields))
    _trace(
        board=registration.session.board,
        by=by,
        action="registration.update_prefiche",
        obj=registration,
        patient_id=registration.patient_id,
        details={"fields": sorted(fields)},
    )
    return registration


class PreficheChanged(ActionRefused):
    """Another user saved a field this user changed, since their page was shown."""

    def __init__(self, message: str, *, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


@transaction.atomic
def complete_prefiche(*, by: Any, registration: Registration) -> Registration:
    """Mark the pre-fiche complete. The first completion instant is kept: it decides
    whether the GP is notified (SPEC §4, condition 1)."""
    registration = Registration.objects.select_for_update().get(pk=registration.pk)
    _check_editable(registration)
    missing = registration.missing_prefiche_fields()
    if missing:
        labels = [_prefiche_label(name) for name in missing]
        raise ActionRefused("Pré-fiche incomplète : " + ", ".join(labels) + ".")
    if registration.prefiche_completed_at is None:
        registration.prefiche_completed_at = clock.now()
        registration.save(update_fields=["prefiche_completed_at"])
        _trace(
            board=registration.session.board,
            by=by,
            action="registration.complete_prefiche",
            obj=registration,
            patient_id=registration.patient_id,
        )
    return registration


@transaction.atomic
def withdraw_registration(*, by: Any, registration: Registration) -> Registration:
    registration = Registration.objects.select_for_update().get(pk=registration.pk)
    if not registration.is_active:
        return registration
    if registration.compte_rendus.filter(validated_at__isnull=False).exists():
        raise ActionRefused("Le compte-rendu est validé : l'inscription ne peut plus être retirée.")
    registration.status = Registration.Status.WITHDRAWN
    registration.withdrawn_at = clock.now()
    registration.save(update_fields=["status", "withdrawn_at"])
    NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration=registration).delete()
    _trace(
        board=registration.session.board,
        by=by,
        action="registration.withdraw",
        obj=registration,
        patient_id=registration.patient_id,
    )
    return registration


@transaction.atomic
def move_registration(*, by: Any, registration: Registration, session: Session) -> Registration:
    """Present the patient at another session: the old registration is withdrawn and a
    new one, carrying the pre-fiche, is created (notifications are per registration)."""
    old = Registration.objects.select_for_update().get(pk=registration.pk)
    _check_editable(old)
    if session.board_id != old.session.board_id:
        raise ActionRefused("Le déplacement se fait vers une séance de la même RCP.")
    withdraw_registration(by=by, registration=old)
    fields = {name: getattr(old, name) for name in PREFICHE_FIELDS}
    new = register_patient(by=by, session=session, patient=old.patient, **fields)
    # The file stays the registrar's (their pages, "Inscrit par"), whoever moved it.
    new.registered_by_id = old.registered_by_id
    new.prefiche_completed_at = old.prefiche_completed_at
    new.save(update_fields=["registered_by", "prefiche_completed_at"])
    for document in old.documents.all():
        document.registration = new
        document.save(update_fields=["registration"])
    # The GP's comment and wish to join follow the file (the new session's participants
    # read them there; the compte-rendu quotes them).
    contribution_moved = GPContribution.objects.filter(registration=old).update(registration=new)
    old.moved_to = new
    old.save(update_fields=["moved_to"])
    _trace(
        board=new.session.board,
        by=by,
        action="registration.move",
        obj=new,
        patient_id=new.patient_id,
        details={"from_registration": old.pk, "contribution_moved": bool(contribution_moved)},
    )
    return new


def represent_registration(
    *, by: Any, registration: Registration, session: Session
) -> Registration:
    """Present a file again, at a later session of the same board, once its decision is
    validated (typically "à représenter"): a new registration starts from a copy of the
    pré-fiche and of the documents, to be reviewed and marked complete (the GP's notice
    of the new session depends on it). The decided file stays as it is, with its
    compte-rendu; the GP's contribution was for that meeting and stays there."""
    old = Registration.objects.select_related("session").get(pk=registration.pk)
    if not old.is_active:
        raise ActionRefused("Cette inscription a été retirée.")
    latest = old.compte_rendus.filter(validated_at__isnull=False).order_by("-version").first()
    if latest is None:
        raise ActionRefused(
            "Le dossier n'a pas encore de décision validée : déplacez-le plutôt vers une "
            "autre séance."
        )
    if session.board_id != old.session.board_id:
        raise ActionRefused("La nouvelle présentation se fait à une séance de la même RCP.")
    already = (
        Registration.objects.filter(
            patient=old.patient,
            session__board_id=old.session.board_id,
            session__starts_at__gt=old.session.starts_at,
            status=Registration.Status.ACTIVE,
        )
        .select_related("session")
        .order_by("session__starts_at")
        .first()
    )
    if already is not None:
        raise ActionRefused(
            "Ce patient est déjà inscrit à une séance suivante de cette RCP, le "
            f"{already.session.date:%d/%m/%Y} : complétez cette inscription."
        )
    stored: list[str] = []
    try:
        with transaction.atomic():
            fields = {name: getattr(old, name) for name in PREFICHE_FIELDS}
            new = register_patient(by=by, session=session, patient=old.patient, **fields)
            # The file stays the registrar's (their pages, "Inscrit par"), as by a move.
            new.registered_by_id = old.registered_by_id
            new.save(update_fields=["registered_by"])
            for document in old.documents.order_by("uploaded_at", "pk"):
                try:
                    content = uploads.path_of(document.stored_name).read_bytes()
                except (OSError, ValueError) as missing:
                    raise ActionRefused(
                        f"Le document « {document.title} » est introuvable dans le stockage :"
                        " rien n'a été créé. Signalez-le à l'administrateur."
                    ) from missing
                copy = attach_document(
                    by=by,
                    registration=new,
                    title=document.title,
                    original_name=document.original_name,
                    content=content,
                )
                stored.append(copy.stored_name)
            _trace(
                board=new.session.board,
                by=by,
                action="registration.represent",
                obj=new,
                patient_id=new.patient_id,
                details={"from_registration": old.pk, "decision_version": latest.version},
            )
    except BaseException:
        for name in stored:  # (files written before the failure: nothing refers to them)
            uploads.discard(name)
        raise
    return new


# --- Documents --------------------------------------------------------------------------


def attach_document(
    *, by: Any, registration: Registration, title: str, original_name: str, content: bytes
) -> Document:
    """Attach a PDF or image to a registration. The type is read from the content
    (magic bytes), never from the name; the size is capped by DOCUMENT_MAX_BYTES."""
    uploads.check_size(len(content))
    content_type = uploads.check_content(content)
    stored_name = uploads.store(content)
    try:
        return _record_document(
            by=by,
            registration=registration,
            title=title,
            original_name=original_name,
            content=content,
            content_type=content_type,
            stored_name=stored_name,
        )
    except BaseException:
        uploads.discard(stored_name)
        raise


@transaction.atomic
def _record_document(
    *,
    by: Any,
    registration: Registration,
    title: str,
    original_name: str,
    content: bytes,
    content_type: str,
    stored_name: str,
) -> Document:
    registration = Registration.objects.select_for_update().get(pk=registration.pk)
    _check_editable(registration)
    safe_name = original_name.replace("/", "_").replace("\\", "_").strip()[:255] or "document"
    document = Document.objects.create(
        registration=registration,
        title=(title.strip() or safe_name)[:200],
        original_name=safe_name,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        stored_name=stored_name,
        uploaded_by=by,
        uploaded_at=clock.now(),
    )
    _trace(
        board=registration.session.board,
        by=by,
        action="document.upload",
        obj=document,
        patient_id=registration.patient_id,
        details={"registration_id": registration.pk, "content_type": content_type},
    )
    return document


# --- GP contribution --------------------------------------------------------------------


class NothingToSave(ActionRefused):
    """A first contribution with neither a comment nor the wish to join."""


@transaction.atomic
def save_gp_contribution(
    *,
    by: Any,
    registration: Registration,
    comment: str,
    wants_to_join: bool,
    role: str = "",
    ip: str | None = None,
) -> GPContribution:
    """The GP's comment and wish to join; editable until the compte-rendu is validated.
    ``role`` and ``ip``: the author's, for the trail (the portal passes both)."""
    registration = (
        Registration.objects.select_for_update().select_related("session").get(pk=registration.pk)
    )
    _check_editable(registration)
    if registration.session.status == Session.Status.CANCELLED:
        raise ActionRefused("La séance est annulée : la contribution n'est plus possible.")
    saved = GPContribution.objects.filter(registration=registration).first()
    if registration.session.starts_at <= clock.now():
        # The wish to join is no longer asked once the meeting has started: the saved
        # one stays.
        wants_to_join = bool(saved and saved.wants_to_join)
    if saved is None and not (comment.strip() or wants_to_join):
        raise NothingToSave(
            "Rien à enregistrer : écrivez un commentaire ou cochez « Je suis intéressé"
            " à la participation à la RCP »."
        )
    contribution, _ = GPContribution.objects.update_or_create(
        registration=registration,
        defaults={
            "author": by,
            "author_name": by.last_name.upper() or by.username,
            "author_specialty": by.specialty,
            "comment": comment.strip(),
            "wants_to_join": wants_to_join,
            "updated_at": clock.now(),
        },
    )
    contribution.full_clean()
    _trace(
        board=registration.session.board,
        by=by,
        action="registration.gp_contribution",
        obj=contribution,
        patient_id=registration.patient_id,
        role=role,
        ip=ip,
        details={"wants_to_join": wants_to_join},
    )
    return contribution


# --- Decision, compte-rendu, PPS ----------------------------------------------------------


class AlreadyValidated(ActionRefused):
    """Another version was validated since the user's page was shown."""

    def __init__(self, message: str, *, compte_rendu: CompteRendu, repeat: bool = False) -> None:
        super().__init__(message)
        self.compte_rendu = compte_rendu
        # The very decision validated meanwhile: the same submit twice (a double click).
        self.repeat = repeat


class AlreadyGenerated(AlreadyValidated):
    """A PPS was generated from this compte-rendu since the user's page was shown."""


def _same_decision(
    latest: CompteRendu,
    case_status: str,
    proposal: str,
    present: list[dict[str, Any]],
    override: str,
) -> bool:
    """The decision ``latest`` records, word for word, with the same people present."""

    def people(rows: Iterable[dict[str, Any]]) -> list[tuple[Any, Any]]:
        return sorted((row.get("user_id"), row.get("specialty")) for row in rows)

    return (
        (latest.case_status, latest.proposal) == (case_status, proposal)
        and people(latest.attendees) == people(present)
        and (latest.quorum_met or latest.quorum_override_reason == override)
    )


@transaction.atomic
def validate_compte_rendu(
    *,
    by: Any,
    registration: Registration,
    case_status: str,
    proposal: str,
    attendees: Iterable[tuple[Any, str]],
    quorum_override_reason: str = "",
    seen_version: int | None = None,
) -> CompteRendu:
    """Record the board's decision and validate it as the next version.

    ``attendees`` are (user, specialty) pairs. Without quorum the validation is
    refused unless a reason is recorded. A later call is a correction: version N+1,
    version N kept unchanged. ``seen_version``: the latest version the user saw (0:
    none); if another has been validated since (a double click, two participants at
    once), :class:`AlreadyValidated` is raised and nothing is created.
    """
    registration = (
        Registration.objects.select_for_update()
        .select_related("session__board", "patient")
        .get(pk=registration.pk)
    )
    if not registration.is_active:
        raise ActionRefused("Cette inscription a été retirée.")
    if registration.session.status == Session.Status.CANCELLED:
        raise ActionRefused("La séance a été annulée.")
    if clock.now() < registration.session.starts_at:
        raise ActionRefused(
            "La RCP n'a pas encore eu lieu : sa décision se valide à partir du début de la séance."
        )
    if not proposal.strip():
        raise ActionRefused("La proposition de la RCP est obligatoire.")
    present = [
        {
            "user_id": user.pk,
            "name": getattr(user, "display_name", str(user)),
            "specialty": specialty,
        }
        for user, specialty in attendees
    ]
    result = rules.quorum(
        (p["specialty"] for p in present),
        requires_core=registration.session.board.requires_core_specialties,
    )
    if not result.met and not quorum_override_reason.strip():
        raise ActionRefused(result.explanation + " Indiquez le motif pour valider sans quorum.")
    previous = registration.compte_rendus.aggregate(v=Max("version"))["v"] or 0
    latest = registration.compte_rendus.filter(version=previous).first() if previous else None
    if seen_version is not None and previous != seen_version:
        if latest is None:  # (a version that never existed: the page was tampered with)
            raise ActionRefused("Cette page n'est plus à jour : rechargez-la.")
        raise AlreadyValidated(
            f"Le compte-rendu a été validé entre-temps (version {previous}) : aucune "
            "nouvelle version n'a été créée. Relisez-le ; valider à nouveau créera la "
            f"version {previous + 1}.",
            compte_rendu=latest,
            repeat=(latest.proposal, latest.case_status) == (proposal.strip(), case_status),
        )
    if latest is not None and _same_decision(
        latest, case_status, proposal.strip(), present, quorum_override_reason.strip()
    ):
        # A correction that corrects nothing (the page sent again: Back, a second click)
        # makes no new version, and no second "compte-rendu validé" line for the GP.
        raise AlreadyValidated(
            f"Rien n'a changé depuis la version {previous} validée : aucune nouvelle version"
            " n'a été créée.",
            compte_rendu=latest,
            repeat=True,
        )
    contribution = GPContribution.objects.filter(registration=registration).first()
    quote = ""
    if contribution and contribution.comment:
        quote = (
            f"Commentaire du Docteur {contribution.author_name}"
            f"{', ' + contribution.author_specialty if contribution.author_specialty else ''}"
            f" : {contribution.comment}"
        )
    now = clock.now()
    compte_rendu = CompteRendu.objects.create(
        registration=registration,
        version=previous + 1,
        case_status=case_status,
        proposal=proposal.strip(),
        attendees=present,
        quorum_met=result.met,
        quorum_override_reason="" if result.met else quorum_override_reason.strip(),
        gp_contribution_quote=quote,
        validated_at=now,
        validated_by=by,
    )
    # The GP's "A venir" line of this file becomes a past presentation: the session may
    # never be marked held (it used to read "A venir" for a past date, next to the
    # compte-rendu's line).
    NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration=registration).update(
        text=_line_text(registration.session, decided=True)
    )
    NewsItem.objects.create(
        patient=registration.patient,
        kind=NewsItem.Kind.COMPTE_RENDU,
        date=_local_date(now),
        text=rules.compte_rendu_text(registration.session.board.title, compte_rendu.version),
        registration=registration,
        compte_rendu=compte_rendu,
        created_at=now,
    )
    _trace(
        board=registration.session.board,
        by=by,
        action="compte_rendu.validate",
        obj=compte_rendu,
        patient_id=registration.patient_id,
        details={"version": compte_rendu.version, "quorum_met": result.met},
    )
    return compte_rendu


@transaction.atomic
def generate_pps(
    *,
    by: Any,
    compte_rendu: CompteRendu,
    doctor_name: str,
    establishment_name: str,
    content: str,
    seen_pps: int | None = None,
) -> PPS:
    """A PPS from the latest validated version of the decision. ``seen_pps``: how many
    PPS this compte-rendu had when the user's page was shown; if one was generated since
    (a double click, a colleague at the same time), :class:`AlreadyGenerated` is raised
    and nothing is created."""
    if not compte_rendu.is_validated:
        raise ActionRefused("Le PPS se génère à partir d'une décision validée.")
    registration = Registration.objects.select_for_update().get(pk=compte_rendu.registration_id)
    latest = registration.compte_rendus.aggregate(v=Max("version"))["v"]
    if compte_rendu.version != latest:
        raise ActionRefused(
            f"Cette décision a été corrigée (version {latest}) : le PPS se génère à partir "
            "de la dernière version."
        )
    if seen_pps is not None and seen_pps != PPS.objects.filter(compte_rendu=compte_rendu).count():
        raise AlreadyGenerated(
            "Un PPS a été généré entre-temps pour cette décision : aucun autre n'a été "
            "créé. Relisez-le avant d'en générer un nouveau.",
            compte_rendu=compte_rendu,
        )
    same = PPS.objects.filter(
        compte_rendu=compte_rendu,
        doctor_name=doctor_name,
        establishment_name=establishment_name,
        content=content,
    ).first()
    if same is not None:  # (the form sent again: Back, a second click)
        raise AlreadyGenerated(
            f"Ce PPS a déjà été généré le {timezone.localtime(same.created_at):%d/%m/%Y à %H:%M}"
            " : aucun autre n'a été créé.",
            compte_rendu=compte_rendu,
        )
    now = clock.now()
    diagnosis = registration.cim10_label
    pps = PPS.objects.create(
        compte_rendu=compte_rendu,
        patient=registration.patient,
        doctor_name=doctor_name,
        establishment_name=establishment_name,
        diagnosis_label=diagnosis,
        content=content,
        created_at=now,
        created_by=by,
    )
    NewsItem.objects.create(
        patient=registration.patient,
        kind=NewsItem.Kind.PPS,
        date=_local_date(now),
        text=rules.pps_text(diagnosis, doctor_name, establishment_name),
        registration=registration,
        compte_rendu=compte_rendu,
        pps=pps,
        created_at=now,
    )
    _trace(
        board=registration.session.board,
        by=by,
        action="pps.generate",
        obj=pps,
        patient_id=registration.patient_id,
    )
    return pps
