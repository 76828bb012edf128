from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from concerto.rcp.models import Registration, Session
from tests.builders import World, at, gp, paris
from tests.notifications import smtp

# The seed's example: session on Tuesday 13/09/2022 at 14:00, notification day Friday 9.
SESSION_DAY = dt.date(2022, 9, 13)
BEFORE = paris(2022, 9, 1, 10)
SEND_TIME = paris(2022, 9, 9, 8, 0)


@pytest.fixture(autouse=True)
def _quiet_aiosmtpd() -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> smtp.TLSFiles:
    return smtp.TLSFiles.make(tmp_path_factory.mktemp("tls"), "ok")


@pytest.fixture(scope="session")
def other_tls(tmp_path_factory: pytest.TempPathFactory) -> smtp.TLSFiles:
    """Material from another CA: a wrong client certificate, an untrusted server."""
    return smtp.TLSFiles.make(tmp_path_factory.mktemp("tls-other"), "other")


@pytest.fixture
def mssante(settings, tls) -> Iterator:  # type: ignore[no-untyped-def]
    """Start a server (STARTTLS + required client certificate by default) and point the
    worker's settings at it."""
    started: list = []

    def make(
        handler: smtp.Handler | None = None,
        *,
        server_tls: smtp.TLSFiles | None = None,
        starttls: bool = True,
    ) -> smtp.Handler:
        handler = handler or smtp.Handler()
        context = smtp.server_context(server_tls or tls, client_ca=tls.ca) if starttls else None
        controller = smtp.start(handler, context)
        started.append(controller)
        settings.MSSANTE_SMTP_HOST = "127.0.0.1"
        settings.MSSANTE_SMTP_PORT = controller.port
        settings.MSSANTE_SMTP_MODE = "starttls"
        settings.MSSANTE_CA_BUNDLE = str(tls.ca_file)
        settings.MSSANTE_CLIENT_CERT = str(tls.client_cert)
        settings.MSSANTE_CLIENT_KEY = str(tls.client_key)
        settings.MSSANTE_SMTP_TIMEOUT = 5
        settings.MSSANTE_SMTP_DATA_TIMEOUT = 5
        settings.MSSANTE_FROM = "rcp-test@concerto.test.mssante.fr"
        settings.MSSANTE_X_MSS_NIL = "CONCERTO-TEST"
        settings.MSSANTE_MESSAGE_ID_DOMAIN = "concerto.test"
        settings.SITE_URL = "https://concerto.test"
        settings.NOTIFY_RETRY_BASE_SECONDS = 60
        settings.NOTIFY_RETRY_MAX_SECONDS = 3600
        settings.NOTIFY_DB_RETRY_SECONDS = 2
        return handler

    yield make
    for controller in started:
        controller.stop()


@dataclass
class Due:
    world: World
    session: Session
    registrations: list[Registration]


def make_due(count: int = 1, *, webconference: bool = True, addresses: int = 1, **world) -> Due:
    """``count`` registrations, all eligible, due on Friday 9/9/2022 at 08:00."""
    with at(BEFORE - dt.timedelta(days=20)):
        w = World(webconference=webconference, **world)
        session = w.session(SESSION_DAY)
    registrations = []
    with at(BEFORE):
        for _ in range(count):
            doctor = gp()
            for extra in range(addresses - 1):
                from concerto.directory.models import MSSanteAddress

                MSSanteAddress.objects.create(
                    address=f"gp{extra}.{doctor.rpps}@chu.mssante.fr", kind="PER", rpps=doctor.rpps
                )
            patient = w.patient(gp_rpps=doctor.rpps)
            registrations.append(w.register(session, patient))
    return Due(w, session, registrations)
