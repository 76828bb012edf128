"""The directory's database constraints, on both databases (written with create(), which
runs no validator: the database alone decides)."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, transaction

from concerto.directory.models import Professional

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "rpps, accepted",
    [
        ("19999999998", True),
        ("00000000000", True),
        ("1999999999", False),  # 10 digits
        ("1999999999a", False),
        ("a1999999999", False),
        ("19999 99998", False),
        ("1999999999 ", False),
        ("1999999999\u0661", False),  # an Arabic-Indic digit: a digit, not 0-9
        ("", False),
    ],
)
def test_the_database_accepts_only_eleven_ascii_digits_as_rpps(rpps, accepted):
    create = lambda: Professional.objects.create(rpps=rpps, last_name="CONTRAINTEFICTIF")  # noqa: E731
    if accepted:
        assert create().pk
    else:
        with pytest.raises((IntegrityError, DataError)), transaction.atomic():
            create()
    assert Professional.objects.filter(rpps=rpps).exists() is accepted
