"""The optional Annuaire Santé FHIR client, against recorded responses served on the
loopback (never the network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from concerto.directory.fhir import AnnuaireSanteClient, FhirError, Mailbox
from concerto.directory.lookup import mssante_addresses
from concerto.directory.models import MSSanteAddress

RECORDED = Path(__file__).parent / "recorded"
KEY = "cle-de-test-fictive"
RPPS = "17000000020"


class FakeAnnuaire:
    """Serves one recorded file per request; remembers what it was asked."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, b"{}")
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                fake.requests.append(
                    {
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "key": self.headers.get("ESANTE-API-KEY"),
                    }
                )
                status, body = fake.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir/v2"

    def serve(self, name: str, status: int = 200) -> None:
        self.answer = (status, (RECORDED / name).read_bytes())


@pytest.fixture
def annuaire() -> Iterator[FakeAnnuaire]:
    fake = FakeAnnuaire()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def client(fake: FakeAnnuaire) -> AnnuaireSanteClient:
    return AnnuaireSanteClient(base_url=fake.url, api_key=KEY, timeout=5)


def test_mailboxes_with_their_type(annuaire):
    annuaire.serve("practitioner_with_mailboxes.json")
    mailboxes = client(annuaire).practitioner_mailboxes(RPPS)
    assert mailboxes == [
        Mailbox("gaspard.fictifexemple@medecin.mssante.fr", "PER"),
        Mailbox("secretariat@ch-fictif.mssante.fr", "ORG"),
    ]
    (request,) = annuaire.requests
    assert request["path"] == "/fhir/v2/Practitioner"
    assert request["query"] == {"identifier": [f"{RPPS},8{RPPS}"]}
    assert request["key"] == KEY


def test_another_practitioners_mailboxes_are_never_taken(annuaire):
    annuaire.serve("practitioner_other_rpps.json")
    assert client(annuaire).practitioner_mailboxes(RPPS) == []


def test_empty_result(annuaire):
    annuaire.serve("empty_searchset.json")
    assert client(annuaire).practitioner_mailboxes(RPPS) == []


def test_http_error_is_a_fhir_error(annuaire):
    annuaire.serve("empty_searchset.json", status=401)
    with pytest.raises(FhirError, match="HTTP 401"):
        client(annuaire).practitioner_mailboxes(RPPS)


def test_not_a_bundle_is_a_fhir_error(annuaire, tmp_path):
    annuaire.answer = (200, json.dumps({"resourceType": "OperationOutcome"}).encode())
    with pytest.raises(FhirError, match="Bundle"):
        client(annuaire).practitioner_mailboxes(RPPS)


def test_a_key_is_required():
    with pytest.raises(ValueError, match="ESANTE-API-KEY"):
        AnnuaireSanteClient(base_url="http://127.0.0.1:9", api_key="")


@pytest.mark.django_db
def test_lookup_asks_the_api_only_with_a_key_and_no_local_address(annuaire, settings):
    annuaire.serve("practitioner_with_mailboxes.json")
    settings.DIRECTORY_FHIR_URL = annuaire.url
    settings.DIRECTORY_FHIR_API_KEY = ""
    assert mssante_addresses(RPPS) == []
    assert annuaire.requests == []  # no key: never asked

    settings.DIRECTORY_FHIR_API_KEY = KEY
    assert mssante_addresses(RPPS) == ["gaspard.fictifexemple@medecin.mssante.fr"]
    assert len(annuaire.requests) == 1

    MSSanteAddress.objects.create(address="locale@medecin.mssante.fr", kind="PER", rpps=RPPS)
    assert mssante_addresses(RPPS) == ["locale@medecin.mssante.fr"]
    assert len(annuaire.requests) == 1  # the imported directory answered


@pytest.mark.django_db
def test_lookup_survives_an_unreachable_api(annuaire, settings, caplog):
    annuaire.serve("empty_searchset.json", status=503)
    settings.DIRECTORY_FHIR_URL = annuaire.url
    settings.DIRECTORY_FHIR_API_KEY = KEY
    assert mssante_addresses(RPPS) == []
    assert "recherche impossible" in caplog.text
