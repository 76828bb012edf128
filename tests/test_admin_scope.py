"""The back office applies the policy: a secretary sees only the boards they organise and
no patient data; patient data there is read-only, for superusers, and traced."""

import datetime as dt

import pytest

from concerto.audit.models import AuditEvent
from concerto.notifications.models import Notification
from concerto.rcp.models import Board, BoardMembership, NewsItem, Session
from tests.builders import at, paris, user

pytestmark = pytest.mark.django_db


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


def _board_post(board, **changes):  # type: ignore[no-untyped-def]
    """The board change form as the browser posts it, memberships listed as they are."""
    members = list(board.memberships.order_by("pk"))
    data = {
        "territory": board.territory_id,
        "title": board.title,
        "specialty": board.specialty,
        "establishment": board.establishment_id or "",
        "usual_weekday": board.usual_weekday,
        "usual_time": "14:00",
        "webconference_url": board.webconference_url,
        "webconference_code": board.webconference_code,
        "memberships-TOTAL_FORMS": len(members),
        "memberships-INITIAL_FORMS": len(members),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
        "consents-TOTAL_FORMS": 0,
        "consents-INITIAL_FORMS": 0,
        "consents-MIN_NUM_FORMS": 0,
        "consents-MAX_NUM_FORMS": 1000,
    }
    for i, m in enumerate(members):
        data |= {
            f"memberships-{i}-id": m.pk,
            f"memberships-{i}-board": board.pk,
            f"memberships-{i}-user": m.user_id,
            f"memberships-{i}-role": m.role,
            f"memberships-{i}-specialty": m.specialty,
        }
    return data | changes


def test_a_secretary_neither_moves_a_board_nor_creates_one_in_another_territory(client, two_boards):
    a, b, _ = two_boards
    client.force_login(a.secretary)
    page = client.get(f"/admin/rcp/board/{a.board.pk}/change/").content.decode()
    assert 'name="territory"' not in page  # read-only: it decides who administers the patients
    client.post(
        f"/admin/rcp/board/{a.board.pk}/change/", _board_post(a.board, territory=b.territory.pk)
    )
    a.board.refresh_from_db()
    assert a.board.territory_id != b.territory.pk
    adding = client.get("/admin/rcp/board/add/").content.decode()
    assert b.territory.name not in adding and a.territory.name in adding
    response = client.post(
        "/admin/rcp/board/add/",
        _board_post(a.board, title="RCP nouvelle", territory=b.territory.pk),
    )
    assert response.status_code == 200 and not Board.objects.filter(title="RCP nouvelle").exists()
    client.post(
        "/admin/rcp/board/add/",
        _board_post(
            a.board,
            title="RCP nouvelle",
            **{"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0},
        ),
    )
    created = Board.objects.get(title="RCP nouvelle")
    assert created.territory == a.territory
    # Still hers: she is its organiser (else it would vanish from her list).
    assert created.memberships.filter(user=a.secretary, role="organiser").exists()


def test_territories_are_the_administrators(client, two_boards):
    a, b, _ = two_boards
    client.force_login(a.secretary)  # (every rcp permission, as in the demo)
    url = f"/admin/rcp/territory/{b.territory.pk}/change/"
    assert client.get(url).status_code in (302, 403)
    client.post(url, {"name": "Renommé", "slug": "renomme", "holiday_subdivision": "57"})
    b.territory.refresh_from_db()
    assert b.territory.name != "Renommé"
    assert client.post("/admin/rcp/territory/add/", {"name": "X", "slug": "x"}).status_code == 403
    # A territory administrator changes theirs, not another; no deletes.
    admin = user(is_staff=True)
    admin.admin_territories.add(b.territory)
    client.force_login(admin)
    assert client.get(url).status_code == 200
    assert client.get(f"/admin/rcp/territory/{a.territory.pk}/change/").status_code == 302
    assert client.get(f"/admin/rcp/territory/{b.territory.pk}/delete/").status_code == 403
    # … and reaches their territory's boards without any per-model grant.
    assert client.get(f"/admin/rcp/board/{b.board.pk}/change/").status_code == 200
    assert client.get(f"/admin/rcp/board/{a.board.pk}/change/").status_code == 302


def test_members_change_through_the_actions_and_boards_are_not_deleted(client, two_boards):
    a, _, _ = two_boards
    client.force_login(a.secretary)
    newcomer = user()
    data = _board_post(a.board)
    leaving = a.board.memberships.filter(role="participant").order_by("pk").last()
    index = list(a.board.memberships.order_by("pk")).index(leaving)
    n = data["memberships-TOTAL_FORMS"]
    data |= {
        f"memberships-{index}-DELETE": "on",
        "memberships-TOTAL_FORMS": n + 1,
        f"memberships-{n}-user": newcomer.pk,
        f"memberships-{n}-role": "participant",
        f"memberships-{n}-specialty": "Radiologie",
    }
    assert client.post(f"/admin/rcp/board/{a.board.pk}/change/", data).status_code == 302
    assert a.board.memberships.filter(user=newcomer, specialty="Radiologie").exists()
    assert not a.board.memberships.filter(pk=leaving.pk).exists()
    trail = AuditEvent.objects.filter(object_type="board", object_id=str(a.board.pk))
    assert trail.filter(action="board.add_member", details__user_id=newcomer.pk).exists()
    assert trail.filter(action="board.remove_member", details__user_id=leaving.user_id).exists()
    # The secretary finds the newcomer to add without browsing the accounts.
    query = {"app_label": "rcp", "model_name": "boardmembership", "field_name": "user"}
    found = client.get("/admin/autocomplete/", query | {"term": newcomer.last_name}).json()
    assert str(newcomer.pk) in [row["id"] for row in found["results"]]
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get(f"/admin/accounts/user/{newcomer.pk}/change/").status_code in (302, 403)
    assert client.get(f"/admin/rcp/board/{a.board.pk}/delete/").status_code == 403


def test_a_member_joining_a_board_whose_notification_is_on_is_named_for_their_consent(
    client, two_boards
):
    a, _, _ = two_boards
    Board.objects.filter(pk=a.board.pk).update(notifications_enabled=True)
    a.board.refresh_from_db()
    client.force_login(a.secretary)
    newcomer = user(last_name="ARRIVANTFICTIF")
    data = _board_post(a.board)
    n = data["memberships-TOTAL_FORMS"]
    data |= {
        "memberships-TOTAL_FORMS": n + 1,
        f"memberships-{n}-user": newcomer.pk,
        f"memberships-{n}-role": "participant",
        f"memberships-{n}-specialty": "Radiologie",
    }
    page = client.post(f"/admin/rcp/board/{a.board.pk}/change/", data, follow=True)
    shown = [str(m) for m in page.context["messages"]]
    assert any(
        "reste activée" in m and newcomer.display_name in m and "accord" in m for m in shown
    ), shown
    # A change that adds no one says nothing of the kind.
    page = client.post(f"/admin/rcp/board/{a.board.pk}/change/", _board_post(a.board), follow=True)
    assert not [m for m in page.context["messages"] if "reste activée" in str(m)]


def test_a_refused_admin_read_is_traced_as_refused(client, two_boards):
    a, _, registration = two_boards
    client.force_login(a.secretary)
    assert client.get(f"/admin/rcp/registration/{registration.pk}/change/").status_code == 403
    event = AuditEvent.objects.get(actor_id=a.secretary.pk, action="admin.registration.view")
    assert (event.patient_id, event.outcome) == (registration.patient_id, "denied")  # was "ok"


def test_a_session_added_in_the_admin_is_in_the_future(client, two_boards):
    a, _, _ = two_boards
    client.force_login(a.secretary)
    with at(paris(2026, 3, 2, 9)):
        page = client.post(
            "/admin/rcp/session/add/", {"board": a.board.pk, "date": "2020-01-01", "time": "14:00"}
        )
    assert page.status_code == 200 and "dans le futur" in page.content.decode()
    assert not Session.objects.filter(date=dt.date(2020, 1, 1)).exists()


def test_renaming_a_board_renames_its_gp_news_lines(client, two_boards):
    a, _, _ = two_boards
    with at(paris(2026, 3, 2, 9)):
        registration = a.register(a.session(dt.date(2026, 3, 17)), a.patient())
    client.force_login(a.secretary)
    client.post(
        f"/admin/rcp/board/{a.board.pk}/change/", _board_post(a.board, title="RCP renommée")
    )
    line = NewsItem.objects.get(registration=registration, kind="upcoming")
    assert "présentation en RCP renommée le 17/03/2026" in line.text


def _registration_with_a_notification(world):  # type: ignore[no-untyped-def]
    with at(paris(2026, 3, 2, 9)):
        registration = world.register(world.session(dt.date(2026, 3, 17)), world.patient())
    Notification.objects.create(
        registration=registration,
        gp_rpps="",
        status="not_eligible",
        message_id=f"<{registration.pk}@concerto.test>",
        created_at=registration.registered_at,
        updated_at=registration.registered_at,
    )
    return registration


def test_the_notifications_list_traces_each_patient_shown(client, two_boards):
    a, _, _ = two_boards
    registration = _registration_with_a_notification(a)
    client.force_login(a.secretary)
    assert client.get("/admin/notifications/notification/").status_code == 200
    assert AuditEvent.objects.filter(
        actor_id=a.secretary.pk, action="notification.list", patient_id=registration.patient_id
    ).exists()


def test_account_changes_in_the_admin_are_traced(client):
    admin = user(is_staff=True, is_superuser=True)
    target = user()
    client.force_login(admin)
    page = client.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data |= {
        "rpps": "19999999998",
        "is_superuser": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
        "admin_territories": [],
        "groups": [],
        "user_permissions": [],
    }
    data = {k: v for k, v in data.items() if k not in ("password", "last_login", "date_joined")}
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(action="accounts.admin_change", object_id=str(target.pk))
    assert {"rpps", "is_superuser"} <= set(event.details["fields"])


@pytest.mark.parametrize("change", ["user", "role"])
def test_a_member_row_changed_in_place_ends_the_old_membership(client, two_boards, change):
    a, _, _ = two_boards
    client.force_login(a.secretary)
    data = _board_post(a.board)
    row = a.board.memberships.filter(role="participant").order_by("pk").first()
    index = list(a.board.memberships.order_by("pk")).index(row)
    newcomer = user()
    if change == "user":
        data[f"memberships-{index}-user"] = newcomer.pk
    else:
        data[f"memberships-{index}-role"] = "organiser"
    assert client.post(f"/admin/rcp/board/{a.board.pk}/change/", data).status_code == 302
    roles = set(a.board.memberships.filter(user=row.user).values_list("role", flat=True))
    if change == "user":  # (the replaced participant kept seeing the board's patients)
        assert roles == set() and a.board.memberships.filter(user=newcomer).exists()
    else:
        assert roles == {"organiser"}
    assert AuditEvent.objects.filter(
        action="board.remove_member", details__user_id=row.user_id, details__role="participant"
    ).exists()


def test_the_member_search_needs_a_name(client, two_boards):
    a, _, _ = two_boards
    client.force_login(a.secretary)
    someone = user(rpps="19999999998")
    query = {"app_label": "rcp", "model_name": "boardmembership", "field_name": "user"}
    for term in ("", "a", someone.rpps):  # (not a list of every account, nor an RPPS probe)
        found = client.get("/admin/autocomplete/", query | {"term": term}).json()
        assert found["results"] == [], term
    found = client.get("/admin/autocomplete/", query | {"term": someone.last_name}).json()
    assert [row["id"] for row in found["results"]] == [str(someone.pk)]


def test_a_superuser_lists_every_notification(client, two_boards):
    a, _, _ = two_boards
    _registration_with_a_notification(a)
    client.force_login(user(is_staff=True, is_superuser=True, is_regional_admin=True))
    page = client.get("/admin/notifications/notification/")
    assert page.context["cl"].result_count == 1


def test_cancelling_sessions_in_the_admin_asks_for_a_confirmation(client, two_boards):
    """As the session page does: the sessions, their files, what follows; nothing until
    confirmed. Another board's session slipped into the selection is not touched."""
    a, b, _ = two_boards
    with at(paris(2026, 3, 2, 9)):
        session = a.session(dt.date(2026, 3, 24))
        a.register(session, a.patient())
        theirs = b.session(dt.date(2026, 3, 24))
    client.force_login(a.secretary)
    selection = {"action": "cancel", "_selected_action": [session.pk, theirs.pk]}
    with at(paris(2026, 3, 2, 10)):
        page = client.post("/admin/rcp/session/", selection)
    assert page.status_code == 200
    text = " ".join(page.content.decode().split())
    assert "Vous allez annuler 1 séance." in text
    assert "<strong>1 dossier inscrit</strong> devra être déplacé vers une autre séance" in text
    assert b.board.title not in text
    session.refresh_from_db()
    assert session.status == Session.Status.PLANNED
    with at(paris(2026, 3, 2, 10)):
        done = client.post("/admin/rcp/session/", {**selection, "confirm": "yes"}, follow=True)
    assert "1 séance(s) annulée(s)." in done.content.decode()
    session.refresh_from_db()
    theirs.refresh_from_db()
    assert session.status == Session.Status.CANCELLED
    assert theirs.status == Session.Status.PLANNED
