"""Questions the rest of Concerto asks the directory."""

from __future__ import annotations

from concerto.directory.models import MSSanteAddress, Professional


def mssante_addresses(rpps: str) -> list[str]:
    """The professional's personal (PER) MSSanté addresses, sorted.

    Organisational (ORG) mailboxes are kept in the directory but never used for the
    GP notification: the notice names a patient and goes to the GP in person.
    """
    if not rpps:
        return []
    return sorted(
        MSSanteAddress.objects.filter(rpps=rpps, kind=MSSanteAddress.Kind.PERSONAL).values_list(
            "address", flat=True
        )
    )


def professional(rpps: str) -> Professional | None:
    return Professional.objects.filter(rpps=rpps).first()
