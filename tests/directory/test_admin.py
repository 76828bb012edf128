"""The back office shows a professional with activities and addresses; search by RPPS or name."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from concerto.directory.importer import import_directory
from concerto.directory.lookup import doctor_query, search_doctors
from concerto.directory.models import Activity, MSSanteAddress, Professional
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
            activity_row(
                RPPS[0],
                **{
                    "Nom d'exercice": "ADMINFICTIF",
                    "Raison sociale site": "MAISON DE SANTE EXEMPLE",
                },
            ),
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


def test_the_directory_is_read_only_in_the_back_office(admin_client, imported):
    """import-directory is the directory's one writer (a refresh relies on it)."""
    professional = Professional.objects.get(rpps=RPPS[0])
    url = reverse("admin:directory_professional_change", args=[professional.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="_save"' not in page
    answer = admin_client.post(url, {"rpps": RPPS[0], "last_name": "EDITE"})
    assert answer.status_code == 403
    assert Professional.objects.get(pk=professional.pk).last_name == "ADMINFICTIF"
    for name in ("professional", "activity", "mssanteaddress"):
        assert admin_client.get(reverse(f"admin:directory_{name}_add")).status_code == 403
    delete = reverse("admin:directory_professional_delete", args=[professional.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Professional.objects.filter(pk=professional.pk).exists()


def test_an_rpps_is_searched_by_the_exact_indexed_look_up(admin_client, imported):
    """Not the admin's case-insensitive match of every field: a full scan nationally."""
    for model in (Professional, Activity, MSSanteAddress):
        url = reverse(f"admin:directory_{model._meta.model_name}_changelist")
        with CaptureQueriesContext(connection) as queries:
            answer = admin_client.get(url, {"q": f" {RPPS[0]} "})
        searched = [q["sql"] for q in queries.captured_queries if "WHERE" in q["sql"]]
        assert searched and not any("UPPER" in sql or "LIKE" in sql for sql in searched)
        found = list(model.objects.filter(rpps=RPPS[0]).values_list("pk", flat=True))
        assert found and sorted(row.pk for row in answer.context["cl"].result_list) == sorted(found)


@pytest.mark.postgres
def test_the_gp_search_by_rpps_prefix_is_served_by_an_index(imported):
    """The secretary's GP search by the first digits of an RPPS (``rpps__startswith``,
    ``LIKE '…%'``) is served by the unique b-tree of the RPPS, whose column has the "C"
    collation (under another, a b-tree serves ``LIKE`` only as a filter over a whole
    scan). Seq scans disabled, the prefix must be a range of that index."""
    query = Professional.objects.filter(rpps__startswith=RPPS[0][:6])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "directory_professional_rpps_key" in plan, plan
    assert re.search(r"Index Cond: .*\(rpps\)::text >= '\d+'", plan), plan  # a range
    assert RPPS[0] in set(query.values_list("rpps", flat=True))


def test_the_gp_search_finds_doctors_by_any_part_of_their_name_or_rpps():
    doctor = builders.gp(last_name="DE LA FONTAINE-FICTIVE", first_name="Hélène")
    namesake = builders.gp(last_name="FONTAINEFICTIVE")
    nurse = builders.gp(last_name="FONTAINE-FICTIVE", profession_code="60")

    def found(query: str) -> list[str]:
        return [p.rpps for p in search_doctors(query)]

    assert found("fontaine") == [doctor.rpps, namesake.rpps]  # sorted by name
    assert found("FICTIVE hélène") == found("Hélène fictive") == [doctor.rpps]
    assert found("la font") == [doctor.rpps]
    assert found(doctor.rpps) == [doctor.rpps] and doctor.rpps in found(doctor.rpps[:7])
    assert nurse.rpps not in found("fontaine") + found(nurse.rpps)  # médecins only
    strauss = builders.gp(last_name="STRAUßFICTIF")  # "ß".upper() is "SS" in Python only
    assert found("strauß") == [strauss.rpps]
    assert found("ZZFICTIF") == []
    assert found("100%") == found("fon_aine") == []  # LIKE's wildcards are plain text


@pytest.mark.postgres
def test_the_gp_search_by_name_is_served_by_the_trigram_index():
    """A word found in no name made PostgreSQL read all 1.3 M names (1 to 2.6 s): the
    search's own query must filter through the trigram index and sort the matches (in
    the b-tree's order, PostgreSQL would walk the names instead)."""
    builders.gp(last_name="TRIGRAMMEFICTIF")
    # Enough médecins for the planner to see that the b-tree of their names (partial, like
    # the trigram index) would give every one of them to filter.
    Professional.objects.bulk_create(
        Professional(rpps=f"{n:011d}", last_name=f"AUTRENOM{n}", profession_code="10")
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('professional_doctor_name_trgm')")
        cursor.execute("ANALYZE directory_professional")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # a tiny table: no name walk
        plan = doctor_query("gramme fictif")[:20].explain()
    assert "Bitmap Index Scan on professional_doctor_name_trgm" in plan, plan
    # The words themselves looked up in the index (not merely its médecins, then filtered).
    assert re.search(r"Index Cond: \(\(?upper\(.*~~ '%GRAMME%'", plan), plan
    assert re.search(r"Sort Key: \(?upper\(", plan), plan
