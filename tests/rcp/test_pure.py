"""Pure helpers: recurrence of sessions, CIM-10 subset, content sniffing, PDF text."""

from __future__ import annotations

import datetime as dt

import pytest

from concerto.lib.identifiers import is_valid_cim10
from concerto.rcp import cim10, pdf, recurrence, uploads
from tests.rcp.conftest import ELF, MZ, PDF, PNG


def test_every_friday_skipping_christmas_and_new_year():
    plan = recurrence.weekly_dates(
        start=dt.date(2026, 12, 14),
        end=dt.date(2027, 1, 8),
        weekday=4,
        skip_holidays=True,
    )
    assert plan.dates == (dt.date(2026, 12, 18), dt.date(2027, 1, 8))
    assert plan.skipped_holidays == (dt.date(2026, 12, 25), dt.date(2027, 1, 1))


def test_holidays_are_kept_unless_asked():
    plan = recurrence.weekly_dates(start=dt.date(2026, 12, 14), end=dt.date(2027, 1, 8), weekday=4)
    assert len(plan.dates) == 4
    assert plan.skipped_holidays == ()


def test_good_friday_is_skipped_only_in_alsace_moselle():
    kwargs = {
        "start": dt.date(2027, 3, 22),
        "end": dt.date(2027, 3, 31),
        "weekday": 4,
        "skip_holidays": True,
    }
    assert recurrence.weekly_dates(**kwargs).dates == (dt.date(2027, 3, 26),)
    alsace = recurrence.weekly_dates(**kwargs, subdivision="57")
    assert alsace.dates == ()
    assert alsace.skipped_holidays == (dt.date(2027, 3, 26),)


def test_every_two_weeks_on_tuesday_starts_on_the_first_tuesday():
    plan = recurrence.weekly_dates(
        start=dt.date(2026, 3, 4), end=dt.date(2026, 4, 30), weekday=1, every_weeks=2
    )
    assert plan.dates == (
        dt.date(2026, 3, 10),
        dt.date(2026, 3, 24),
        dt.date(2026, 4, 7),
        dt.date(2026, 4, 21),
    )


def test_an_inverted_period_is_refused():
    with pytest.raises(ValueError):
        recurrence.weekly_dates(start=dt.date(2026, 3, 4), end=dt.date(2026, 3, 1), weekday=1)


def test_cim10_subset_is_well_formed_and_searchable_by_code_or_label():
    entries = cim10.entries()
    assert len(entries) > 50
    assert all(is_valid_cim10(e.code) for e in entries)
    assert len({e.code for e in entries}) == len(entries)
    assert cim10.search("C04")[0].code.startswith("C04")
    assert "C50.4" in [e.code for e in cim10.search("sein")]
    assert "C18.7" in [e.code for e in cim10.search("colon sigmoide")]  # accents ignored
    assert cim10.label_for("c04.0") == "Tumeur maligne du plancher antérieur de la bouche"
    assert cim10.search("") == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (b"\xff\xd8\xff\xdb", "image/jpeg")],
)
def test_sniff_accepts_pdf_png_jpeg(content, expected):
    assert uploads.sniff(content) == expected


@pytest.mark.parametrize("content", [ELF, MZ, b"", b"GIF89a", b" %PDF-1.4"])
def test_sniff_refuses_anything_else(content):
    assert uploads.sniff(content) is None


def test_stored_names_cannot_escape_the_documents_folder():
    for name in ("../etc/passwd", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            uploads.path_of(name)


def test_pdf_text_keeps_clinical_notation_and_marks_what_the_font_lacks():
    text = "β-HCG, α-FP, 5 μg, HER2−, T→N, 10⁹/L, ≥ 3, l’œdème…"
    assert pdf.printable(text) == text  # (Latin-1 fonts printed "?-HCG", "HER2?"…)
    assert pdf.printable("ok 🙂") == "ok ?"
    # A browser's textarea sends CR LF: a line break, not "?" at each line's end.
    assert pdf.printable("Ligne 1\r\nLigne 2\tfin") == "Ligne 1\nLigne 2    fin"
