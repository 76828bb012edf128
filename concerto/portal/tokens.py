"""Opaque patient references for the dashboard filter.

The filter travels in the query string (GET, bookmarkable), where no patient data may
appear: not a name, not even the internal id. Each GP gets a per-user keyed HMAC of the
patient id instead; it means nothing to anyone else and cannot be enumerated.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.utils.crypto import constant_time_compare

_SALT = b"concerto.portal.patient-filter"


class PatientTokens:
    """Tokens of one user's patients (the key is derived once per request)."""

    def __init__(self, user_id: int) -> None:
        secret = settings.SECRET_KEY.encode()
        key = hashlib.sha256(_SALT + b"\0" + secret).digest()
        # Keyed once; each token copies it (a GP's page makes one per patient).
        self._mac = hmac.new(key, str(user_id).encode() + b":", hashlib.sha256)

    def token(self, patient_id: int) -> str:
        mac = self._mac.copy()
        mac.update(str(patient_id).encode())
        return mac.hexdigest()[:24]

    def resolve(self, token: str, patient_ids: list[int]) -> int | None:
        """The patient id (among ``patient_ids``) the token stands for, or None."""
        for patient_id in patient_ids:
            if constant_time_compare(token, self.token(patient_id)):
                return patient_id
        return None


def patient_token(*, user_id: int, patient_id: int) -> str:
    return PatientTokens(user_id).token(patient_id)
