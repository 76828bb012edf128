"""The MSSanté message of the pre-RCP notification (SPEC §4).

Text and HTML parts in French: the patient's identity, the board's title, the session's
date and hour (Europe/Paris), a link that lands on the patient's pre-fiche after the
CPS / e-CPS login, and the webconference link when the board has one. No document is
attached: the GP reads the file in the application.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from concerto.notifications.transport import plain_address

PARIS = ZoneInfo("Europe/Paris")
SUBJECT = "Médecin – Notification préalable RCP"  # the dash is U+2013, as in the seed


def new_message_id() -> str:
    domain = settings.MSSANTE_MESSAGE_ID_DOMAIN
    return f"<rcp-notification.{uuid.uuid4().hex}@{domain}>"


def prefiche_url(registration_id: int) -> str:
    """Where the GP lands after logging in (the portal's pre-fiche; an anonymous visit goes
    through the login and comes back). The registration id only: no patient data in URLs."""
    return settings.SITE_URL + reverse("portal:prefiche", args=[registration_id])


@dataclass(frozen=True)
class Content:
    """Plain values the message is built from (tests build it without a database)."""

    notification_id: int
    message_id: str
    recipients: tuple[str, ...]
    patient_identity: str
    board_title: str
    session_start: dt.datetime
    registration_id: int
    webconference_url: str = ""
    webconference_code: str = ""


def _date_fr(instant: dt.datetime) -> tuple[str, str]:
    local = instant.astimezone(PARIS)
    return local.strftime("%d/%m/%Y"), local.strftime("%H:%M").replace(":", " h ")


def _part(body: str, subtype: str) -> MIMEText:
    part = MIMEText(body, subtype, "utf-8")
    del part["MIME-Version"]  # once, on the message
    return part


def _bodies(content: Content) -> tuple[str, str]:
    """The text and HTML bodies (the same for :func:`build` and :func:`render`)."""
    day, hour = _date_fr(content.session_start)
    link = prefiche_url(content.registration_id)
    lines = [
        "Bonjour Docteur,",
        "",
        "Un(e) patient(e) dont vous êtes le médecin traitant déclaré est inscrit(e) à une"
        " réunion de concertation pluridisciplinaire (RCP).",
        "",
        f"Patient : {content.patient_identity}",
        f"RCP : {content.board_title}",
        f"Date et heure prévues : le {day} à {hour}",
        "",
        "Pour consulter la pré-fiche et apporter votre contribution, connectez-vous"
        " avec votre carte CPS ou e-CPS (Pro Santé Connect) :",
        link,
    ]
    html_extra = ""
    if content.webconference_url:
        lines += ["", "Accès à la webconférence le jour de la RCP :", content.webconference_url]
        html_extra = (
            "<h2>Webconférence</h2><p>Accès le jour de la RCP : "
            f'<a href="{escape(content.webconference_url)}">'
            f"{escape(content.webconference_url)}</a>"
        )
        if content.webconference_code:
            lines.append(f"Code d'accès : {content.webconference_code}")
            html_extra += f"<br>Code d'accès : {escape(content.webconference_code)}"
        html_extra += (
            "</p><p>Lors de votre connexion, indiquez votre nom et celui de votre patient,"
            " et laissez votre micro fermé en dehors de vos prises de parole.</p>"
        )
        lines += [
            "Lors de votre connexion, indiquez votre nom et celui de votre patient,"
            " et laissez votre micro fermé en dehors de vos prises de parole.",
        ]
    lines += [
        "",
        "Les éléments de la pré-fiche pourront évoluer jusqu'à la RCP avant validation"
        " du compte-rendu.",
        "",
        "Message envoyé automatiquement par Concerto (une seule notification par"
        " inscription, sans rappel).",
    ]
    html = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(SUBJECT)}</title></head><body>"
        "<p>Bonjour Docteur,</p>"
        "<p>Un(e) patient(e) dont vous êtes le médecin traitant déclaré est inscrit(e) à une"
        " réunion de concertation pluridisciplinaire (RCP).</p>"
        "<table><tbody>"
        f'<tr><th scope="row">Patient</th><td>{escape(content.patient_identity)}</td></tr>'
        f'<tr><th scope="row">RCP</th><td>{escape(content.board_title)}</td></tr>'
        f'<tr><th scope="row">Date et heure prévues</th><td>le {day} à {hour}</td></tr>'
        "</tbody></table>"
        "<p>Pour consulter la pré-fiche et apporter votre contribution, connectez-vous"
        " avec votre carte CPS ou e-CPS (Pro Santé Connect) :<br>"
        f'<a href="{escape(link)}">Consulter la pré-fiche</a></p>'
        f"{html_extra}"
        "<p>Les éléments de la pré-fiche pourront évoluer jusqu'à la RCP avant validation"
        " du compte-rendu.</p></body></html>"
    )
    return "\n".join(lines) + "\n", html


def build(content: Content, *, now: dt.datetime) -> Message:
    """The message as an :mod:`email` object: multipart/alternative (text, then HTML),
    bodies in UTF-8 (base64). The reference for :func:`render` (the tests compare them)
    and what ``bench/notify_send.py``'s bare ``smtplib`` loop sends; the worker sends
    :func:`render`'s bytes.

    Built with the ``compat32`` classes of :mod:`email.mime`: the modern ``EmailMessage``
    API parses every header it is given, which made building a message cost as much as
    sending it (bench/notify_send.py). The subject is RFC 2047-encoded here."""
    text, html = _bodies(content)
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(SUBJECT, "utf-8").encode()
    message["From"] = settings.MSSANTE_FROM
    message["To"] = _to(content)
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = content.message_id
    message["X-MSS-NIL"] = settings.MSSANTE_X_MSS_NIL
    message.attach(_part(text, "plain"))
    message.attach(_part(html, "html"))
    return message


# RFC 2047 form of the subject, computed once (it is the same for every message).
_SUBJECT_ENCODED = Header(SUBJECT, "utf-8").encode()
_CRLF = b"\r\n"
_PART_HEADERS = (
    'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
)
_FOLD_AT = 78  # RFC 5322 §2.1.1: lines SHOULD be no longer than 78 characters


def _header(name: str, value: str, *, fold: str = "") -> str:
    """One header line, ASCII; folded (``fold`` is where it may break) when too long."""
    line = f"{name}: {value}"
    if len(line) <= _FOLD_AT:
        return line + "\r\n"
    if fold and fold in value:
        return f"{name}: " + value.replace(fold, fold.rstrip() + "\r\n ") + "\r\n"
    # No place to break inside the value (a Message-ID): it goes on a continuation line.
    return f"{name}:\r\n {value}\r\n"


def _base64_lines(text: str) -> bytes:
    # 76-character lines, as email.mime's base64 body encoder, with CRLF on the wire.
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", _CRLF)


def _to(content: Content) -> str:
    """The To header: the addresses the envelope can carry (the transport refuses the
    others, 553): one malformed directory address must not spoil the header for all."""
    return ", ".join(address for address in content.recipients if plain_address(address))


def render(content: Content, *, now: dt.datetime) -> bytes:
    """The same message as :func:`build`, directly as the bytes sent after DATA (CRLF
    line ends, not yet dot-stuffed).

    Building the :mod:`email` objects and flattening them cost about 0.8 ms per message,
    a third of what sending it costs (bench/notify_send.py); this writes the same MIME
    structure with string formatting. The headers are plain ASCII values (settings,
    directory addresses, our Message-ID); anything else (a non-ASCII address) goes
    through :func:`build`, which knows how to encode it. The boundary cannot occur in the
    parts: base64 lines never contain ``=_`` nor start with ``-``."""
    recipients = _to(content)
    values = (settings.MSSANTE_FROM, recipients, content.message_id, settings.MSSANTE_X_MSS_NIL)
    if not all(value.isascii() and value.isprintable() for value in values):
        return build(content, now=now).as_bytes(policy=compat32.clone(linesep="\r\n"))
    text, html = _bodies(content)
    boundary = f"=_concerto_{uuid.uuid4().hex}"
    head = (
        _header("Content-Type", f'multipart/alternative; boundary="{boundary}"', fold="; ")
        + "MIME-Version: 1.0\r\n"
        + _header("Subject", _SUBJECT_ENCODED)
        + _header("From", settings.MSSANTE_FROM)
        + _header("To", recipients, fold=", ")
        + _header("Date", format_datetime(now.astimezone(dt.UTC)))
        + _header("Message-ID", content.message_id)
        + _header("X-MSS-NIL", settings.MSSANTE_X_MSS_NIL)
        + f"\r\n--{boundary}\r\n"
        + _PART_HEADERS.format(subtype="plain")
    ).encode("ascii")
    middle = f"\r\n--{boundary}\r\n{_PART_HEADERS.format(subtype='html')}".encode("ascii")
    end = f"\r\n--{boundary}--\r\n".encode("ascii")
    return head + _base64_lines(text) + middle + _base64_lines(html) + end
