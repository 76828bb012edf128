"""A real SMTP server for the tests: aiosmtpd on loopback (ephemeral port), STARTTLS,
client certificate REQUIRED, certificates from a CA made by ``trustme`` for the run."""

from __future__ import annotations

import email
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import trustme

from concerto.notifications.sink import LoopbackController


@dataclass
class TLSFiles:
    ca: trustme.CA
    ca_file: Path
    server_cert: trustme.LeafCert
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path, name: str = "ok") -> TLSFiles:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name=f"AC de test {name}")
        ca_file = directory / f"{name}-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        client = ca.issue_cert("concerto-test.mssante.fr", common_name="concerto-test")
        client_cert, client_key = directory / f"{name}-client.pem", directory / f"{name}-key.pem"
        client_cert.write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
        client.private_key_pem.write_to_path(str(client_key))
        return cls(ca, ca_file, ca.issue_cert("127.0.0.1", "localhost"), client_cert, client_key)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer_cert: dict | None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Handler:
    """Records what arrives; ``data_replies`` / ``rcpt_replies`` script the server."""

    received: list[Received] = field(default_factory=list)
    mail_from_count: int = 0
    tls_sessions: int = 0
    data_replies: deque[str] = field(default_factory=deque)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str = ""  # (when set, MAIL FROM gets it instead of 250)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_STARTTLS(self, server, session, envelope) -> bool:  # noqa: ANN001
        with self.lock:
            self.tls_sessions += 1
        return True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001
        with self.lock:
            self.mail_from_count += 1
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if self.delay:
            time.sleep(self.delay)  # blocks the server loop on purpose: a slow server
        with self.lock:
            if self.data_replies:
                reply = self.data_replies.popleft()
                if not reply.startswith("250"):
                    return reply
            peer = None
            if session.ssl is not None:
                peer = session.ssl.get("peercert") if isinstance(session.ssl, dict) else None
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or b"",
                    peer,
                )
            )
        return "250 2.0.0 Ok: queued"


def server_context(tls: TLSFiles, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.server_cert.configure_cert(context)
    (client_ca or tls.ca).configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def start(handler: Handler, context: ssl.SSLContext | None) -> LoopbackController:
    kwargs: dict = {}
    if context is not None:
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    return controller
