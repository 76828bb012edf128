"""The eligibility rule (SPEC §4): each condition failing alone gives exactly its reason."""

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from concerto.notifications.eligibility import Facts, Reason, evaluate

PARIS = ZoneInfo("Europe/Paris")
N = dt.date(2022, 9, 9)  # notification day of the Tuesday 13/09/2022 session

GOOD = Facts(
    gp_name="Dr FICTIF",
    gp_rpps="19999999998",
    mssante_addresses=("dr.fictif@medecin.mssante.fr",),
    board_opted_in=True,
    prefiche_completed_at=dt.datetime(2022, 9, 8, 17, 0, tzinfo=PARIS),
    notification_day=N,
    registration_withdrawn=False,
    session_cancelled=False,
    session_starts_at=dt.datetime(2022, 9, 13, 14, 0, tzinfo=PARIS),
    now=dt.datetime(2022, 9, 9, 8, 0, tzinfo=PARIS),
)


def test_all_conditions_hold():
    result = evaluate(GOOD)
    assert result.eligible
    assert result.reasons == ()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gp_name": "", "gp_rpps": None}, Reason.NO_GP),
        ({"gp_rpps": None}, Reason.GP_WITHOUT_RPPS),
        ({"gp_rpps": ""}, Reason.GP_WITHOUT_RPPS),
        ({"mssante_addresses": ()}, Reason.NO_MSSANTE_ADDRESS),
        (
            {"mssante_addresses": (), "organisational_addresses_only": True},
            Reason.ORGANISATIONAL_ADDRESS_ONLY,
        ),
        ({"board_opted_in": False}, Reason.BOARD_NOT_OPTED_IN),
        (
            {"prefiche_completed_at": dt.datetime(2022, 9, 10, 0, 5, tzinfo=PARIS)},
            Reason.PREFICHE_LATE,
        ),
        ({"registration_withdrawn": True}, Reason.REGISTRATION_WITHDRAWN),
        ({"session_cancelled": True}, Reason.SESSION_CANCELLED),
        ({"now": dt.datetime(2022, 9, 13, 14, 0, tzinfo=PARIS)}, Reason.SESSION_STARTED),
        ({"already_notified": True}, Reason.ALREADY_NOTIFIED),
        (
            {"prefiche_completed_at": None, "now": dt.datetime(2022, 9, 12, 9, tzinfo=PARIS)},
            Reason.PREFICHE_INCOMPLETE,
        ),
    ],
)
def test_each_condition_alone(change, reason):
    result = evaluate(dataclasses.replace(GOOD, **change))
    assert not result.eligible
    assert result.reasons == (reason,)
    assert result.labels == [reason.label]
    assert not result.provisional


def test_completed_late_on_notification_day_still_counts():
    # "complete on or before day N": 23:59 Paris time on day N is in time…
    in_time = dataclasses.replace(
        GOOD, prefiche_completed_at=dt.datetime(2022, 9, 9, 23, 59, tzinfo=PARIS)
    )
    assert evaluate(in_time).eligible
    # …even though it is already the next day in UTC? No: 23:59 Paris is 21:59 UTC.
    # 00:30 Paris on day N+1 is 22:30 UTC on day N, and is late.
    late = dataclasses.replace(
        GOOD, prefiche_completed_at=dt.datetime(2022, 9, 9, 22, 30, tzinfo=dt.UTC)
    )
    assert evaluate(late).reasons == (Reason.PREFICHE_LATE,)


def test_incomplete_prefiche_is_provisional_until_day_n_is_over():
    waiting = dataclasses.replace(GOOD, prefiche_completed_at=None)
    result = evaluate(waiting)
    assert result.reasons == (Reason.PREFICHE_INCOMPLETE,)
    assert result.provisional  # the registrar may still complete it today


def test_reasons_accumulate():
    result = evaluate(
        dataclasses.replace(GOOD, gp_rpps=None, board_opted_in=False, session_cancelled=True)
    )
    assert set(result.reasons) == {
        Reason.GP_WITHOUT_RPPS,
        Reason.BOARD_NOT_OPTED_IN,
        Reason.SESSION_CANCELLED,
    }


def test_a_personal_address_is_used_even_when_organisational_ones_are_known_too():
    assert evaluate(dataclasses.replace(GOOD, organisational_addresses_only=False)).eligible


def test_labels_are_french():
    assert Reason.NO_MSSANTE_ADDRESS.label.startswith("aucune adresse MSSanté")
    # Not "no address known" when the directory knows one: it is not a personal one.
    assert Reason.ORGANISATIONAL_ADDRESS_ONLY.label == (
        "seule une adresse MSSanté organisationnelle (cabinet, établissement) est connue dans"
        " l'annuaire pour ce RPPS : la notification ne part que vers une adresse personnelle"
    )
    assert Reason.PREFICHE_LATE.label == "pré-fiche complétée après le jour de notification"
