"""The notification and the GP portal together: the mail's link lands on the pre-fiche,
and the webconference block appears once, and only once, this GP was notified."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from concerto.notifications import queries, worker
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
    assert queries.gp_was_notified(notified, gp_user.rpps)
    assert not queries.gp_was_notified(other, gp_user.rpps)
    text = _webconference_text(client, urlsplit(link).path)
    assert "https://visio.exemple.test/rcp" in text
    assert "134679" in text
    # The other registration's patient belongs to another GP: 404, not a block.
    assert client.get(f"/portail/inscription/{other.pk}/").status_code == 404
