"""``concerto make-directory-sample``: files in the published layout, importable as such."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from concerto.directory.formats import ACTIVITY, MSSANTE, recognise
from concerto.directory.importer import import_directory
from concerto.directory.models import Activity, MSSanteAddress, Professional
from concerto.directory.sample import fictional_rpps, write_sample
from concerto.lib.identifiers import is_valid_rpps

pytestmark = pytest.mark.django_db


def test_fictional_rpps_are_luhn_valid():
    assert all(is_valid_rpps(fictional_rpps(n)) for n in (0, 1, 99, 1_259_999))


def test_sample_has_the_published_layout(tmp_path):
    report = write_sample(tmp_path, professionals=50, seed=5)
    with open(report.activity_path, encoding="utf-8") as f:
        header, first = f.readline(), f.readline()
    layout = recognise(header)
    assert (layout.kind, layout.field_count, layout.trailing_pipe) == (ACTIVITY, 56, True)
    assert first.endswith("|\n") and first.count("|") == 56
    with open(report.mssante_path, encoding="utf-8") as f:
        layout = recognise(f.readline())
    assert (layout.kind, layout.field_count, layout.trailing_pipe) == (MSSANTE, 31, False)


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"activity_columns": 52, "encoding": "cp1252", "as_zip": True},
        {"mssante_trailing_pipe": True},
    ],
)
def test_sample_imports_with_the_counts_it_announces(tmp_path, variant):
    report = write_sample(tmp_path, professionals=3000, seed=11, **variant)
    summary = import_directory(
        by=None, paths=[report.activity_path, report.mssante_path], report=StringIO()
    )
    assert Professional.objects.count() == report.professionals
    assert Activity.objects.count() == report.activity_lines - report.adeli_lines
    assert MSSanteAddress.objects.filter(kind="PER").count() == report.mailboxes["PER"]
    assert MSSanteAddress.objects.filter(kind="ORG").count() == report.mailboxes["ORG"]
    assert summary.bad_lines == report.duplicated_addresses
    assert summary.files[1].ignored == report.adeli_lines or summary.files[0].ignored == (
        report.adeli_lines
    )


def test_churn_gives_additions_changes_and_removals(tmp_path):
    old = write_sample(tmp_path / "a", professionals=2000, seed=8)
    new = write_sample(tmp_path / "b", professionals=2000, seed=8, churn=0.05)
    import_directory(by=None, paths=[old.activity_path, old.mssante_path])
    summary = import_directory(by=None, paths=[new.activity_path, new.mssante_path])
    assert summary.professionals is not None
    assert summary.professionals.added > 10
    assert summary.professionals.changed > 10
    assert summary.professionals.removed > 10
    assert Professional.objects.count() == new.professionals


def test_command_writes_both_files(tmp_path):
    out = StringIO()
    call_command(
        "make-directory-sample", "--professionals", "20", "--out", str(tmp_path), stdout=out
    )
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [
        "Extraction_Correspondance_MSSante_202611270300.txt",
        "PS_LibreAcces_Personne_activite_202611270300.txt",
    ]
    assert "lignes" in out.getvalue()
