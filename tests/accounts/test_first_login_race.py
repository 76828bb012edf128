"""Two first logins of one person at once (two tabs, a double click): one account, no 500."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from concerto.accounts import actions
from concerto.accounts.models import User
from tests import builders


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_first_logins_make_one_account(monkeypatch) -> None:
    professional = builders.gp()
    both_checked = threading.Barrier(2, timeout=10)
    real_full_clean = User.full_clean

    def full_clean_together(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        both_checked.wait()  # both found no account and both create one
        return real_full_clean(self, *args, **kwargs)

    monkeypatch.setattr(User, "full_clean", full_clean_together)
    users: list[int] = []
    errors: list[BaseException] = []

    def log_in() -> None:
        try:
            user = actions.link_psc_login(
                sub="sub-unique", rpps=professional.rpps, claims={}, ip="192.0.2.1"
            )
            users.append(user.pk)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=log_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert len(users) == 2 and users[0] == users[1]
    assert User.objects.filter(rpps=professional.rpps).count() == 1
