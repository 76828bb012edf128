"""Who gets the pre-RCP notification (SPEC §4): a pure function over plain values.

The four conditions of the seed (pre-fiche complete on or before the notification day,
a declared GP with an RPPS, a personal MSSanté address for that RPPS, the board's
opt-in) plus what makes a notification pointless (registration withdrawn, session
cancelled or already started, GP already notified). The result is data: either
eligible, or the list of reasons it is not, each with a French label for organisers.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Reason(enum.Enum):
    """Why a registration is not notified; ``value`` is stored, ``label`` is shown."""

    NO_GP = "no_gp"
    GP_WITHOUT_RPPS = "gp_without_rpps"
    NO_MSSANTE_ADDRESS = "no_mssante_address"
    ORGANISATIONAL_ADDRESS_ONLY = "organisational_address_only"
    BOARD_NOT_OPTED_IN = "board_not_opted_in"
    PREFICHE_INCOMPLETE = "prefiche_incomplete"
    PREFICHE_LATE = "prefiche_late"
    REGISTRATION_WITHDRAWN = "registration_withdrawn"
    SESSION_CANCELLED = "session_cancelled"
    SESSION_STARTED = "session_started"
    ALREADY_NOTIFIED = "already_notified"
    # Not produced by evaluate(): the scan's verdict on a row of a former GP.
    GP_CHANGED = "gp_changed"

    @property
    def label(self) -> str:
        return REASON_LABELS[self]


REASON_LABELS = {
    Reason.NO_GP: "pas de médecin traitant déclaré",
    Reason.GP_WITHOUT_RPPS: "médecin traitant sans numéro RPPS",
    Reason.NO_MSSANTE_ADDRESS: "aucune adresse MSSanté connue dans l'annuaire pour ce RPPS",
    Reason.ORGANISATIONAL_ADDRESS_ONLY: (
        "seule une adresse MSSanté organisationnelle (cabinet, établissement) est connue dans"
        " l'annuaire pour ce RPPS : la notification ne part que vers une adresse personnelle"
    ),
    Reason.BOARD_NOT_OPTED_IN: "la RCP n'a pas activé la notification du médecin traitant",
    Reason.PREFICHE_INCOMPLETE: "pré-fiche non complète",
    Reason.PREFICHE_LATE: "pré-fiche complétée après le jour de notification",
    Reason.REGISTRATION_WITHDRAWN: "inscription retirée",
    Reason.SESSION_CANCELLED: "séance annulée",
    Reason.SESSION_STARTED: "séance déjà commencée",
    Reason.ALREADY_NOTIFIED: "médecin traitant déjà notifié",
    Reason.GP_CHANGED: "le médecin traitant déclaré a changé depuis",
}


def reason_labels(codes: list[str] | tuple[str, ...]) -> list[str]:
    labels = []
    for code in codes:
        try:
            labels.append(Reason(code).label)
        except ValueError:
            labels.append(code)
    return labels


@dataclass(frozen=True)
class Facts:
    """Everything the rule looks at, as plain values (no database)."""

    gp_name: str
    gp_rpps: str | None
    mssante_addresses: tuple[str, ...]  # personal (PER) ones: the only ones notified
    board_opted_in: bool
    prefiche_completed_at: dt.datetime | None
    notification_day: dt.date
    registration_withdrawn: bool
    session_cancelled: bool
    session_starts_at: dt.datetime
    now: dt.datetime
    already_notified: bool = False
    # No personal address, but the directory knows a structure's (a practice's, an
    # establishment's) for the RPPS: never used, yet "no address known" would be wrong.
    organisational_addresses_only: bool = False


@dataclass(frozen=True)
class Eligibility:
    reasons: tuple[Reason, ...]
    # True when a reason may still go away (pre-fiche not complete yet, but the
    # notification day is not over): organisers see "en attente", not "non éligible".
    provisional: bool = False

    @property
    def eligible(self) -> bool:
        return not self.reasons

    @property
    def labels(self) -> list[str]:
        return [reason.label for reason in self.reasons]


ELIGIBLE = Eligibility(reasons=())


def evaluate(facts: Facts) -> Eligibility:
    """Eligible, or every reason the registration is not (in a stable order)."""
    reasons: list[Reason] = []
    provisional = False
    if facts.registration_withdrawn:
        reasons.append(Reason.REGISTRATION_WITHDRAWN)
    if facts.session_cancelled:
        reasons.append(Reason.SESSION_CANCELLED)
    elif facts.session_starts_at <= facts.now:
        reasons.append(Reason.SESSION_STARTED)
    if not facts.gp_rpps:
        reasons.append(Reason.GP_WITHOUT_RPPS if facts.gp_name.strip() else Reason.NO_GP)
    elif not facts.mssante_addresses:
        reasons.append(
            Reason.ORGANISATIONAL_ADDRESS_ONLY
            if facts.organisational_addresses_only
            else Reason.NO_MSSANTE_ADDRESS
        )
    if not facts.board_opted_in:
        reasons.append(Reason.BOARD_NOT_OPTED_IN)
    # Condition 1: complete on or before day N (local date, Europe/Paris).
    if facts.prefiche_completed_at is None:
        reasons.append(Reason.PREFICHE_INCOMPLETE)
        provisional = facts.now.astimezone(PARIS).date() <= facts.notification_day
    elif facts.prefiche_completed_at.astimezone(PARIS).date() > facts.notification_day:
        reasons.append(Reason.PREFICHE_LATE)
    if facts.already_notified:
        reasons.append(Reason.ALREADY_NOTIFIED)
    if not reasons:
        return ELIGIBLE
    return Eligibility(reasons=tuple(reasons), provisional=provisional and len(reasons) == 1)
