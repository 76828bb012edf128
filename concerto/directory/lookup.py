"""Questions the rest of Concerto asks the directory."""

from __future__ import annotations

import logging

from django.conf import settings

from concerto.directory.models import MSSanteAddress, Professional

log = logging.getLogger(__name__)


def mssante_addresses(rpps: str) -> list[str]:
    """The professional's personal (PER) MSSanté addresses, sorted.

    Organisational (ORG) mailboxes are kept in the directory but never used for the
    GP notification: the notice names a patient and goes to the GP in person.

    When the imported directory knows none and an Annuaire Santé API key is configured
    (``DIRECTORY_FHIR_API_KEY``), the live FHIR API is asked: a mailbox opened since the
    last import is found. Without a key, only the imported directory is used.
    """
    if not rpps:
        return []
    local = sorted(
        MSSanteAddress.objects.filter(rpps=rpps, kind=MSSanteAddress.Kind.PERSONAL).values_list(
            "address", flat=True
        )
    )
    if local or not settings.DIRECTORY_FHIR_API_KEY:
        return local
    return live_personal_addresses(rpps)


def live_personal_addresses(rpps: str) -> list[str]:
    """PER mailboxes from the Annuaire Santé FHIR API; [] when it cannot answer."""
    from concerto.directory.fhir import AnnuaireSanteClient, FhirError

    client = AnnuaireSanteClient(
        base_url=settings.DIRECTORY_FHIR_URL,
        api_key=settings.DIRECTORY_FHIR_API_KEY,
        timeout=settings.DIRECTORY_FHIR_TIMEOUT,
    )
    try:
        mailboxes = client.practitioner_mailboxes(rpps)
    except FhirError as exc:
        log.warning("Annuaire Santé FHIR : recherche impossible (%s)", exc)
        return []
    return [m.address for m in mailboxes if m.kind == MSSanteAddress.Kind.PERSONAL]


def professional(rpps: str) -> Professional | None:
    return Professional.objects.filter(rpps=rpps).first()
