"""The demo mailbox page and the notifications back office."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from concerto.audit.models import AuditEvent
from concerto.notifications import worker
from concerto.notifications.sink import SaveToFolder, generate_tls_material, received_messages
from tests.builders import user
from tests.notifications.conftest import SEND_TIME, make_due

pytestmark = [
    pytest.mark.django_db,
    # WhiteNoise warns when collectstatic never ran (tests serve from the finders).
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def mailbox(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MAIL_SINK_DIR = tmp_path / "mail"
    handler = SaveToFolder(settings.MAIL_SINK_DIR)
    envelope = SimpleNamespace(
        mail_from="rcp@demo.mssante.fr",
        rcpt_tos=["dr.fictif@medecin.mssante.fr"],
        original_content=(
            b"Subject: =?utf-8?q?M=C3=A9decin_=E2=80=93_Notification_pr=C3=A9alable_RCP?=\r\n"
            b"To: dr.fictif@medecin.mssante.fr\r\nMessage-ID: <x@concerto.test>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nPatient : Homme FICTIF DENIS\r\n"
        ),
    )
    reply = asyncio.run(handler.handle_DATA(None, None, envelope))  # type: ignore[arg-type]
    assert reply.startswith("250")
    return settings.MAIL_SINK_DIR


def test_sink_saves_and_lists(mailbox):
    [message] = received_messages(mailbox)
    assert message.subject == "Médecin – Notification préalable RCP"
    assert message.recipients == "dr.fictif@medecin.mssante.fr"
    assert "Homme FICTIF DENIS" in message.text


def test_demo_mailbox_page_for_admins_only(client, mailbox):
    admin = user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/notifications/messagerie-demo/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Médecin – Notification préalable RCP" in body and '<th scope="col">Objet</th>' in body
    assert AuditEvent.objects.filter(action="notification.demo_mailbox").exists()
    client.force_login(user(is_staff=True))  # a secretary
    assert client.get("/notifications/messagerie-demo/").status_code == 404
    client.logout()
    assert client.get("/notifications/messagerie-demo/").status_code == 302  # to the login


def test_demo_mailbox_refused_in_production(client, mailbox, settings):
    settings.PRODUCTION = True
    client.force_login(user(is_staff=True, is_superuser=True))
    assert client.get("/notifications/messagerie-demo/").status_code == 404


def test_tls_material_is_generated_once(tmp_path):
    folder = generate_tls_material(tmp_path / "tls")
    first = (folder / "ca.pem").read_bytes()
    generate_tls_material(folder)
    assert (folder / "ca.pem").read_bytes() == first
    assert oct((folder / "client-key.pem").stat().st_mode & 0o777) == "0o600"


def test_admin_lists_the_boards_notifications_with_reasons(client, mssante):
    mssante()
    due = make_due()
    with_no_gp = due.world.patient()
    from tests.builders import at
    from tests.notifications.conftest import BEFORE

    with at(BEFORE):
        due.world.register(due.session, with_no_gp)
    worker.run_pass(now=SEND_TIME)
    client.force_login(due.world.secretary)  # organiser of this board
    page = client.get("/admin/notifications/notification/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "envoyée" in body and "pas de médecin traitant déclaré" in body
    attention = client.get("/admin/notifications/notification/?a_traiter=oui")
    assert attention.status_code == 200 and "0 notification" in attention.content.decode()
    # Another board's secretary sees none of them.
    client.force_login(user(is_staff=True))
    other = client.get("/admin/notifications/notification/").content.decode()
    assert "pas de médecin traitant déclaré" not in other
