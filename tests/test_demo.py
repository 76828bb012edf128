"""``concerto seed-demo``: deterministic, idempotent, every state present."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from concerto import demo
from concerto.audit.models import AuditEvent
from concerto.notifications.calendar import notification_day
from concerto.rcp.models import PPS, Board, CompteRendu, NewsItem, Registration, Session
from tests.builders import paris

pytestmark = pytest.mark.django_db

NOW = paris(2026, 11, 27, 10)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo region, seeded once for the module (about 15 s a seeding) inside a
    transaction rolled back after its last test: each test runs in a savepoint of it
    (pytest-django's own atomic block, nested), so no row outlives the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        report = demo.seed_demo(now=NOW)
        assert report.created
        yield report
        transaction.set_rollback(True)


def _snapshot():
    return {
        model.__name__: model.objects.count()
        for model in (Board, Session, Registration, CompteRendu, PPS, NewsItem, AuditEvent)
    }


def test_second_run_changes_nothing(seeded):
    before = _snapshot()
    out = StringIO()
    call_command("seed-demo", stdout=out)
    assert "déjà présente" in out.getvalue()
    assert _snapshot() == before


def test_region_shape(seeded):
    assert Board.objects.count() == 12
    assert Board.objects.filter(title="Tumeurs rares neuroendocrines RENATEN").exists()
    assert 280 <= seeded.counts["patients"] <= 320
    assert seeded.counts["professionals"] == 100
    dates = Session.objects.values_list("date", flat=True)
    assert min(dates) <= dt.date(2026, 9, 30) and max(dates) >= dt.date(2027, 1, 20)


def test_every_registration_state_exists(seeded):
    today = NOW.date()
    regs = Registration.objects.select_related("session__board__territory")
    assert regs.filter(prefiche_completed_at__isnull=True, status="active").exists()
    assert regs.filter(status="withdrawn").exists()
    assert Session.objects.filter(status="cancelled").exists()
    assert Session.objects.filter(status="held").exists()
    assert regs.filter(compte_rendus__validated_at__isnull=False).exists()
    assert PPS.objects.exists()
    late = [
        r
        for r in regs.filter(prefiche_completed_at__isnull=False, status="active")
        if r.session.date > today
        and r.prefiche_completed_at.astimezone(demo.PARIS).date()
        > notification_day(r.session.date, r.session.board.territory.holiday_subdivision)
    ]
    assert late, "no registration completed after its notification day"


def test_demo_gp_covers_every_portal_case(seeded):
    mine = Registration.objects.filter(patient__gp_rpps=demo.DEMO_GP_RPPS).select_related(
        "session__board"
    )
    today = NOW.date()
    upcoming = [r for r in mine if r.session.date > today]
    assert any(
        r.session.board.notifications_enabled and r.session.board.has_webconference
        for r in upcoming
    )
    assert any(not r.session.board.notifications_enabled for r in upcoming)
    assert PPS.objects.filter(patient__gp_rpps=demo.DEMO_GP_RPPS).exists()
    assert CompteRendu.objects.filter(
        registration__patient__gp_rpps=demo.DEMO_GP_RPPS, validated_at__isnull=False
    ).exists()


def test_names_are_obviously_fictional(seeded):
    from concerto.patients.models import Patient

    fake = tuple(demo.FAKE_NAMES)
    assert all(p.birth_name.startswith(fake) for p in Patient.objects.all())


def test_nothing_is_dated_after_the_seeding(seeded):
    """The GP's feed is newest first: a PPS "generated" tomorrow would open it."""
    late = {
        "pps": PPS.objects.filter(created_at__gt=NOW).count(),
        "compte_rendus": CompteRendu.objects.filter(validated_at__gt=NOW).count(),
        "news": NewsItem.objects.filter(created_at__gt=NOW).count(),
        "trail": AuditEvent.objects.filter(at__gt=NOW).count(),
    }
    assert late == {"pps": 0, "compte_rendus": 0, "news": 0, "trail": 0}
    # (past-dated news lines keep their event's date: none after today either)
    assert not NewsItem.objects.filter(kind="pps", date__gt=NOW.date()).exists()
