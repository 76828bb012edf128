"""Statistics for the 3C (centre de coordination en cancérologie), per board and period."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from concerto.notifications.queries import statuses_for
from concerto.rcp.models import Board, CompteRendu, Registration, Session

# The notification statuses other than sent and not eligible, as the rows name them.
STATUS_LABELS = {
    "pending": "en attente",
    "sending": "en cours d'envoi",
    "expired": "expirée (non envoyée avant la séance)",
    "failed": "en échec",
    "unknown": "non évaluée",
}


@dataclass
class BoardStatistics:
    board: Board
    start: dt.date
    end: dt.date
    sessions_planned: int = 0
    sessions_held: int = 0
    sessions_cancelled: int = 0
    files_presented: int = 0
    files_decided: int = 0
    files_with_quorum: int = 0
    registrations: int = 0
    notification_codes: Counter[str] = field(default_factory=Counter)
    not_eligible_reasons: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def share(part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f} %" if whole else "—"

    @property
    def quorum_share(self) -> str:
        return self.share(self.files_with_quorum, self.files_decided)

    @property
    def notified(self) -> int:
        return self.notification_codes.get("sent", 0)

    @property
    def notified_share(self) -> str:
        return self.share(self.notified, self.registrations)

    @property
    def not_eligible(self) -> int:
        return self.notification_codes.get("not_eligible", 0)

    @property
    def not_eligible_share(self) -> str:
        return self.share(self.not_eligible, self.registrations)

    def rows(self) -> list[tuple[str, str]]:
        """(indicator, value) pairs, as shown and exported."""
        rows = [
            ("Séances prévues", str(self.sessions_planned)),
            ("Séances tenues", str(self.sessions_held)),
            ("Séances annulées", str(self.sessions_cancelled)),
            ("Dossiers inscrits (hors retirés, hors séances annulées)", str(self.registrations)),
            (
                "Dossiers présentés (séance tenue ou compte-rendu validé)",
                str(self.files_presented),
            ),
            ("Dossiers avec compte-rendu validé", str(self.files_decided)),
            ("Dossiers validés avec quorum", str(self.files_with_quorum)),
            ("Part des dossiers validés avec quorum", self.quorum_share),
            ("Médecins traitants notifiés", str(self.notified)),
            ("Part notifiée", self.notified_share),
            ("Non éligibles à la notification", str(self.not_eligible)),
            ("Part non éligible", self.not_eligible_share),
        ]
        for code, count in sorted(self.notification_codes.items()):
            if code not in {"sent", "not_eligible"}:
                label = STATUS_LABELS.get(code, code)
                rows.append((f"Notification {label}", str(count)))
        # A file can be not eligible for several reasons: counted under each.
        for reason, count in self.not_eligible_reasons.most_common():
            rows.append((f"Non éligible : {reason}", str(count)))
        return rows


def board_statistics(board: Board, start: dt.date, end: dt.date) -> BoardStatistics:
    result = BoardStatistics(board=board, start=start, end=end)
    sessions = Session.objects.filter(board=board, date__gte=start, date__lte=end)
    by_status = Counter(sessions.values_list("status", flat=True))
    result.sessions_planned = by_status.get(Session.Status.PLANNED, 0)
    result.sessions_held = by_status.get(Session.Status.HELD, 0)
    result.sessions_cancelled = by_status.get(Session.Status.CANCELLED, 0)
    registrations = list(
        Registration.objects.filter(
            session__in=sessions.exclude(status=Session.Status.CANCELLED),
            status=Registration.Status.ACTIVE,
        ).select_related("session", "patient")
    )
    result.registrations = len(registrations)
    latest: dict[int, CompteRendu] = {}
    for cr in CompteRendu.objects.filter(
        registration__in=registrations, validated_at__isnull=False
    ).order_by("version"):
        latest[cr.registration_id] = cr
    # A compte-rendu is validated at the meeting (from the session's start): its file was
    # presented, whether or not the secretary has marked the session held yet.
    result.files_presented = sum(
        1 for r in registrations if r.session.status == Session.Status.HELD or r.pk in latest
    )
    result.files_decided = len(latest)
    result.files_with_quorum = sum(1 for cr in latest.values() if cr.quorum_met)
    for status in statuses_for(registrations).values():
        result.notification_codes[status.code] += 1
        if status.code == "not_eligible":
            result.not_eligible_reasons.update(status.reasons)
    return result
