"""Every read of patient data is traced, refusals as refusals (SPEC §1), in the corners
the page-by-page tests did not reach: the GP's patient filter, the actions' address, the
back office's refusals and history, the trail's own reading, the duplicate warning."""

import datetime as dt

import pytest
from django.urls import reverse

from concerto.audit.models import AuditEvent
from concerto.notifications.models import Notification
from tests import builders
from tests.builders import World, at, paris, user

pytestmark = pytest.mark.django_db


def test_the_gp_patient_filter_is_traced_for_every_patient_it_names(client):
    with at(paris(2026, 3, 2, 9)):
        world = World()
        doctor = user(rpps=builders.gp().rpps)
        with_news = world.patient(gp_rpps=doctor.rpps)
        without_news = world.patient(gp_rpps=doctor.rpps)
        world.register(world.session(dt.date(2026, 3, 17)), with_news)
    client.force_login(doctor)
    client.get(reverse("portal:dashboard"))
    listed = AuditEvent.objects.filter(action="portal.patient_filter", actor_id=doctor.pk)
    assert set(listed.values_list("patient_id", flat=True)) == {with_news.pk, without_news.pk}
    client.get(reverse("portal:dashboard"))  # the same list again in this session: once
    assert listed.count() == 2
    lines = AuditEvent.objects.filter(action="portal.dashboard", actor_id=doctor.pk)
    assert lines.count() == 2  # (each page's lines, every time)


def test_a_change_made_by_an_action_carries_the_address(client, two_boards):
    a, _, _ = two_boards
    with at(paris(2026, 3, 2, 9)):
        registration = a.register(a.session(dt.date(2026, 3, 24)), a.patient(), complete=False)
    client.force_login(a.registrar)
    client.post(
        reverse("rcp:registration-complete", args=[registration.pk]), REMOTE_ADDR="203.0.113.7"
    )
    event = AuditEvent.objects.filter(patient_id=registration.patient_id).latest("id")
    assert event.action.startswith("registration.") and event.ip == "203.0.113.7"


def test_back_office_refusals_and_history_are_traced(client, two_boards):
    a, b, registration = two_boards
    client.force_login(a.secretary)
    assert client.get("/admin/rcp/registration/").status_code == 403
    assert AuditEvent.objects.filter(action="admin.registration.list", outcome="denied").exists()
    assert client.get(f"/admin/rcp/registration/{registration.pk}/history/").status_code == 403
    assert AuditEvent.objects.filter(
        action="admin.registration.history", outcome="denied", patient_id=registration.patient_id
    ).exists()
    row = Notification.objects.create(
        registration=registration,
        gp_rpps="",
        status="not_eligible",
        message_id="<z@concerto.test>",
        created_at=registration.registered_at,
        updated_at=registration.registered_at,
    )
    client.get(f"/admin/notifications/notification/{row.pk}/change/")  # another board's
    event = AuditEvent.objects.get(action="notification.view")
    assert (event.outcome, event.patient_id) == ("denied", registration.patient_id)  # was "ok"
    admin = user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.get("/admin/rcp/registration/999999/change/")
    assert not AuditEvent.objects.filter(actor_id=admin.pk, outcome="ok").exists()
    history = client.get(f"/admin/rcp/registration/{registration.pk}/history/")
    assert history.status_code == 200
    assert AuditEvent.objects.filter(
        actor_id=admin.pk, action="admin.registration.history", patient_id=registration.patient_id
    ).exists()
    # No patient listed by identity through the URL (it would stay in logs and history).
    birth_name = registration.patient.birth_name
    assert (
        client.get(f"/admin/patients/patient/?birth_name__startswith={birth_name}").status_code
        == 400
    )
    # Reading the trail in the back office is traced, as the search page is.
    client.get("/admin/audit/auditevent/")
    assert AuditEvent.objects.filter(actor_id=admin.pk, action="audit.admin_list").exists()


def test_a_search_by_user_finds_that_user_only(client):
    regional = user(is_regional_admin=True)
    dupont, dupontel = user(username="dupont"), user(username="dupontel")
    for who in (dupont, dupontel):
        AuditEvent.objects.create(
            at=paris(2026, 3, 2, 9), actor_id=who.pk, actor=who.username, action="x.view"
        )
    client.force_login(regional)
    page = client.post(reverse("audit:search"), {"user": "dupont"})
    actors = {e.actor_id for e in page.context["rows"]} - {regional.pk}
    assert actors == {dupont.pk}  # (DUPONTEL's events came too)


def test_the_duplicate_warning_is_traced_as_a_search_hit(client, two_boards):
    a, _, _ = two_boards
    with at(paris(2026, 3, 2, 9)):
        patient = a.patient()
    client.force_login(a.registrar)
    data = {
        "birth_name": patient.birth_name,
        "first_names": patient.first_names,
        "sex": patient.sex,
        "birth_date": patient.birth_date.isoformat(),
        "birth_place_code": patient.birth_place_code,
        "identity_status": "PROV",
    }
    page = client.post(reverse("rcp:patient-create"), data)
    assert "existe déjà" in page.content.decode()
    assert AuditEvent.objects.filter(
        action="patient.duplicate_hit", patient_id=patient.pk, actor_id=a.registrar.pk
    ).exists()


def test_a_refused_reading_of_the_trail_is_traced_as_refused(client):
    staff = user(is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/audit/auditevent/").status_code == 403
    assert client.get("/admin/audit/auditevent/999999/change/").status_code in (302, 403)
    outcomes = set(AuditEvent.objects.filter(actor_id=staff.pk).values_list("outcome", flat=True))
    assert outcomes == {"denied"}  # (was "ok")


def test_admin_lookups_follow_the_declared_filters_and_dates(rf, monkeypatch):
    from django.contrib import admin as django_admin

    from concerto.rcp.models import PPS

    request = rf.get("/admin/rcp/pps/")
    request.user = user(is_staff=True, is_superuser=True)
    pps_admin = django_admin.site._registry[PPS]
    monkeypatch.setattr(pps_admin, "date_hierarchy", "created_at")
    assert pps_admin.lookup_allowed("created_at__year", "2026", request)  # (was refused)
    assert not pps_admin.lookup_allowed("patient__birth_name__startswith", "X", request)


def test_every_event_code_the_application_writes_is_named_in_french():
    """The trail's search page shows each event's code in words; a new code without its
    label would show as a code (the CSV export keeps the codes)."""
    import re
    from pathlib import Path

    from concerto.audit.models import ACTION_LABELS

    source = Path(__file__).resolve().parents[1] / "concerto"
    code = re.compile(
        r"""["'](?:accounts|audit|board|compte_rendu|directory|document|notification|"""
        r"""patient|portal|pps|registration|session)\.[a-z_]+["']"""
    )
    found = {
        match.group()[1:-1]
        for path in source.rglob("*.py")
        for match in code.finditer(path.read_text(encoding="utf-8"))
    }
    found.discard("directory.establishment")  # (a table name, not an event)
    # The back office's saves, by each admin's trail_action ("accounts.admin_{}").
    from django.contrib import admin

    from concerto.lib.admin import TracedSaveAdmin

    for model_admin in admin.site._registry.values():
        if isinstance(model_admin, TracedSaveAdmin):
            found |= {model_admin.trail_action.format(kind) for kind in ("add", "change")}
    assert {"accounts.admin_add", "admin.change"} <= found
    assert len(found) > 50
    assert sorted(found - set(ACTION_LABELS)) == []
    assert AuditEvent(action="portal.prefiche").action_label == "portail : pré-fiche consultée"
    assert AuditEvent(action="admin.patient.list").action_label == "back-office : patient (liste)"
    assert AuditEvent(action="inconnu.code").action_label == "inconnu.code"
