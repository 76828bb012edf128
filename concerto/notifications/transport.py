"""MSSanté delivery: SMTP with STARTTLS (or implicit TLS), TLS ≥ 1.2, the application's
client certificate, and only the configured CA bundle to trust the server.

One :class:`Connection` is opened per batch and reused for every message of it. Errors
come out as :class:`TransportError` with ``permanent`` set (5xx) or not (4xx, refused
connection, time-out, TLS): the worker retries the temporary ones.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from concerto.lib.identifiers import PLAIN_ADDRESS_PATTERN
from concerto.notifications import faults


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: int | None = None,
        refused: dict[str, tuple[int, str]] | None = None,
        sender: bool = False,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.refused = refused or {}
        # About our sending mailbox, not about this message: every message of the batch
        # would meet it (the worker gives them all back to be retried).
        self.sender = sender


@dataclass
class Delivery:
    """What the server said: one outcome per recipient."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    reply: str = ""

    def outcomes(self) -> dict[str, dict[str, object]]:
        result: dict[str, dict[str, object]] = {
            address: {"code": 250, "reply": self.reply} for address in self.accepted
        }
        for address, (code, reply) in self.refused.items():
            result[address] = {"code": code, "reply": reply}
        return result


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}".strip()


def tls_context() -> ssl.SSLContext:
    """Client context: configured CA only, hostname checked, TLS ≥ 1.2, client cert."""
    if not settings.MSSANTE_CA_BUNDLE:
        raise TransportError("MSSANTE_CA_BUNDLE n'est pas configuré.")
    # Trust only the configured bundle (IGC Santé), never the system store alone.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=settings.MSSANTE_CA_BUNDLE)
    if settings.MSSANTE_CLIENT_CERT:
        context.load_cert_chain(settings.MSSANTE_CLIENT_CERT, settings.MSSANTE_CLIENT_KEY or None)
    return context


_LEADING_DOT = re.compile(rb"(?m)^\.")
# An envelope address sent as it is between angle brackets (RFC 5321 §4.1.2): a dot-atom
# local part and a domain of letters, digits and hyphens (MSSanté addresses are). No
# space, CR, LF or angle bracket can get through. smtplib's quoteaddr would parse each
# address as an RFC 5322 header, a tenth of a millisecond per address.
_PLAIN_ADDRESS = re.compile(PLAIN_ADDRESS_PATTERN)


def plain_address(address: str) -> bool:
    """``address`` can be sent as an envelope address as it is."""
    return _PLAIN_ADDRESS.fullmatch(address) is not None


def _nothing() -> None:
    return None


def _set_timeout(smtp: smtplib.SMTP, seconds: float) -> None:
    if smtp.sock is not None:
        smtp.sock.settimeout(seconds)


class Connection:
    """One authenticated, encrypted SMTP session reused for a batch."""

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        host, port = settings.MSSANTE_SMTP_HOST, settings.MSSANTE_SMTP_PORT
        timeout = settings.MSSANTE_SMTP_TIMEOUT
        try:
            context = tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"Certificats MSSanté illisibles : {exc}") from exc
        try:
            if settings.MSSANTE_SMTP_MODE == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
                smtp.ehlo()
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    # Never fall back to plaintext: health data.
                    raise TransportError(
                        "Le serveur SMTP ne propose pas STARTTLS : aucun envoi en clair."
                    )
                code, reply = smtp.starttls(context=context)
                if code != 220:
                    smtp.close()
                    raise TransportError(f"STARTTLS refusé : {_reply(code, reply)}")
                smtp.ehlo()
        except TransportError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"Certificat du serveur non reconnu : {exc}") from exc
        except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionResetError) as exc:
            raise TransportError(f"Échec de la session TLS (certificat client ?) : {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"Connexion refusée : {_reply(exc.smtp_code, exc.smtp_error)}",
                permanent=False,
                code=exc.smtp_code,
            ) from exc
        except OSError as exc:
            raise TransportError(f"Connexion au serveur SMTP impossible : {exc}") from exc
        # The end-of-data mark is a separate small write (see _send): without
        # TCP_NODELAY, Nagle's algorithm and the server's delayed ACK add ~40 ms to
        # every message.
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.smtp = smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send(
        self,
        payload: bytes,
        recipients: list[str],
        *,
        before_end_of_data: Callable[[], None] = _nothing,
        while_server_works: Callable[[], None] = _nothing,
    ) -> Delivery:
        """MAIL FROM, RCPT TO each, DATA; a fault point between each step.

        ``payload`` is the message with CRLF line ends (see message.render).
        ``before_end_of_data`` runs once the content is sent and before the end-of-data
        mark: the worker waits there for the previous message's commit. If it raises,
        the connection is dropped without the mark (the server discards the message)
        and the exception goes up as it is. ``while_server_works`` runs once the mark is
        sent, while the server writes the message away before its reply (the worker
        prepares its next message there); it must not raise."""
        smtp = self.smtp
        if smtp is None:
            raise TransportError("Connexion SMTP non ouverte.")
        try:
            return self._send(smtp, payload, recipients, before_end_of_data, while_server_works)
        except TransportError:
            self._reset_or_drop()
            raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.smtp = None
            raise TransportError(f"Connexion interrompue : {exc}") from exc

    def _reset_or_drop(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
            self.smtp = None

    def _send(
        self,
        smtp: smtplib.SMTP,
        payload: bytes,
        recipients: list[str],
        before_end_of_data: Callable[[], None],
        while_server_works: Callable[[], None],
    ) -> Delivery:
        sender = settings.MSSANTE_FROM
        if not plain_address(sender):
            # A configuration slip (``concerto notify`` refuses it at start-up): temporary,
            # so that the rows wait for the fix instead of all failing for good.
            raise TransportError(f"MSSANTE_FROM invalide : {sender!r}", sender=True)
        code, reply = smtp.docmd("MAIL", f"FROM:<{sender}>")
        if code != 250:
            # Even a 5xx: it refuses our mailbox (not registered yet, certificate, rights),
            # never the GP's. Temporary, so that the rows wait for the operator's fix
            # instead of all failing for good.
            raise TransportError(
                f"MAIL FROM refusé : {_reply(code, reply)}", code=code, sender=True
            )
        faults.hit("after_mail_from")
        delivery = Delivery()
        for address in recipients:
            if not plain_address(address):
                delivery.refused[address] = (553, "553 adresse invalide, non envoyée")
                continue
            code, reply = smtp.docmd("RCPT", f"TO:<{address}>")
            if code in (250, 251):
                delivery.accepted.append(address)
            else:
                delivery.refused[address] = (code, _reply(code, reply))
        if not delivery.accepted:
            permanent = all(code >= 500 for code, _ in delivery.refused.values())
            details = "; ".join(f"{a} : {r}" for a, (_, r) in delivery.refused.items())
            first_code = next(iter(delivery.refused.values()))[0] if delivery.refused else None
            raise TransportError(
                f"Destinataire(s) refusé(s) : {details}",
                permanent=permanent,
                code=first_code,
                refused=delivery.refused,
            )
        code, reply = smtp.docmd("DATA")
        if code != 354:
            raise TransportError(
                f"DATA refusé : {_reply(code, reply)}", permanent=code >= 500, code=code
            )
        # As smtplib.SMTP.data(), in two writes: the content, then the end-of-data
        # mark. Until that mark is sent, a crash delivers nothing (the server discards
        # an unterminated message); once it is sent, the server may deliver whatever
        # happens to us: that window ends with our commit (after_250_before_commit).
        payload = _LEADING_DOT.sub(b"..", payload)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        smtp.send(payload)
        faults.hit("after_data_sent")
        try:
            before_end_of_data()
        except BaseException:
            # Half a DATA: the only way out that delivers nothing is to drop the
            # connection (a QUIT now would be read as message content).
            smtp.close()
            self.smtp = None
            raise
        smtp.send(b".\r\n")
        while_server_works()
        # The reply to the content may come late (the server scans the message first):
        # RFC 5321 §4.5.3.2.6 asks clients to wait 10 minutes for it. Giving up sooner
        # would retry a message the server may have delivered: a duplicate.
        _set_timeout(smtp, settings.MSSANTE_SMTP_DATA_TIMEOUT)
        try:
            code, reply = smtp.getreply()
        finally:
            _set_timeout(smtp, settings.MSSANTE_SMTP_TIMEOUT)
        if code != 250:
            raise TransportError(
                f"Message refusé : {_reply(code, reply)}", permanent=code >= 500, code=code
            )
        delivery.reply = _reply(code, reply)
        return delivery
