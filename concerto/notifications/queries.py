"""What the rest of Concerto asks about GP notifications (the interface other apps use).

The notification issue implements these on top of its outbox model. Until it lands,
nothing has been notified: ``gp_was_notified`` is False and every status is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from concerto.rcp.models import Registration


@dataclass(frozen=True)
class NotificationStatus:
    """What organisers see for one registration (SPEC §4, last paragraph)."""

    code: str  # "sent" | "pending" | "sending" | "expired" | "failed" | "not_eligible" | "unknown"
    label: str  # French, e.g. "Envoyée le 09/09/2022 à 08:00 à dr.x@medecin.mssante.fr"
    needs_attention: bool = False  # expired or failed: the secretary must act


def gp_was_notified(registration: Registration, rpps: str) -> bool:
    """True when a notification for this registration was sent to the GP with this RPPS."""
    return False


def statuses_for(registrations: Iterable[Registration]) -> dict[int, NotificationStatus]:
    """Status of each registration's notification, keyed by registration id, in a
    constant number of queries."""
    return {
        registration.pk: NotificationStatus(code="unknown", label="Non disponible")
        for registration in registrations
    }
