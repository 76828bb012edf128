"""The back office applies the policy: a secretary sees only the boards they organise and
no patient data; patient data there is read-only, for superusers, and traced."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission

from concerto.audit.models import AuditEvent
from concerto.rcp.models import BoardMembership
from tests.builders import World, at, paris, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_boards():
    with at(paris(2026, 3, 2, 9)):
        a, b = World(), World()
        registration = b.register(b.session(dt.date(2026, 3, 17)), b.patient())
    a.secretary.is_staff = True
    a.secretary.save()
    # As in the demo region: every model permission of the rcp and patients apps.
    a.secretary.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["rcp", "patients"])
    )
    return a, b, registration


def test_secretary_sees_only_their_boards_and_no_patient_data(client, two_boards):
    a, b, registration = two_boards
    client.force_login(a.secretary)
    assert client.get(f"/admin/rcp/board/{a.board.pk}/change/").status_code == 200
    assert client.get(f"/admin/rcp/board/{b.board.pk}/change/").status_code == 302  # not found
    listing = client.get("/admin/rcp/board/").content.decode()
    assert a.board.title in listing and b.board.title not in listing
    # Cannot add themselves to another board through the admin.
    client.post(f"/admin/rcp/board/{b.board.pk}/change/", {"title": "x"})
    assert not BoardMembership.objects.filter(board=b.board, user=a.secretary).exists()
    for url in (
        "/admin/patients/patient/",
        f"/admin/rcp/registration/{registration.pk}/change/",
        "/admin/rcp/gpcontribution/",
        "/admin/rcp/newsitem/",
    ):
        assert client.get(url).status_code == 403, url


def test_superuser_reads_patient_data_read_only_and_traced(client, two_boards):
    _, _, registration = two_boards
    admin = user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/patients/patient/").status_code == 200
    page = client.get(f"/admin/rcp/registration/{registration.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only
    actions = set(AuditEvent.objects.filter(actor_id=admin.pk).values_list("action", flat=True))
    assert {"admin.patient.list", "admin.registration.view"} <= actions
    # Each read names its patient: a search of the trail by patient finds it.
    mine = AuditEvent.objects.filter(actor_id=admin.pk, patient_id=registration.patient_id)
    assert set(mine.values_list("action", flat=True)) == {
        "admin.patient.list",
        "admin.registration.view",
    }
    client.get(f"/admin/patients/patient/{registration.patient_id}/change/")
    assert mine.filter(action="admin.patient.view").exists()


def test_a_sessions_board_date_and_time_are_not_changed_in_the_admin(client, two_boards):
    """(The admin form would bypass "Déplacer": its checks and the GPs' news lines.)"""
    a, _, _ = two_boards
    with at(paris(2026, 3, 2, 9)):
        session = a.session(dt.date(2026, 3, 24))
    client.force_login(a.secretary)
    page = client.get(f"/admin/rcp/session/{session.pk}/change/").content.decode()
    assert 'name="date"' not in page and 'name="time"' not in page
    assert 'name="board"' not in page  # (its patients would go to another board)
    assert "24 mars 2026" in page or "24/03/2026" in page or "2026-03-24" in page
    adding = client.get("/admin/rcp/session/add/").content.decode()
    assert 'name="date"' in adding and 'name="time"' in adding
