"""The back office shows a professional with activities and addresses; search by RPPS or name."""

from __future__ import annotations

from io import StringIO

import pytest
from django.urls import reverse

from concerto.directory.importer import import_directory
from concerto.directory.models import Professional
from tests import builders
from tests.directory.files import RPPS, activity_file, activity_row, mailbox_row, mssante_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(builders.user(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def imported(tmp_path):
    act = activity_file(
        tmp_path,
        [
            activity_row(RPPS[0], **{"Nom d'exercice": "ADMINFICTIF"}),
            activity_row(RPPS[0], **{"Raison sociale site": "MAISON DE SANTE EXEMPLE"}),
            activity_row(RPPS[1], **{"Nom d'exercice": "AUTREDEMO"}),
        ],
    )
    mss = mssante_file(
        tmp_path,
        [
            mailbox_row("admin.fictif@medecin.mssante.fr", RPPS[0]),
            mailbox_row("accueil@msp-exemple.mssante.fr", RPPS[0], kind="ORG"),
        ],
    )
    import_directory(by=None, paths=[act, mss], report=StringIO())


def test_search_by_rpps_and_by_name(admin_client, imported):
    url = reverse("admin:directory_professional_changelist")
    by_rpps = admin_client.get(url, {"q": RPPS[0]}).content.decode()
    assert "ADMINFICTIF" in by_rpps and "AUTREDEMO" not in by_rpps
    by_name = admin_client.get(url, {"q": "autredemo"}).content.decode()
    assert "AUTREDEMO" in by_name and "ADMINFICTIF" not in by_name


def test_professional_page_shows_activities_and_addresses(admin_client, imported):
    professional = Professional.objects.get(rpps=RPPS[0])
    page = admin_client.get(
        reverse("admin:directory_professional_change", args=[professional.pk])
    ).content.decode()
    assert "admin.fictif@medecin.mssante.fr" in page
    assert "accueil@msp-exemple.mssante.fr" in page and "organisationnelle" in page
    assert "MAISON DE SANTE EXEMPLE" in page
    assert "3 Rue DES EXEMPLES 86000 Poitiers" in page
    other = Professional.objects.get(rpps=RPPS[1])
    page = admin_client.get(reverse("admin:directory_professional_change", args=[other.pk]))
    assert "Aucune adresse MSSanté dans l&#x27;annuaire." in page.content.decode()
