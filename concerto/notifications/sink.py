"""The demo mail sink: a local MSSanté stand-in (aiosmtpd on loopback, STARTTLS).

It presents a server certificate and requires a client certificate, both issued by a
throw-away CA generated at first start (``cryptography``) into ``var/mail-tls/``; the
demo settings point the worker at that material. Each message received is saved as an
``.eml`` file in ``var/mail/``, which the admin-only page "Messagerie de démonstration"
lists. Never used in production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import uuid
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_FILES = ("ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Concerto démonstration"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_tls_material(directory: Path) -> Path:
    """Create (once) a CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    if all((directory / name).is_file() for name in TLS_FILES):
        return directory
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = _name("AC de démonstration Concerto (non IGC Santé)")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier, server: bool) -> tuple[bytes, bytes]:
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    server_pem, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, True)
    client_pem, client_key = leaf("concerto-demo.mssante", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    files = {
        "ca.pem": ca_cert.public_bytes(serialization.Encoding.PEM),
        "server.pem": server_pem,
        "server-key.pem": server_key,
        "client.pem": client_pem,
        "client-key.pem": client_key,
    }
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        if name.endswith("-key.pem"):
            path.chmod(0o600)
    return directory


def server_tls_context(
    *, cert: str, key: str, client_ca: str | None, require_client_cert: bool = True
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


class LoopbackController(Controller):
    """aiosmtpd's Controller, able to listen on port 0 (an ephemeral port)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()


class SaveToFolder:
    """aiosmtpd handler: each message becomes one .eml file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        content = envelope.original_content or b""
        header = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(header + content)
        tmp.rename(path)
        return "250 Message accepté"


def start_sink(
    *, host: str, port: int, tls_dir: Path, mail_dir: Path, handler: Any = None
) -> LoopbackController:
    generate_tls_material(tls_dir)
    context = server_tls_context(
        cert=str(tls_dir / "server.pem"),
        key=str(tls_dir / "server-key.pem"),
        client_ca=str(tls_dir / "ca.pem"),
    )
    controller = LoopbackController(
        handler or SaveToFolder(mail_dir),
        hostname=host,
        port=port,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    return controller


@dataclass(frozen=True)
class ReceivedMessage:
    name: str
    received_at: dt.datetime
    subject: str
    sender: str
    recipients: str
    message_id: str
    text: str


def received_messages(directory: Path, *, limit: int = 200) -> list[ReceivedMessage]:
    """The sink's messages, newest first."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.eml"), reverse=True)[:limit]
    parser = BytesParser(policy=policy.default)
    found = []
    for path in files:
        message = parser.parsebytes(path.read_bytes())
        body = message.get_body(preferencelist=("plain",))
        found.append(
            ReceivedMessage(
                name=path.name,
                received_at=dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC),
                subject=str(message.get("Subject", "")),
                sender=str(message.get("From", "")),
                recipients=str(message.get("To", "")),
                message_id=str(message.get("Message-ID", "")),
                text=body.get_content() if body is not None else "",  # type: ignore[attr-defined]
            )
        )
    return found
