"""Invariants the database itself enforces (not only forms)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from concerto.directory.models import MSSanteAddress, Professional
from concerto.lib.errors import ActionRefused
from concerto.patients import actions as patient_actions
from concerto.patients.models import Patient
from concerto.rcp import actions
from concerto.rcp.models import CompteRendu, FrozenError, Registration
from tests.builders import World, at, paris

pytestmark = pytest.mark.django_db


def _raises_integrity(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_rpps_length_refused_by_database():
    _raises_integrity(lambda: Professional.objects.create(rpps="1234", last_name="X"))
    _raises_integrity(lambda: Professional.objects.create(rpps="1999999999A", last_name="X"))


def test_rpps_luhn_refused_by_validation():
    professional = Professional(rpps="19999999997", last_name="X")
    with pytest.raises(ValidationError) as excinfo:
        professional.full_clean()
    assert "rpps" in excinfo.value.message_dict


def test_patient_action_refuses_bad_luhn_gp_rpps_and_bad_ins_key():
    world = World()
    with pytest.raises(ValidationError) as excinfo:
        world.patient(gp_rpps="19999999997")
    assert "gp_rpps" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        world.patient(ins_number="185057512345674", ins_oid="1.2.250.1.213.1.4.10")
    assert "ins_number" in excinfo.value.message_dict
    assert not Patient.objects.exists()


def test_ins_format_and_oid_refused_by_database():
    base = {
        "birth_name": "X",
        "first_names": "Y",
        "sex": "M",
        "birth_date": dt.date(1950, 1, 1),
        "birth_place_code": "86194",
    }
    _raises_integrity(lambda: Patient.objects.create(ins_number="12345", ins_oid="x", **base))
    _raises_integrity(lambda: Patient.objects.create(ins_number="185057512345673", **base))
    _raises_integrity(lambda: Patient.objects.create(**{**base, "birth_place_code": "8619"}))


def test_mssante_domain_refused_by_database():
    _raises_integrity(lambda: MSSanteAddress.objects.create(address="dr@gmail.com", kind="PER"))


def test_cim10_format_refused_by_database_and_action():
    world = World()
    with at(paris(2026, 1, 5, 9)):
        session = world.session(dt.date(2026, 1, 20))
        patient = world.patient()
        with pytest.raises(ValidationError):
            world.register(session, patient, cim10_code="C4.0")
        registration = world.register(session, patient)
    _raises_integrity(
        lambda: Registration.objects.filter(pk=registration.pk).update(cim10_code="bad")
    )


def test_registration_refused_for_past_started_or_cancelled_session():
    world = World()
    with at(paris(2026, 1, 5, 9)):
        past = world.session(dt.date(2026, 1, 6))
        cancelled = world.session(dt.date(2026, 1, 13))
        actions.cancel_session(by=world.secretary, session=cancelled)
        patient = world.patient()
    with at(paris(2026, 1, 6, 14, 0)):  # the session starts at 14:00
        with pytest.raises(ActionRefused, match="déjà eu lieu"):
            world.register(past, patient)
        with pytest.raises(ActionRefused, match="annulée"):
            world.register(cancelled, patient)
    assert not Registration.objects.exists()


def test_one_active_registration_per_patient_and_session():
    world = World()
    with at(paris(2026, 1, 5, 9)):
        session = world.session(dt.date(2026, 1, 20))
        patient = world.patient()
        first = world.register(session, patient)
        with pytest.raises(ActionRefused):
            world.register(session, patient)
        _raises_integrity(
            lambda: Registration.objects.create(
                session=session,
                patient=patient,
                registered_by=world.registrar,
                registered_at=paris(2026, 1, 5, 9),
            )
        )
        actions.withdraw_registration(by=world.registrar, registration=first)
        assert world.register(session, patient).pk != first.pk


def test_validated_compte_rendu_is_frozen():
    world = World()
    with at(paris(2026, 1, 5, 9)):
        session = world.session(dt.date(2026, 1, 20))
        registration = world.register(session, world.patient())
    with at(paris(2026, 1, 20, 16)):
        v1 = actions.validate_compte_rendu(
            by=world.participants[0][0],
            registration=registration,
            case_status="discussed",
            proposal="Chirurgie.",
            attendees=world.attendees(),
        )
    v1.proposal = "Changé en place"
    with pytest.raises(FrozenError):
        v1.save()
    with pytest.raises(FrozenError):
        v1.delete()
    with pytest.raises(ActionRefused, match="validé"):
        actions.update_prefiche(by=world.registrar, registration=registration, tnm="T4")
    # A correction is version 2; version 1 is kept unchanged.
    with at(paris(2026, 1, 21, 9)):
        v2 = actions.validate_compte_rendu(
            by=world.participants[0][0],
            registration=registration,
            case_status="discussed",
            proposal="Chirurgie puis radiothérapie.",
            attendees=world.attendees(),
        )
    assert v2.version == 2
    assert CompteRendu.objects.get(pk=v1.pk).proposal == "Chirurgie."


def test_validation_without_quorum_needs_a_recorded_reason():
    world = World()
    with at(paris(2026, 1, 5, 9)):
        registration = world.register(world.session(dt.date(2026, 1, 20)), world.patient())
    two = world.attendees()[:2]
    with pytest.raises(ActionRefused, match="Quorum non atteint"):
        actions.validate_compte_rendu(
            by=two[0][0],
            registration=registration,
            case_status="discussed",
            proposal="X",
            attendees=two,
        )
    compte_rendu = actions.validate_compte_rendu(
        by=two[0][0],
        registration=registration,
        case_status="discussed",
        proposal="X",
        attendees=two,
        quorum_override_reason="Radiothérapeute joint par téléphone.",
    )
    assert not compte_rendu.quorum_met
    _raises_integrity(
        lambda: CompteRendu.objects.create(
            registration=registration,
            version=9,
            case_status="discussed",
            proposal="Y",
            quorum_met=False,
        )
    )


def test_sexes_and_identity_label():
    world = World()
    patient = patient_actions.create_patient(
        by=world.registrar,
        birth_name="dcc",
        first_names="denis  jean",
        sex="M",
        birth_date=dt.date(1944, 9, 14),
        birth_place_code="86194",
    )
    assert patient.identity_label == "Homme DCC DENIS (14/09/1944)"


def test_the_label_keeps_the_birth_traits_and_the_names_lose_their_accents():
    world = World()
    patient = patient_actions.create_patient(
        by=world.registrar,
        birth_name="Lefèvre",
        first_names="Zoé  Anaïs",
        used_name="Mœller",
        used_first_name="Zo",
        sex="F",
        birth_date=dt.date(1944, 9, 14),
        birth_place_code="86194",
    )
    assert (patient.birth_name, patient.first_names) == ("LEFEVRE", "ZOE ANAIS")
    # The birth name and first name a search uses are never hidden by the used ones.
    assert patient.identity_label == (
        "Femme LEFEVRE ZOE — nom utilisé MOELLER, prénom utilisé ZO (14/09/1944)"
    )


def test_every_field_is_labelled_in_french():
    """The back office shows these labels: none may be Django's English default (the
    field's name), except words French shares."""
    from django.apps import apps

    same_in_french = {"action", "date", "version", "patient"}
    english = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        if model.__module__.startswith("concerto.")
        for field in model._meta.get_fields()
        if hasattr(field, "verbose_name")
        and not field.auto_created
        and field.name not in same_in_french
        and field.verbose_name == field.name.replace("_", " ")
    ]
    assert english == []


def test_back_office_titles_give_paris_time():
    from concerto.audit.models import AuditEvent

    event = AuditEvent(at=dt.datetime(2026, 11, 28, 23, 30, tzinfo=dt.UTC), actor="x", action="y")
    assert str(event).startswith("29/11/2026 00:30")  # (was "2026-11-28 23:30", UTC)
