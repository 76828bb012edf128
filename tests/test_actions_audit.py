"""Actions write their audit event in the same transaction."""

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from concerto.audit.models import AuditEvent
from concerto.lib.errors import ActionRefused
from concerto.rcp import actions
from concerto.rcp.models import Board, NewsItem, Registration
from tests.builders import World, at, paris

pytestmark = pytest.mark.django_db


def test_each_action_writes_its_event():
    world = World()
    with at(paris(2026, 3, 2, 9)):
        session = world.session(dt.date(2026, 3, 17))
        patient = world.patient()
        registration = world.register(session, patient)
    actions_seen = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "board.create",
        "board.add_member",
        "board.notification_consent",
        "board.notifications_enabled",
        "session.schedule",
        "patient.create",
        "registration.create",
        "registration.complete_prefiche",
    } <= actions_seen
    event = AuditEvent.objects.get(action="registration.create")
    assert event.object_id == str(registration.pk)
    assert event.patient_id == patient.pk
    assert event.actor_id == world.registrar.pk
    assert event.at == paris(2026, 3, 2, 9)


def test_refused_action_leaves_neither_change_nor_event():
    world = World()
    with at(paris(2026, 3, 2, 9)):
        session = world.session(dt.date(2026, 3, 17))
        patient = world.patient()
    before = AuditEvent.objects.count()
    with at(paris(2026, 3, 2, 9)), pytest.raises(ValidationError):
        world.register(session, patient, cim10_code="bad")
    assert AuditEvent.objects.count() == before
    assert not Registration.objects.exists()


def test_failure_after_the_event_rolls_both_back():
    world = World()
    with at(paris(2026, 3, 2, 9)):
        session = world.session(dt.date(2026, 3, 17))
        patient = world.patient()
        before = AuditEvent.objects.count()
        # The news line is written after the registration row: make it fail.
        with (
            mock.patch.object(
                NewsItem.objects, "update_or_create", side_effect=RuntimeError("boom")
            ),
            pytest.raises(RuntimeError),
        ):
            world.register(session, patient, complete=False)
    assert AuditEvent.objects.count() == before
    assert not Registration.objects.exists()


def test_opt_in_needs_every_member_and_withdrawal_switches_it_off():
    world = World(opted_in=False)
    participant = world.participants[0][0]
    with pytest.raises(ActionRefused, match="Accord manquant"):
        actions.enable_notifications(by=world.secretary, board=world.board)
    members = [world.secretary] + [m for m, _ in world.participants]
    for member in members[:-1]:
        actions.record_notification_consent(by=member, board=world.board, user=member, agreed=True)
    with pytest.raises(ActionRefused, match=members[-1].last_name):
        actions.enable_notifications(by=world.secretary, board=world.board)
    actions.record_notification_consent(
        by=members[-1], board=world.board, user=members[-1], agreed=True
    )
    board = actions.enable_notifications(by=world.secretary, board=world.board)
    assert board.notifications_enabled and board.notifications_enabled_at
    actions.record_notification_consent(
        by=participant, board=world.board, user=participant, agreed=False
    )
    board = Board.objects.get(pk=world.board.pk)
    assert not board.notifications_enabled
    assert board.consents.count() == len(members) + 1  # the log keeps every position
    # An agreement given again (the button clicked twice): no second line (there was
    # one per click); a withdrawal always counts (it switches an enabled opt-in off).
    actions.record_notification_consent(
        by=members[0], board=world.board, user=members[0], agreed=True
    )
    assert board.consents.count() == len(members) + 1
    actions.record_notification_consent(
        by=participant, board=world.board, user=participant, agreed=False
    )
    assert board.consents.count() == len(members) + 2


def test_news_lines_follow_the_registration():
    world = World(title="Tumeurs rares neuroendocrines RENATEN")
    with at(paris(2022, 9, 1, 9)):
        session = world.session(dt.date(2022, 9, 13))
        patient = world.patient()
        registration = world.register(session, patient)
    item = NewsItem.objects.get(registration=registration, kind="upcoming")
    assert (
        item.text == "A venir : présentation en Tumeurs rares neuroendocrines RENATEN le 13/09/2022"
    )
    with at(paris(2022, 9, 2, 9)):
        actions.move_session(
            by=world.secretary, session=session, date=dt.date(2022, 9, 20), time=dt.time(14, 0)
        )
    item.refresh_from_db()
    assert item.date == dt.date(2022, 9, 20)
    assert item.text.endswith("le 20/09/2022")
    with at(paris(2022, 9, 3, 9)):
        actions.withdraw_registration(by=world.registrar, registration=registration)
    assert not NewsItem.objects.filter(registration=registration, kind="upcoming").exists()


def test_complete_prefiche_refuses_missing_fields_and_keeps_first_instant():
    world = World()
    with at(paris(2026, 3, 2, 9)):
        registration = world.register(
            world.session(dt.date(2026, 3, 17)), world.patient(), complete=False, question=""
        )
        with pytest.raises(ActionRefused, match="question posée"):
            actions.complete_prefiche(by=world.registrar, registration=registration)
        actions.update_prefiche(
            by=world.registrar, registration=registration, question="Chirurgie ?"
        )
        first = actions.complete_prefiche(by=world.registrar, registration=registration)
    with at(paris(2026, 3, 5, 9)):
        again = actions.complete_prefiche(by=world.registrar, registration=registration)
    assert first.prefiche_completed_at == again.prefiche_completed_at == paris(2026, 3, 2, 9)


def test_pps_creates_the_gp_news_line():
    world = World()
    with at(paris(2022, 7, 1, 9)):
        registration = world.register(world.session(dt.date(2022, 7, 5)), world.patient())
    with at(paris(2022, 7, 5, 16)):
        compte_rendu = world.decide(registration, "discussed", "Chirurgie.")
    with at(paris(2022, 7, 7, 10)):
        actions.generate_pps(
            by=world.participants[0][0],
            compte_rendu=compte_rendu,
            doctor_name="BENAND PHILIPPE",
            establishment_name="POLYCLINIQUE DE POITIERS",
            content="…",
        )
    line = NewsItem.objects.get(kind="pps")
    assert line.date == dt.date(2022, 7, 7)
    assert line.text == (
        "Tumeur maligne du plancher antérieur de la bouche Nouveau PPS généré "
        "par BENAND PHILIPPE (POLYCLINIQUE DE POITIERS)"
    )


def test_held_session_turns_the_upcoming_line_into_a_past_presentation():
    world = World(title="Tumeurs rares neuroendocrines RENATEN")
    with at(paris(2022, 9, 1, 9)):
        registration = world.register(world.session(dt.date(2022, 9, 13)), world.patient())
    with at(paris(2022, 9, 13, 18)):
        actions.mark_session_held(by=world.secretary, session=registration.session)
    item = NewsItem.objects.get(registration=registration, kind="upcoming")
    assert item.text == "Présenté en Tumeurs rares neuroendocrines RENATEN le 13/09/2022"
    assert item.date == dt.date(2022, 9, 13)


def test_a_validated_compte_rendu_makes_the_files_line_a_past_presentation():
    """The session is not always marked held: the file's validated decision is enough for
    its GP's line to stop announcing a past date, and a rename of the board keeps it so."""
    world = World(title="Tumeurs rares neuroendocrines RENATEN")
    with at(paris(2022, 9, 1, 9)):
        session = world.session(dt.date(2022, 9, 13))
        decided = world.register(session, world.patient())
        other = world.register(session, world.patient())
    with at(paris(2022, 9, 13, 15)):
        world.decide(decided)
    text = NewsItem.objects.get(registration=decided, kind="upcoming").text
    assert text == "Présenté en Tumeurs rares neuroendocrines RENATEN le 13/09/2022"
    assert NewsItem.objects.get(registration=other, kind="upcoming").text.startswith("A venir")
    world.board.title = "RCP renommée"
    world.board.save()
    actions.refresh_upcoming_news(world.board)
    assert NewsItem.objects.get(registration=decided, kind="upcoming").text == (
        "Présenté en RCP renommée le 13/09/2022"
    )
    assert NewsItem.objects.get(registration=other, kind="upcoming").text == (
        "A venir : présentation en RCP renommée le 13/09/2022"
    )


def test_actions_events_carry_the_actors_role():
    """Who acted *as what*: the trail's role, on writes as on reads (SPEC §1)."""
    world = World()
    with at(paris(2026, 3, 2, 9)):
        session = world.session(dt.date(2026, 3, 17))
        patient = world.patient()
        registration = world.register(session, patient)
    participant = world.participants[0][0]
    with at(paris(2026, 3, 3, 9)):
        actions.save_gp_contribution(
            by=participant,
            registration=registration,
            comment="Avis",
            wants_to_join=False,
            role="medecin_traitant",
        )
        actions.move_session(
            by=world.secretary, session=session, date=dt.date(2026, 3, 24), time=dt.time(14)
        )
    roles = dict(AuditEvent.objects.values_list("action", "actor_role"))
    assert roles["registration.create"] == "medecin_inscripteur"
    assert roles["registration.complete_prefiche"] == "medecin_inscripteur"
    assert roles["session.schedule"] == "organisateur"
    assert roles["session.move"] == "organisateur"
    assert roles["board.add_member"] == "organisateur"
    # (a role the caller knows better is kept: the portal's GP)
    assert roles["registration.gp_contribution"] == "medecin_traitant"
    assert roles["patient.create"] == ""
