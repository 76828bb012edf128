"""The demo region works in the RCP pages for the demo accounts of the README."""

from __future__ import annotations

import pytest
from django.urls import reverse

from concerto import demo
from concerto.accounts.models import User
from concerto.rcp.models import Board, CompteRendu, Registration, Session
from tests.builders import paris

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    demo.seed_demo(now=paris(2026, 11, 27, 10))


def test_demo_accounts_walk_their_pages(client, seeded):
    secretary = User.objects.get(username="demo-secretaire")
    client.force_login(secretary)
    home = client.get(reverse("rcp:home"))
    assert home.status_code == 200
    assert home.content.decode().count("/rcp/rcp/") >= Board.objects.count()
    board = Board.objects.order_by("pk").first()
    assert client.get(reverse("rcp:board", args=[board.pk])).status_code == 200
    assert client.get(reverse("rcp:board-sessions", args=[board.pk])).status_code == 200
    busiest = (
        Session.objects.filter(registrations__isnull=False).order_by("-date").distinct().first()
    )
    assert client.get(reverse("rcp:session", args=[busiest.pk])).status_code == 200
    query = {"board": board.pk, "start": "2026-01-01", "end": "2026-12-31"}
    assert client.get(reverse("rcp:statistics"), query).status_code == 200

    cr = CompteRendu.objects.select_related("registration__session__board").first()
    member = cr.registration.session.board.memberships.exclude(user=secretary).first().user
    client.force_login(member)
    assert client.get(reverse("rcp:compte-rendu", args=[cr.pk])).status_code == 200
    assert client.get(reverse("rcp:compte-rendu-pdf", args=[cr.pk])).content.startswith(b"%PDF")

    registrar = User.objects.get(username="demo-inscripteur")
    client.force_login(registrar)
    assert client.get(reverse("rcp:home")).status_code == 200
    registration = Registration.objects.filter(registered_by=registrar).first()
    assert client.get(reverse("rcp:registration", args=[registration.pk])).status_code == 200
