import pytest
from django.core.exceptions import ValidationError

from concerto.lib import identifiers
from concerto.lib.validators import validate_cim10, validate_ins, validate_rpps


@pytest.mark.parametrize("value", ["19999999998", "10000000009"])
def test_synthetic_rpps_are_valid(value):
    assert identifiers.is_valid_rpps(value)
    validate_rpps(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1999999999", "rpps"),
        ("199999999981", "rpps"),
        ("1999999999A", "rpps"),
        ("10102727017", "rpps_luhn"),
        ("19999999997", "rpps_luhn"),
    ],
)
def test_invalid_rpps_refused_with_reason(value, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_rpps(value)
    assert excinfo.value.code == code


@pytest.mark.parametrize(
    ("nir", "key"),
    [("1850575123456", 73), ("2951099126111", 93), ("184122A123456", 97), ("269052B004002", 65)],
)
def test_ins_key_vectors(nir, key):
    assert identifiers.ins_key(nir) == key
    assert identifiers.is_valid_ins(f"{nir}{key:02d}")
    assert not identifiers.is_valid_ins(f"{nir}{(key % 97) + 1:02d}")


def test_ins_validator_refuses_bad_key_and_shape():
    validate_ins("185057512345673")
    for bad in ("185057512345674", "18505751234567", "385057512345673", ""):
        with pytest.raises(ValidationError):
            validate_ins(bad)


@pytest.mark.parametrize("code", ["C04.0", "C61", "C50.91", "D05.1"])
def test_cim10_valid(code):
    validate_cim10(code)


@pytest.mark.parametrize("code", ["c04.0", "C4.0", "C04.", "C04.123", "04.0", "C04-0", ""])
def test_cim10_invalid(code):
    with pytest.raises(ValidationError):
        validate_cim10(code)


def test_national_id_to_rpps():
    assert identifiers.rpps_from_national_id("819999999998") == "19999999998"
    assert identifiers.rpps_from_national_id("0123456789") is None
    assert identifiers.rpps_from_national_id("019999999998") is None
