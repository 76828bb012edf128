"""A form sent twice (a double click, two registrars at once) makes one record."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test import Client
from django.urls import reverse

from concerto.audit.models import AuditEvent
from concerto.patients import actions as patient_actions
from concerto.patients.forms import _ids
from concerto.patients.models import Patient
from tests.builders import user

IDENTITY = {
    "birth_name": "ESSAI",
    "first_names": "MARIE",
    "sex": "F",
    "birth_date": "1950-01-31",
    "birth_place_code": "86194",
    "identity_status": "PROV",
    "ins_number": "",
    "ins_oid": "",
}


@pytest.mark.django_db
def test_the_action_refuses_an_identity_saved_already_unless_a_homonym_is_confirmed():
    registrar = user(is_registrar=True)
    kwargs = {k: v for k, v in IDENTITY.items() if k not in {"ins_number", "ins_oid"}}
    kwargs["birth_date"] = dt.date(1950, 1, 31)
    first = patient_actions.create_patient(by=registrar, **kwargs)
    with pytest.raises(patient_actions.PossibleDuplicate) as refused:
        patient_actions.create_patient(by=registrar, **kwargs | {"first_names": "Marie Zoé"})
    assert refused.value.patient_ids == [first.pk]
    second = patient_actions.create_patient(by=registrar, homonyms=[first.pk], **kwargs)
    assert Patient.objects.filter(birth_name="ESSAI").count() == 2
    # The confirmation names the patients shown: one saved since (the confirmed form sent
    # twice) is not confirmed by it.
    with pytest.raises(patient_actions.PossibleDuplicate) as refused:
        patient_actions.create_patient(by=registrar, homonyms=[first.pk], **kwargs)
    assert refused.value.patient_ids == [second.pk]


@pytest.mark.django_db
def test_the_possible_duplicate_is_told_in_plain_french_and_a_confirmed_form_sent_twice_makes_one(
    client,
):
    client.force_login(user(is_registrar=True))
    assert client.post(reverse("rcp:patient-create"), IDENTITY).status_code == 302
    text = BeautifulSoup(
        client.post(reverse("rcp:patient-create"), IDENTITY).content, "html.parser"
    ).get_text()
    assert "existe déjà" in text and '["Un patient' not in text  # (was a Python list)
    # The warning's page carries the ids it named; confirming covers those.
    shown = BeautifulSoup(
        client.post(reverse("rcp:patient-create"), IDENTITY).content, "html.parser"
    ).find("input", {"name": "shown"})["value"]
    confirmed = IDENTITY | {"not_a_duplicate": "on", "birth_place_code": "75056", "shown": shown}
    assert client.post(reverse("rcp:patient-create"), confirmed).status_code == 302
    again = client.post(reverse("rcp:patient-create"), confirmed)  # the double click
    assert again.status_code == 200 and "existe déjà" in again.content.decode()
    assert Patient.objects.filter(birth_name="ESSAI").count() == 2
    # The page names both now: confirming it once more makes the third, knowingly.
    named = BeautifulSoup(again.content, "html.parser").find("input", {"name": "shown"})["value"]
    assert sorted(_ids(named)) == sorted(
        Patient.objects.filter(birth_name="ESSAI").values_list("pk", flat=True)
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_create_patient_makes_one_patient(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    registrar = user(is_registrar=True)
    both_validated = threading.Barrier(2, timeout=10)
    real_create = patient_actions.create_patient

    def create_after_both_validated(**kwargs):  # type: ignore[no-untyped-def]
        both_validated.wait()  # both forms found no such patient
        return real_create(**kwargs)

    monkeypatch.setattr(patient_actions, "create_patient", create_after_both_validated)
    pages: list[str] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = Client()
            client.force_login(registrar)
            pages.append(client.post(reverse("rcp:patient-create"), IDENTITY).content.decode())
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert Patient.objects.filter(birth_name="ESSAI").count() == 1  # was 2: one person, two files
    told = [page for page in pages if "existe déjà" in page]  # the second click is told
    assert len(told) == 1
    # and its page names the patient, for a confirmation to cover it
    shown = BeautifulSoup(told[0], "html.parser").find("input", {"name": "shown"})["value"]
    assert _ids(shown) == [Patient.objects.get(birth_name="ESSAI").pk]
    assert AuditEvent.objects.filter(action="patient.duplicate_hit").count() == 1
