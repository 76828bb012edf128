"""The notification and the GP portal together: the mail's link lands on the pre-fiche,
and the webconference block appears once, and only once, this GP was notified."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from concerto.notifications import queries, worker
from concerto.rcp import actions
from tests.builders import at, user
from tests.notifications.conftest import SEND_TIME, make_due

pytestmark = pytest.mark.django_db


def _webconference_text(client, path):  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    return soup.find(id="webconf-titre").find_parent("aside").get_text()


def test_notified_gp_follows_the_link_and_sees_the_webconference(mssante, client):
    server = mssante()
    due = make_due(2)
    notified, other = due.registrations
    gp_user = user(rpps=notified.patient.gp_rpps)
    client.force_login(gp_user)
    link_path = f"/portail/inscription/{notified.pk}/"
    with at(SEND_TIME):
        assert "visio.exemple.test" not in _webconference_text(client, link_path)
        worker.run_pass(now=SEND_TIME)
    assert len(server.received) == 2
    received = next(
        m
        for m in server.received
        if notified.patient.identity_label in m.message.get_body(("plain",)).get_content()
    )
    body = received.message.get_body(("plain",)).get_content()
    link = next(word for word in body.split() if "/portail/inscription/" in word)
    assert urlsplit(link).path == link_path
    assert queries.notice_sent(notified, gp_user.rpps) is not None
    assert queries.notice_sent(other, gp_user.rpps) is None
    with at(SEND_TIME):  # (the day after the meeting, the access is no longer offered)
        text = _webconference_text(client, urlsplit(link).path)
    assert "https://visio.exemple.test/rcp" in text
    assert "134679" in text
    # The other registration's patient belongs to another GP: 404, not a block.
    assert client.get(f"/portail/inscription/{other.pk}/").status_code == 404


def _prefiche_text(client, path):  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200
    return " ".join(BeautifulSoup(response.content, "html.parser").get_text().split())


def test_the_notified_gps_page_follows_the_file_after_the_notice(mssante, client):
    """After the e-mail, the session or the file moves, the session is cancelled, the file
    withdrawn: the pré-fiche says what changed since the e-mail, offers the webconference
    only for a meeting still to come that discusses the file, and never tells the GP to
    connect to a meeting that will not."""
    mssante()
    due = make_due(1)
    notified = due.registrations[0]
    w, secretary = due.world, due.world.secretary
    client.force_login(user(rpps=notified.patient.gp_rpps))
    page = f"/portail/inscription/{notified.pk}/"
    with at(SEND_TIME):
        worker.run_pass(now=SEND_TIME)
        text = _prefiche_text(client, page)
    assert "https://visio.exemple.test/rcp" in text and "La date a changé" not in text

    # The session moves: the e-mail's date is named, the webconference still offered.
    with at(SEND_TIME + dt.timedelta(hours=1)):
        actions.move_session(
            by=secretary, session=due.session, date=dt.date(2022, 9, 20), time=dt.time(14)
        )
        text = _prefiche_text(client, page)
    assert (
        "La date a changé depuis le message MSSanté que vous avez reçu le 09/09/2022 : il "
        "annonçait la séance du 13/09/2022 à 14:00. La présentation est désormais prévue le "
        "20/09/2022 à 14:00."
    ) in text
    assert "https://visio.exemple.test/rcp" in text

    # The file moves to another session: the old page sends the GP on, without the access;
    # the new one (no e-mail of its own yet) offers it, with the e-mail's date named.
    with at(SEND_TIME + dt.timedelta(hours=2)):
        later = w.session(dt.date(2022, 9, 27))
        moved = actions.move_registration(by=secretary, registration=notified, session=later)
        old_text = _prefiche_text(client, page)
        new_text = _prefiche_text(client, f"/portail/inscription/{moved.pk}/")
    assert "visio.exemple.test" not in old_text
    assert "Le dossier a été déplacé vers une autre séance" in old_text
    assert "pourront évoluer" not in old_text
    assert "https://visio.exemple.test/rcp" in new_text
    assert "il annonçait la séance du 13/09/2022 à 14:00" in new_text
    assert "prévue le 27/09/2022" in new_text

    # That session is cancelled: no access, and why.
    with at(SEND_TIME + dt.timedelta(hours=3)):
        actions.cancel_session(by=secretary, session=later)
        text = _prefiche_text(client, f"/portail/inscription/{moved.pk}/")
    assert "visio.exemple.test" not in text and "134679" not in text
    assert "La séance est annulée : l'accès à la webconférence n'est plus valable." in text
    assert "La date a changé" not in text


def test_a_withdrawn_file_offers_no_webconference(mssante, client):
    mssante()
    due = make_due(1)
    notified = due.registrations[0]
    client.force_login(user(rpps=notified.patient.gp_rpps))
    page = f"/portail/inscription/{notified.pk}/"
    with at(SEND_TIME):
        worker.run_pass(now=SEND_TIME)
    with at(SEND_TIME + dt.timedelta(hours=1)):
        actions.withdraw_registration(by=due.world.secretary, registration=notified)
        text = _prefiche_text(client, page)
    assert "visio.exemple.test" not in text and "134679" not in text
    withdrawn = "Cette inscription a été retirée : l'accès à la webconférence n'est plus valable."
    assert withdrawn in text
    assert "pourront évoluer" not in text


def test_the_webconference_is_offered_until_the_files_decision(mssante, client):
    """Marked "tenue" from its start, the session may still be discussing this file: the
    access stays until the file's compte-rendu is validated."""
    mssante()
    due = make_due(1)
    notified = due.registrations[0]
    doctor = user(rpps=notified.patient.gp_rpps)
    client.force_login(doctor)
    page = f"/portail/inscription/{notified.pk}/"
    with at(SEND_TIME):
        worker.run_pass(now=SEND_TIME)
    with at(due.session.starts_at + dt.timedelta(minutes=5)):
        actions.mark_session_held(by=due.world.secretary, session=due.session)
        assert "https://visio.exemple.test/rcp" in _prefiche_text(client, page)
    # The day after, the file not reached (no decision yet): the meeting is over anyway.
    with at(due.session.starts_at + dt.timedelta(days=1)):
        client.force_login(doctor)
        text = _prefiche_text(client, page)
    assert "visio.exemple.test" not in text
    assert (
        "La réunion a eu lieu le 13/09/2022 : l'accès à la webconférence n'est plus proposé."
    ) in text
    with at(due.session.starts_at + dt.timedelta(hours=1)):
        due.world.decide(notified)
        text = _prefiche_text(client, page)
    assert "visio.exemple.test" not in text
    assert "La RCP a rendu son avis : l'accès à la webconférence n'est plus proposé." in text
