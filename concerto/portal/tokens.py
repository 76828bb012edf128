"""Opaque patient references for the dashboard filter.

The filter travels in the query string (GET, bookmarkable), where no patient data may
appear: not a name, not even the internal id. Each GP gets a per-user keyed HMAC of the
patient id instead; it means nothing to anyone else and cannot be enumerated.
"""

from __future__ import annotations

from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "concerto.portal.patient-filter"


def patient_token(*, user_id: int, patient_id: int) -> str:
    return salted_hmac(_SALT, f"{user_id}:{patient_id}", algorithm="sha256").hexdigest()[:24]


def resolve_token(token: str, *, user_id: int, patient_ids: list[int]) -> int | None:
    """The patient id (among ``patient_ids``) the token stands for, or None."""
    for patient_id in patient_ids:
        if constant_time_compare(token, patient_token(user_id=user_id, patient_id=patient_id)):
            return patient_id
    return None
