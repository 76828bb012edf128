"""Permission matrix for concerto.accounts.policy: roles × objects.

One patient registered to a session of board A (territory A); board B lives in another
territory. Each person is checked against every policy question.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser

from concerto.accounts import policy
from concerto.accounts.policy import Role
from concerto.patients import actions as patient_actions
from tests import builders

pytestmark = pytest.mark.django_db

GP_RPPS = builders.rpps(4242)
OTHER_GP_RPPS = builders.rpps(4343)


@pytest.fixture
def world():
    a = builders.World(title="RCP A")
    b = builders.World(title="RCP B")
    assert a.territory != b.territory
    patient = a.patient(gp_rpps=GP_RPPS)
    registration = a.register(a.session(dt.date(2026, 12, 1)), patient)
    unregistered = a.patient(gp_rpps=GP_RPPS)  # known to its GP only
    other_patient = b.patient(gp_rpps=OTHER_GP_RPPS)
    b.register(b.session(dt.date(2026, 12, 2)), other_patient)

    territory_admin = builders.user()
    territory_admin.admin_territories.add(a.territory)
    other_territory_admin = builders.user()
    other_territory_admin.admin_territories.add(b.territory)
    inactive_gp = builders.user(rpps=builders.rpps(4444), is_active=False)
    patient_actions.create_patient(
        by=a.registrar,
        birth_name="INACTIFFICTIF",
        first_names="JEAN",
        sex="M",
        birth_date=dt.date(1950, 1, 1),
        birth_place_code="86194",
        gp_rpps=inactive_gp.rpps,
        gp_name="Dr INACTIF",
    )
    people = {
        "gp_of_patient": builders.user(rpps=GP_RPPS),
        "other_gp": builders.user(rpps=OTHER_GP_RPPS),
        "participant": a.participants[0][0],
        "other_board_participant": b.participants[0][0],
        "organiser": a.secretary,
        "registrar": a.registrar,
        "other_registrar": builders.user(is_registrar=True),
        "territory_admin": territory_admin,
        "other_territory_admin": other_territory_admin,
        "regional_admin": builders.user(is_regional_admin=True),
        "anonymous": AnonymousUser(),
        "inactive_gp": inactive_gp,
    }
    return {
        "a": a,
        "b": b,
        "patient": patient,
        "registration": registration,
        "unregistered": unregistered,
        "people": people,
    }


# person: (view patient, sees registration, view unregistered patient, manage board A,
#          take part in board A, register patients, roles)
MATRIX = {
    "gp_of_patient": (True, True, True, False, False, False, {Role.GP}),
    "other_gp": (False, False, False, False, False, False, {Role.GP}),
    "participant": (True, True, False, False, True, False, {Role.PARTICIPANT}),
    "other_board_participant": (False, False, False, False, False, False, {Role.PARTICIPANT}),
    "organiser": (True, True, False, True, True, False, {Role.ORGANISER}),
    "registrar": (True, True, False, False, False, True, {Role.REGISTRAR}),
    "other_registrar": (False, False, False, False, False, True, {Role.REGISTRAR}),
    # Administrators manage the board, and see no patient file (docs/decisions/0007).
    "territory_admin": (False, False, False, True, False, False, {Role.ADMIN}),
    "other_territory_admin": (False, False, False, False, False, False, {Role.ADMIN}),
    "regional_admin": (False, False, False, True, False, False, {Role.ADMIN}),
    "anonymous": (False, False, False, False, False, False, set()),
    "inactive_gp": (False, False, False, False, False, False, set()),
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_permission_matrix(world, who):
    user = world["people"][who]
    patient, registration = world["patient"], world["registration"]
    board_a = world["a"].board
    view, sees_reg, view_unregistered, manage, take_part, register, roles = MATRIX[who]

    assert policy.can_view_patient(user, patient) is view
    assert policy.visible_patients(user).filter(pk=patient.pk).exists() is view
    assert policy.visible_registrations(user).filter(pk=registration.pk).exists() is sees_reg
    assert policy.can_view_patient(user, world["unregistered"]) is view_unregistered
    assert policy.can_manage_board(user, board_a) is manage
    assert policy.can_take_part(user, board_a) is take_part
    assert policy.can_register_patients(user) is register
    assert policy.roles(user) == roles


def test_board_b_is_the_mirror_image(world):
    people, board_b = world["people"], world["b"].board
    assert policy.can_take_part(people["other_board_participant"], board_b)
    assert not policy.can_manage_board(people["other_board_participant"], board_b)
    assert policy.can_manage_board(people["other_territory_admin"], board_b)
    assert not policy.can_take_part(people["participant"], board_b)


def test_visible_querysets_have_no_duplicates(world):
    a = world["a"]
    patient = world["patient"]
    a.register(a.session(dt.date(2026, 12, 8)), patient)  # a second registration
    for user in world["people"].values():
        ids = list(policy.visible_patients(user).values_list("pk", flat=True))
        assert len(ids) == len(set(ids))
    assert (
        policy.visible_patients(world["people"]["participant"]).filter(pk=patient.pk).count() == 1
    )


def test_gp_loses_access_when_no_longer_declared(world):
    gp = world["people"]["gp_of_patient"]
    patient = world["patient"]
    assert policy.can_view_patient(gp, patient)
    patient_actions.declare_gp(
        by=world["a"].registrar, patient=patient, gp_name="Dr AUTRE", gp_rpps=OTHER_GP_RPPS
    )
    assert not policy.can_view_patient(gp, patient)
    assert policy.can_view_patient(world["people"]["other_gp"], patient)


def test_user_without_rpps_is_never_a_gp(world):
    nobody = builders.user()
    assert policy.roles(nobody) == set()
    assert not policy.visible_patients(nobody).exists()
    assert not policy.is_gp_of(nobody, world["patient"])
    assert policy.is_gp_of(world["people"]["gp_of_patient"], world["patient"])
