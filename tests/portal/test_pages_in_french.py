"""What a doctor meets off the main path: error pages in French, a form sent after the
session expired, a POST-only address opened as a page."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from concerto.rcp.models import GPContribution
from tests.portal.conftest import PortalWorld

pytestmark = pytest.mark.django_db


def test_error_pages_are_in_french(portal_world: PortalWorld) -> None:
    client = Client()
    client.force_login(portal_world.gps[0].user)
    missing = client.get("/portail/inscription/999999/")
    assert missing.status_code == 404
    assert (
        'lang="fr"' in missing.content.decode() and "Page introuvable" in missing.content.decode()
    )
    form_only = client.get(reverse("portal:contribute", args=[portal_world.gps[0].upcoming.pk]))
    assert form_only.status_code == 405  # (was a blank page)
    assert "enregistre un formulaire" in form_only.content.decode()
    refused = Client(enforce_csrf_checks=True)
    refused.force_login(portal_world.gps[0].user)
    csrf = refused.post(reverse("portal:contribute", args=[portal_world.gps[0].upcoming.pk]))
    assert csrf.status_code == 403 and "Formulaire expiré" in csrf.content.decode()


def test_a_form_sent_after_the_session_expired_leads_back_to_its_page(
    portal_world: PortalWorld,
) -> None:
    gp = portal_world.gps[0]
    page = reverse("portal:prefiche", args=[gp.upcoming.pk])
    client = Client()
    with time_machine.travel(dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC), tick=False) as t:
        client.force_login(gp.user)
        assert client.get(page).status_code == 200
        t.shift(dt.timedelta(minutes=31))
        response = client.post(
            reverse("portal:contribute", args=[gp.upcoming.pk]),
            {"comment": "Perdu ?"},
            HTTP_REFERER=f"http://testserver{page}",
        )
        shown = client.get(response["Location"]).content.decode()
    # After the login: the pre-fiche, not the POST-only address (a blank 405 before).
    assert response.status_code == 302
    assert response["Location"] == f"/connexion/?next={page}"
    assert "n&#x27;a pas été enregistré" in shown
    assert not GPContribution.objects.exists()


def test_logging_out_after_the_time_out_is_no_lost_form(portal_world: PortalWorld) -> None:
    client = Client()
    with time_machine.travel(dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC), tick=False) as t:
        client.force_login(portal_world.gps[0].user)
        client.get("/portail/")
        t.shift(dt.timedelta(minutes=31))
        response = client.post(
            reverse("logout"), HTTP_REFERER="http://testserver/portail/", follow=True
        )
    assert "n&#x27;a pas été enregistré" not in response.content.decode()
