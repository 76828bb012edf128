"""Production settings refuse to start half-configured and pass ``check --deploy``."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.db import DatabaseError, connection, transaction

from concerto.audit import trail
from concerto.audit.models import AuditEvent
from concerto.lib import clock
from tests.builders import PRODUCTION_ENV as GOOD


def _concerto(args, **env_overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "CONCERTO_DEMO_LOGIN"}
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "concerto", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in GOOD.items() if k != missing}
    result = _concerto(["check"], **env)
    assert result.returncode == 2
    assert missing in result.stderr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        # The example file's placeholder, and a key of one repeated character.
        ({"SECRET_KEY": "change-me-to-50-random-characters-change-me-to-50-random"}, "SECRET_KEY"),
        ({"SECRET_KEY": "k" * 60}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"CONCERTO_SITE_URL": ""}, "CONCERTO_SITE_URL"),
        ({"CONCERTO_SITE_URL": "http://dcc.exemple.test"}, "CONCERTO_SITE_URL"),
    ],
)
def test_production_refuses_unsafe_values(override, named):
    result = _concerto(["check"], **{**GOOD, **override})
    assert result.returncode == 2
    assert named in result.stderr


def test_production_refuses_sqlite():
    result = _concerto(["check"], **{**GOOD, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"})
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr


def test_production_passes_check_deploy():
    result = _concerto(["check", "--deploy", "--fail-level", "WARNING"], **GOOD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_seed_demo_refused_in_production():
    result = _concerto(["seed-demo"], **GOOD)
    assert result.returncode != 0
    assert "production" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_audit_trail_is_append_only_on_postgres():
    # (older than six months: the purge may delete nothing younger, migration audit 0004)
    with clock.as_of(clock.now() - dt.timedelta(days=200)):
        event = trail.record(by=None, action="test.event")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL concerto.audit_purge = 'on'")
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_demo_login_flag_fails_the_system_check_in_production():
    result = _concerto(["check"], **GOOD, CONCERTO_DEMO_LOGIN="true")
    assert result.returncode != 0
    assert "concerto.E001" in result.stderr
