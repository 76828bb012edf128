"""Questions the rest of Concerto asks the directory."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import CharField, F, Func, Q, QuerySet, Value
from django.db.models.functions import Upper

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


# "Code profession" of a médecin in the extraction files: a médecin traitant is one.
DOCTOR = "10"
SEARCH_LIMIT = 20


def _search_name() -> Func:
    """``UPPER(last_name || ' ' || first_name)``: on PostgreSQL, the expression of the
    trigram index of migration directory 0007 (written the same way, with no parameter,
    for the planner to match them)."""
    return Func(
        F("last_name"),
        F("first_name"),
        function="UPPER",
        template="%(function)s(%(expressions)s)",
        arg_joiner=" || ' ' || ",
        output_field=CharField(),
    )


def search_doctors(query: str, *, limit: int = SEARCH_LIMIT) -> list[Professional]:
    """The médecins of the directory whose RPPS starts with ``query`` (digits), or whose
    name contains every word of it, in any case, sorted by name: the registration
    form's search of the patient's GP.

    At national size (1.3 M professionals) a word found in no name made PostgreSQL read
    every name (1 to 2.6 s); the trigram index of the médecins' names (migration
    directory 0007) answers in milliseconds. SQLite (the embedded demo) reads them all.
    """
    return list(doctor_query(query)[:limit])


def doctor_query(query: str) -> QuerySet[Professional]:
    """The query of :func:`search_doctors`, unsliced."""
    query = query.strip()
    words = query.split()
    doctors: QuerySet[Professional] = Professional.objects.filter(profession_code=DOCTOR)
    order: tuple[Any, ...] = ("last_name", "first_name")
    if query.isdigit():
        found = doctors.filter(rpps__startswith=query)
    elif connection.vendor == "postgresql":
        # Each word upper-cased by the database, like the names (Python's "ß".upper() is
        # "SS", PostgreSQL's is "ß"; under a "C" collation PostgreSQL leaves "é" as is).
        found = doctors.alias(search_name=_search_name()).filter(
            *[
                Q(search_name__contains=Upper(Value(word, output_field=CharField())))
                for word in words
            ]
        )
        if any(len(word) >= 3 for word in words):  # a trigram or more: the index helps
            # An order no index gives: PostgreSQL then takes the matches from the trigram
            # index and sorts them. In the b-tree's order it would walk the names until 20
            # match, unable to tell that few or none do (1 to 2.6 s nationally).
            order = (Upper("last_name"), Upper("first_name"), "pk")
    else:
        found = doctors
        for word in words:
            found = found.filter(Q(last_name__icontains=word) | Q(first_name__icontains=word))
    return found.order_by(*order)
