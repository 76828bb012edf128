"""The access trail: append-only, retention purge, administrators' search and CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from concerto.audit import trail
from concerto.audit.checks import retention_check
from concerto.audit.models import AuditEvent
from concerto.lib import clock
from tests import builders
from tests.portal.conftest import PortalWorld

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def event_at(
    instant: dt.datetime, action: str = "test.read", patient_id: int | None = 1
) -> AuditEvent:
    with clock.as_of(instant):
        return trail.record(by=None, action=action, patient_id=patient_id)


def run_purge(*args: str) -> str:
    out = io.StringIO()
    with clock.as_of(NOW):
        call_command("purge-audit", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_purge_deletes_only_what_is_past_the_retention(settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 200
    old = event_at(NOW - dt.timedelta(days=201))
    edge = event_at(NOW - dt.timedelta(days=200) + dt.timedelta(seconds=1))
    recent = event_at(NOW - dt.timedelta(days=3))
    assert "1 événement(s)" in run_purge("--dry-run")
    assert AuditEvent.objects.filter(pk=old.pk).exists()
    output = run_purge()
    assert "1 événement(s)" in output and "supprimé" in output
    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert {edge.pk, recent.pk} <= remaining
    purge_event = AuditEvent.objects.get(action="audit.purge")
    assert purge_event.details["deleted"] == 1


@pytest.mark.django_db
def test_retention_shorter_than_six_months_is_refused(settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 183  # six months from July 1st are 184 days
    old = event_at(NOW - dt.timedelta(days=365))
    with pytest.raises(CommandError, match="au moins 184 jours"):
        run_purge()
    assert AuditEvent.objects.filter(pk=old.pk).exists()
    assert [e.id for e in retention_check(None)] == ["concerto.audit.E001"]
    settings.AUDIT_RETENTION_DAYS = 184
    assert retention_check(None) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_update_and_delete_outside_the_purge(settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 184
    event = event_at(NOW - dt.timedelta(days=400))
    for statement in (
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, action="test.read").exists()
    run_purge()
    assert not AuditEvent.objects.filter(pk=event.pk).exists()
    # The purge's permission ends with its transaction.
    other = event_at(NOW - dt.timedelta(days=1))
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [other.pk])
    # Inside a purge's transaction, an event younger than six months stays (a wrong
    # cutoff cannot erase the recent trail), and TRUNCATE is refused in any case.
    recent = event_at(clock.now() - dt.timedelta(days=183))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL concerto.audit_purge = 'on'")
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [recent.pk])
    with (
        pytest.raises(DatabaseError, match="TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL concerto.audit_truncate = 'off'")
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.filter(pk__in=[other.pk, recent.pk]).count() == 2


def admin_client() -> tuple[Client, Any]:
    admin = builders.user(is_regional_admin=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_search_by_patient_and_by_user(portal_world: PortalWorld) -> None:
    case, other = portal_world.gps[0], portal_world.gps[1]
    gp_client = Client()
    gp_client.force_login(case.user)
    gp_client.get(reverse("portal:prefiche", args=[case.upcoming.pk]))
    gp_client.get(reverse("portal:prefiche", args=[other.upcoming.pk]))  # refused
    client, admin = admin_client()
    response = client.post(reverse("audit:search"), {"patient": str(case.upcoming.patient_id)})
    assert response.status_code == 200
    body = response.content.decode()
    assert "portail : pré-fiche consultée" in body and "autorisé" in body
    # Events, roles and objects as people name them (it showed "portal.prefiche",
    # "medecin_traitant", "registration"); the CSV export keeps the codes.
    assert "portal.prefiche" not in body
    assert "médecin traitant" in body and "medecin_traitant" not in body
    assert f"inscription n° {case.upcoming.pk}" in body
    response = client.post(reverse("audit:search"), {"user": case.user.username})
    body = response.content.decode()
    assert "refusé" in body  # the attempt on the other GP's patient
    searched = AuditEvent.objects.filter(action="audit.search", actor_id=admin.pk)
    assert searched.count() == 2
    assert searched.filter(patient_id=case.upcoming.patient_id).exists()


@pytest.mark.django_db
def test_search_by_an_all_digit_ins(portal_world: PortalWorld) -> None:
    """An INS is usually 15 digits: it is the patient's INS, not an internal id."""
    from concerto.patients.models import Patient

    case = portal_world.gps[0]
    patient_id = case.upcoming.patient_id
    Patient.objects.filter(pk=patient_id).update(
        ins_number="185057800608491", ins_oid="1.2.250.1.213.1.4.8"
    )
    gp_client = Client()
    gp_client.force_login(case.user)
    gp_client.get(reverse("portal:prefiche", args=[case.upcoming.pk]))
    client, admin = admin_client()
    response = client.post(reverse("audit:search"), {"patient": "185057800608491"})
    assert "portail : pré-fiche consultée" in response.content.decode()
    searched = AuditEvent.objects.get(action="audit.search", actor_id=admin.pk)
    assert searched.patient_id == patient_id
    # Not an id nor an INS (a superscript digit passes str.isdigit): the form says so.
    response = client.post(reverse("audit:search"), {"patient": "²"})
    assert response.status_code == 200
    assert "Numéro interne (chiffres) ou matricule INS attendu." in response.content.decode()


@pytest.mark.django_db
def test_search_needs_a_criterion(portal_world: PortalWorld) -> None:
    client, _ = admin_client()
    response = client.post(reverse("audit:search"), {})
    assert "Indiquez un patient ou un utilisateur." in response.content.decode()


@pytest.mark.django_db
def test_csv_export(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    gp_client = Client()
    gp_client.force_login(case.user)
    gp_client.get(reverse("portal:pps", args=[case.pps.pk]), REMOTE_ADDR="192.0.2.44")
    client, _ = admin_client()
    response = client.post(
        reverse("audit:search"), {"patient": str(case.past.patient_id), "export": "1"}
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["date (UTC)", "acteur", "id acteur", "rôle", "action"]
    pps_rows = [r for r in rows[1:] if r[4] == "portal.pps"]
    assert pps_rows and pps_rows[0][9] == "192.0.2.44" and pps_rows[0][0].endswith("Z")
    assert all(r[5] == str(case.past.patient_id) for r in rows[1:])
    assert AuditEvent.objects.filter(action="audit.export").exists()


def test_csv_cells_cannot_start_a_formula() -> None:
    from concerto.lib.spreadsheet import safe_cell as _csv_cell

    assert _csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _csv_cell("Dr NORMAL") == "Dr NORMAL"


@pytest.mark.django_db
def test_search_is_for_administrators_only(portal_world: PortalWorld) -> None:
    gp = portal_world.gps[0].user
    client = Client()
    client.force_login(gp)
    assert client.get(reverse("audit:search")).status_code == 404
    assert client.post(reverse("audit:search"), {"user": "x"}).status_code == 404
    assert (
        AuditEvent.objects.filter(action="audit.search", outcome="denied", actor_id=gp.pk).count()
        == 2
    )
    admin_c, _ = admin_client()
    assert admin_c.get(reverse("audit:search")).status_code == 200


def statements_into(seen: list[str]) -> Any:
    """A ``connection.execute_wrapper`` that appends each statement's SQL to ``seen``."""

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    return spy


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_read_events_skip_the_flush_wait_only_for_their_own_transaction(settings: Any) -> None:
    from django.test import RequestFactory

    from concerto.audit.access import record_access

    settings.AUDIT_ACCESS_ASYNC_COMMIT = True
    request = RequestFactory().get("/portail/", REMOTE_ADDR="192.0.2.1")
    request.user = builders.user()
    seen: list[str] = []
    spy = statements_into(seen)

    with connection.execute_wrapper(spy):
        ok = record_access(request, action="test.read", patient_id=5)
        denied = record_access(request, action="test.read", patient_id=5, outcome="denied")
    assert seen.count("SET LOCAL synchronous_commit TO OFF") == 1  # the refusal is flushed
    assert AuditEvent.objects.filter(pk__in=[ok.pk, denied.pk]).count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_list_views_write_one_event_per_patient_in_one_statement() -> None:
    from django.test import RequestFactory

    from concerto.audit.access import record_accesses

    request = RequestFactory().get("/portail/", REMOTE_ADDR="192.0.2.7")
    request.user = builders.user()
    seen: list[str] = []
    spy = statements_into(seen)

    with clock.as_of(NOW), connection.execute_wrapper(spy):
        record_accesses(
            request,
            action="test.list",
            patient_ids=[7, 3, None, 7],
            role="medecin_traitant",
            details={"page": 2},
        )
        record_accesses(request, action="test.list.empty", patient_ids=[])
    if connection.vendor == "postgresql":
        # Outside a transaction: one statement each, committed by itself (no BEGIN/COMMIT
        # round trips around it; the commit is synchronous like any other).
        assert [sql.split()[0] for sql in seen] == ["INSERT", "INSERT"]
    events = list(AuditEvent.objects.filter(action="test.list").order_by("patient_id"))
    assert [e.patient_id for e in events] == [3, 7]
    for event in events:
        assert event.at == NOW
        assert event.actor_id == request.user.pk
        assert event.actor == request.user.display_name
        assert event.actor_role == "medecin_traitant"
        assert (event.object_type, event.object_id, event.outcome) == ("", "", "ok")
        assert event.ip == "192.0.2.7"
        assert event.details == {"method": "GET", "path": "/portail/", "page": 2}
    empty = AuditEvent.objects.get(action="test.list.empty")
    assert empty.patient_id is None and empty.actor_role == ""


def test_every_role_has_its_french_label() -> None:
    from concerto.accounts import policy
    from concerto.audit.models import ROLE_LABELS

    codes = {v for k, v in vars(policy.Role).items() if not k.startswith("_")}
    assert set(ROLE_LABELS) == codes
