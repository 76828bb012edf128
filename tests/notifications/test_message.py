"""The worker's message bytes (message.render) against the email package's (message.build)."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.policy import compat32

import pytest

from concerto.notifications.message import Content, build, render

NOW = dt.datetime(2022, 9, 9, 6, 0, tzinfo=dt.UTC)
WIRE = compat32.clone(linesep="\r\n")


def content(recipients: tuple[str, ...], **extra: str) -> Content:
    return Content(
        notification_id=7,
        message_id="<rcp-notification.0123456789abcdef0123456789abcdef@concerto.test>",
        recipients=recipients,
        patient_identity="Mme DUPONT Jeanne (née MARTIN), 01/02/1950",
        board_title="RCP thoracique <CHU> & associés",
        session_start=dt.datetime(2022, 9, 13, 12, 0, tzinfo=dt.UTC),
        registration_id=42,
        **extra,
    )


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def summary(message: email.message.EmailMessage) -> tuple:
    headers = [(k, str(v)) for k, v in message.items() if k != "Content-Type"]
    parts = [
        (part.get_content_type(), sorted(part.items()), part.get_payload(decode=True))
        for part in message.walk()
        if not part.is_multipart()
    ]
    return message.get_content_type(), headers, parts


@pytest.mark.parametrize(
    ("recipients", "extra"),
    [
        (("gp.19700000017@medecin.mssante.fr",), {}),
        (
            (
                "gp.19700000017@medecin.mssante.fr",
                "cabinet.dupont.19700000017@medecin.mssante.fr",
                "secretariat@centre-de-sante.mssante.fr",
            ),
            {"webconference_url": "https://visio.exemple.test/rcp", "webconference_code": "1234"},
        ),
    ],
)
def test_render_is_the_built_message(recipients, extra, settings):
    settings.SITE_URL = "https://concerto.test"
    raw = render(content(recipients, **extra), now=NOW)
    reference = build(content(recipients, **extra), now=NOW).as_bytes(policy=WIRE)
    ours = parsed(raw)
    assert summary(ours) == summary(parsed(reference))
    assert ours["To"] == ", ".join(recipients)
    assert ours["Message-ID"] == content(recipients).message_id
    assert not ours.defects and not any(part.defects for part in ours.walk())
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 78 for line in lines)
    assert not any(line.startswith(b".") for line in lines)


def test_a_header_value_that_is_not_plain_ascii_goes_through_the_email_package(settings):
    settings.MSSANTE_X_MSS_NIL = "CONCERTO-DÉMO"
    raw = render(content(("medecin.dupont@medecin.mssante.fr",)), now=NOW)
    assert raw.isascii()
    assert b'boundary="===============' in raw  # build()'s boundary: the fallback was used
    assert parsed(raw).get_body(("plain",)) is not None


@pytest.mark.parametrize(
    "malformed",
    [
        "rené.dupont@medecin.mssante.fr",  # an accent
        "rene\u00a0dupont@medecin.mssante.fr",  # a no-break space
        "rene.dupont@medecin.mssante.fr\rBcc: x@y.fr",  # a CR
    ],
)
def test_a_malformed_directory_address_spoils_neither_the_header_nor_the_worker(malformed):
    """The transport refuses it (553); the To header lists what can be sent, parsed
    without defect, and building the message does not raise."""
    good = "dr.martin@medecin.mssante.fr"
    for make in (render, lambda c, now: build(c, now=now).as_bytes(policy=WIRE)):
        message = parsed(make(content((good, malformed)), now=NOW))
        assert message["To"] == good
        assert [a.addr_spec for a in message["To"].addresses] == [good]
        assert not message.defects
