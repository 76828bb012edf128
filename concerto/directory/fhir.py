"""Live look-up in the Annuaire Santé FHIR API — optional, used only when
``DIRECTORY_FHIR_API_KEY`` is set.

``GET {DIRECTORY_FHIR_URL}/Practitioner?identifier=…`` with the header
``ESANTE-API-KEY``. MSSanté mailboxes are ``telecom`` entries with system "email", an
email-type extension coded MSSANTE and a mailbox-metadata extension whose "type" is the
BAL type (PER/ORG/APP/CAB) — see the ANS implementation guide, profile as-mailbox-mss.
Parsing is tolerant: extension URLs are matched by their ending (⚠ they have moved
between guide versions), and an address in an ``.mssante.fr`` domain counts as MSSanté
even without the email-type extension.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

from concerto.directory.formats import MAILBOX_KINDS

log = logging.getLogger(__name__)


class FhirError(RuntimeError):
    """The API could not be asked or answered nonsense."""


@dataclass(frozen=True)
class Mailbox:
    address: str
    kind: str  # PER, ORG, APP, CAB — or "" when the answer does not say


class AnnuaireSanteClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("Une clé ESANTE-API-KEY est nécessaire.")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = session or requests.Session()

    def practitioner_mailboxes(self, rpps: str) -> list[Mailbox]:
        """MSSanté mailboxes of the practitioner with this RPPS (11 digits)."""
        # ⚠ INTEGRATION.md gives identifier=<rpps>; the directory's national id is
        # "8" + RPPS. A FHIR token search takes a comma-separated OR: ask for both.
        try:
            response = self.session.get(
                f"{self.base_url}/Practitioner",
                params={"identifier": f"{rpps},8{rpps}"},
                headers={"ESANTE-API-KEY": self.api_key, "Accept": "application/fhir+json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise FhirError(f"Annuaire Santé injoignable : {exc}") from exc
        if response.status_code != 200:
            raise FhirError(f"Annuaire Santé : réponse HTTP {response.status_code}")
        try:
            bundle = response.json()
        except ValueError as exc:
            raise FhirError("Annuaire Santé : réponse qui n'est pas du JSON") from exc
        return mailboxes_from_bundle(bundle, rpps)


def _codes(value: Any) -> list[str]:
    """Codes of a valueCoding / valueCodeableConcept / valueCode / valueString."""
    if not isinstance(value, dict):
        return []
    codes = []
    for key in ("valueCode", "valueString"):
        if isinstance(value.get(key), str):
            codes.append(value[key])
    coding = value.get("valueCoding")
    if isinstance(coding, dict) and isinstance(coding.get("code"), str):
        codes.append(coding["code"])
    concept = value.get("valueCodeableConcept")
    if isinstance(concept, dict):
        for item in concept.get("coding") or []:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                codes.append(item["code"])
    return codes


def _identifies(resource: dict[str, Any], rpps: str) -> bool:
    values = {
        str(identifier.get("value", ""))
        for identifier in resource.get("identifier") or []
        if isinstance(identifier, dict)
    }
    return rpps in values or f"8{rpps}" in values


def mailboxes_from_bundle(bundle: Any, rpps: str) -> list[Mailbox]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError("Annuaire Santé : un Bundle était attendu")
    found: dict[str, Mailbox] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Practitioner":
            continue
        if not _identifies(resource, rpps):
            continue  # never attribute another practitioner's mailbox
        for telecom in resource.get("telecom") or []:
            if not isinstance(telecom, dict) or telecom.get("system") != "email":
                continue
            address = str(telecom.get("value", "")).strip().lower()
            mssante, kind = False, ""
            for extension in telecom.get("extension") or []:
                if not isinstance(extension, dict):
                    continue
                url = str(extension.get("url", "")).lower()
                if url.endswith(("email-type", "emailtype")) and "MSSANTE" in _codes(extension):
                    mssante = True
                if url.endswith("mailbox-mss-metadata"):
                    for sub in extension.get("extension") or []:
                        if isinstance(sub, dict) and sub.get("url") == "type":
                            kind = next((c for c in _codes(sub) if c in MAILBOX_KINDS), kind)
            if not address.endswith(".mssante.fr") or address.count("@") != 1:
                continue  # an ordinary e-mail address is not an MSSanté mailbox
            if mssante or kind or address.endswith(".mssante.fr"):
                found[address] = Mailbox(address, kind)
    return sorted(found.values(), key=lambda m: m.address)
