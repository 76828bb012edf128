"""Reading the national id from PSC's claims (pure functions, no database)."""

from __future__ import annotations

import pytest

from concerto.accounts.identity import IdentityRefused, national_ids, rpps_of

RPPS = "19999999998"
OTHER = "10000000009"


@pytest.mark.parametrize(
    "claims",
    [
        {"SubjectNameID": "8" + RPPS},
        {"preferred_username": "8" + RPPS},
        {"otherIds": [{"identifiant": RPPS, "origine": "RPPS", "qualite": 1}]},
        {"otherIds": [{"identifiant": "8" + RPPS, "origine": "RPPS"}]},
        {
            "SubjectNameID": "8" + RPPS,
            "preferred_username": "8" + RPPS,
            "otherIds": [{"identifiant": RPPS, "origine": "RPPS"}],
        },
    ],
)
def test_rpps_from_every_place_psc_puts_it(claims):
    assert rpps_of({"sub": "opaque", **claims}) == RPPS


def test_sub_is_never_the_rpps():
    with pytest.raises(IdentityRefused) as refused:
        rpps_of({"sub": "8" + RPPS})
    assert refused.value.reason == "no_identifier"


def test_adeli_only():
    claims = {
        "SubjectNameID": "0869999999",
        "otherIds": [{"identifiant": "869999999", "origine": "ADELI"}],
    }
    assert national_ids(claims).adeli == frozenset({"869999999"})
    with pytest.raises(IdentityRefused) as refused:
        rpps_of(claims)
    assert refused.value.reason == "adeli_only"


def test_adeli_and_rpps_takes_the_rpps():
    claims = {
        "SubjectNameID": "8" + RPPS,
        "otherIds": [{"identifiant": "869999999", "origine": "ADELI"}],
    }
    assert rpps_of(claims) == RPPS


def test_two_different_rpps_are_refused():
    with pytest.raises(IdentityRefused) as refused:
        rpps_of({"SubjectNameID": "8" + RPPS, "preferred_username": "8" + OTHER})
    assert refused.value.reason == "identity_inconsistent"


def test_rpps_failing_luhn_is_refused():
    with pytest.raises(IdentityRefused) as refused:
        rpps_of({"SubjectNameID": "810102727017"})  # the ANS guides' example: fails Luhn
    assert refused.value.detail == "rpps_checksum"


@pytest.mark.parametrize(
    "claims",
    [{}, {"SubjectNameID": 812}, {"otherIds": "8" + RPPS}, {"otherIds": [None, 3]}],
)
def test_malformed_claims_are_refused_not_crashing(claims):
    with pytest.raises(IdentityRefused):
        rpps_of(claims)
