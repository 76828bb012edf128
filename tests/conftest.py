from __future__ import annotations

import pytest
from django.db import connection


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """The test database lets TRUNCATE through the audit trail's guard (migration audit
    0004): pytest-django empties the tables with it after each transactional test."""
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            name = connection.settings_dict["NAME"]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"ALTER DATABASE {connection.ops.quote_name(name)} "
                    "SET concerto.audit_truncate = 'on'"
                )
            connection.close()  # (the setting applies to the connections opened next)
    yield


@pytest.fixture
def two_boards():  # type: ignore[no-untyped-def]
    """Two boards in two territories, a patient registered to the second; the first's
    secretary is staff with every model permission of the rcp and patients apps, as in
    the demo region."""
    import datetime as dt

    from django.contrib.auth.models import Permission

    from tests.builders import World, at, paris

    with at(paris(2026, 3, 2, 9)):
        a, b = World(), World()
        registration = b.register(b.session(dt.date(2026, 3, 17)), b.patient())
    a.secretary.is_staff = True
    a.secretary.save()
    a.secretary.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["rcp", "patients"])
    )
    return a, b, registration
