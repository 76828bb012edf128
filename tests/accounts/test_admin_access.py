"""The admin site has no password form; the first administrator is named by command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from concerto.accounts.models import User
from concerto.audit.models import AuditEvent
from tests import builders
from tests.accounts.conftest import psc_login

pytestmark = pytest.mark.django_db


def test_admin_login_sends_to_the_login_page(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    login = client.get(response["Location"])
    assert login.status_code == 302
    assert login["Location"].startswith("/connexion/?next=/admin/")


def test_admin_password_form_is_gone(client):
    builders.user(username="staff", is_staff=True, is_superuser=True)
    response = client.post("/admin/login/", {"username": "staff", "password": "test-password-123"})
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302


def test_staff_comes_back_to_the_admin(client):
    client.force_login(builders.user(is_staff=True, is_superuser=True))
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_non_staff_is_turned_away(client):
    client.force_login(builders.user())
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"] == "/"


def test_grant_admin_then_log_in_through_psc(client, psc_settings):
    builders.gp(rpps="19999999998", last_name="MEDECINFICTIF")
    out = StringIO()
    call_command("grant-admin", "--rpps", "19999999998", "--regional", stdout=out)
    assert "créé et nommé administrateur" in out.getvalue()
    user = User.objects.get(rpps="19999999998")
    assert user.is_staff and user.is_regional_admin and not user.has_usable_password()
    assert AuditEvent.objects.filter(action="accounts.admin_granted").count() == 1
    psc_login(client, "gp", next_url="/admin/")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_grant_admin_of_territories(client):
    territory = builders.territory("ex-limousin")
    builders.gp(rpps="19999999998")
    call_command(
        "grant-admin", "--rpps", "19999999998", "--territory", "ex-limousin", stdout=StringIO()
    )
    user = User.objects.get(rpps="19999999998")
    assert list(user.admin_territories.all()) == [territory]
    assert user.is_staff and not user.is_regional_admin and not user.is_superuser


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rpps", "19999999997", "--regional"], "RPPS invalide"),
        (["--rpps", "10000000009", "--regional"], "annuaire"),
        (["--rpps", "19999999998", "--territory", "nulle-part"], "Territoire inconnu"),
    ],
)
def test_grant_admin_refusals(args, message):
    builders.gp(rpps="19999999998")
    with pytest.raises(CommandError, match=message):
        call_command("grant-admin", *args, stdout=StringIO())


def test_admin_logout_is_the_psc_logout(client, psc_settings):
    builders.gp(rpps="19999999998", last_name="MEDECINFICTIF")
    call_command("grant-admin", "--rpps", "19999999998", "--regional", stdout=StringIO())
    psc_login(client, "gp", next_url="/admin/")
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(psc_settings.issuer + "/protocol/openid-connect/logout")
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="accounts.logout").count() == 1
