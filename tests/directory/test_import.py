"""``concerto import-directory``: layouts, encodings, bad lines, atomicity, refresh counts."""

from __future__ import annotations

import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from concerto.audit.models import AuditEvent
from concerto.directory import importer
from concerto.directory.importer import ImportRefused, import_directory
from concerto.directory.lookup import mssante_addresses
from concerto.directory.models import Activity, DirectorySource, MSSanteAddress, Professional
from concerto.directory.sample import MSSANTE_HEADER, write_sample
from concerto.directory.sources import BUFFER
from tests.directory.files import (
    BAD_LUHN,
    RPPS,
    activity_file,
    activity_row,
    mailbox_row,
    mssante_file,
)

pytestmark = pytest.mark.django_db


def run(*paths: Path, report: StringIO | None = None, **kw):
    return import_directory(by=None, paths=list(paths), report=report or StringIO(), **kw)


def snapshot() -> dict[str, list[tuple]]:
    return {
        "professionals": sorted(
            Professional.objects.values_list("rpps", "last_name", "first_name", "specialty_code")
        ),
        "activities": sorted(Activity.objects.values_list("key", "rpps", "structure_name")),
        "addresses": sorted(
            MSSanteAddress.objects.values_list("address", "kind", "rpps", "structure_name")
        ),
    }


@pytest.fixture
def v1(tmp_path: Path) -> tuple[Path, Path]:
    """A first directory: three doctors, four activities, four mailboxes."""
    folder = tmp_path / "v1"
    folder.mkdir()
    act = activity_file(
        folder,
        [
            activity_row(RPPS[0], **{"Nom d'exercice": "PREMIERFICTIF"}),
            activity_row(
                RPPS[0],
                **{
                    "Nom d'exercice": "PREMIERFICTIF",
                    "Raison sociale site": "CENTRE HOSPITALIER FICTIF",
                },
            ),
            activity_row(RPPS[1], **{"Nom d'exercice": "SECONDEXEMPLE"}),
            activity_row(RPPS[2], **{"Nom d'exercice": "TROISIEMEDEMO"}),
        ],
    )
    mss = mssante_file(
        folder,
        [
            mailbox_row("premier.fictif@medecin.mssante.fr", RPPS[0]),
            mailbox_row("secretariat@ch-fictif.mssante.fr", RPPS[0], kind="ORG"),
            mailbox_row("second.exemple@medecin.mssante.fr", RPPS[1]),
            mailbox_row("troisieme.demo@medecin.mssante.fr", RPPS[2]),
        ],
    )
    return act, mss


# --- layouts and encodings -------------------------------------------------------------


def test_first_import_fills_the_directory(v1):
    summary = run(*v1)
    assert Professional.objects.count() == 3
    assert Activity.objects.count() == 4
    assert MSSanteAddress.objects.count() == 4
    first = Professional.objects.get(rpps=RPPS[0])
    assert (first.last_name, first.first_name, first.civility) == (
        "PREMIERFICTIF",
        "Jean",
        "Docteur",
    )
    assert (first.profession_code, first.specialty_code) == ("10", "SM54")
    assert first.specialty_label == "Médecine générale"
    assert summary.professionals is not None and summary.professionals.added == 3
    assert summary.addresses is not None and summary.addresses.added == 4
    assert summary.totals["addresses_PER"] == 3 and summary.totals["addresses_ORG"] == 1
    activity = Activity.objects.filter(rpps=RPPS[1]).get()
    assert activity.street == "3 Rue DES EXEMPLES"
    assert (activity.postal_code, activity.city) == ("86000", "Poitiers")


def _schema() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return {
            model._meta.db_table: {
                name: (tuple(c["columns"]), c["unique"], c["index"], c["check"])
                for name, c in connection.introspection.get_constraints(
                    cursor, model._meta.db_table
                ).items()
            }
            for model in (Professional, Activity, MSSanteAddress)
        }


def test_first_import_keeps_every_index_and_constraint(v1):
    # On PostgreSQL the first import into empty tables rebuilds indexes after the insert.
    before = _schema()
    run(*v1)
    assert _schema() == before
    assert any(
        unique and columns == ("key",)
        for columns, unique, _, _ in before[Activity._meta.db_table].values()
    )


def test_lookup_gives_personal_addresses_only(v1):
    run(*v1)
    assert mssante_addresses(RPPS[0]) == ["premier.fictif@medecin.mssante.fr"]
    assert MSSanteAddress.objects.filter(rpps=RPPS[0], kind="ORG").exists()
    assert mssante_addresses(RPPS[5]) == []


def test_older_52_column_activity_file(tmp_path):
    path = activity_file(tmp_path, [activity_row(RPPS[3])], columns=52)
    summary = run(path)
    assert summary.files[0].layout.field_count == 52
    assert Professional.objects.get(rpps=RPPS[3]).last_name == f"NOMFICTIF{RPPS[3][-3:]}"


@pytest.mark.parametrize("trailing", [True, False])
def test_trailing_pipe_present_or_absent(tmp_path, trailing):
    act = activity_file(tmp_path, [activity_row(RPPS[4])], trailing=trailing)
    mss = mssante_file(
        tmp_path, [mailbox_row("quatre@medecin.mssante.fr", RPPS[4])], trailing=trailing
    )
    summary = run(act, mss)
    assert summary.bad_lines == 0
    assert {f.layout.trailing_pipe for f in summary.files} == {trailing}
    assert mssante_addresses(RPPS[4]) == ["quatre@medecin.mssante.fr"]
    assert Professional.objects.get(rpps=RPPS[4]).first_name == "Jean"


def test_empty_last_field_is_not_a_trailing_pipe(tmp_path):
    # No trailing "|" and an empty last column ("Pays"): the line still ends with "|".
    mss = mssante_file(
        tmp_path,
        [mailbox_row("vide@medecin.mssante.fr", RPPS[4], **{"Pays structure BAL": ""})],
        trailing=False,
    )
    assert run(mss).bad_lines == 0
    assert MSSanteAddress.objects.filter(address="vide@medecin.mssante.fr").exists()


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_both_encodings(tmp_path, encoding):
    name = "HÉLÈNE-FRANÇOISE"
    act = activity_file(
        tmp_path,
        [activity_row(RPPS[5], **{"Prénom d'exercice": name, "Nom d'exercice": "CHIMÈRE"})],
        encoding=encoding,
        newline="\r\n",
    )
    summary = run(act)
    professional = Professional.objects.get(rpps=RPPS[5])
    assert (professional.first_name, professional.last_name) == (name, "CHIMÈRE")
    assert summary.files[0].cp1252_lines == (1 if encoding == "cp1252" else 0)


def test_names_without_structure_bal_suffix(tmp_path):
    header = [name.replace(" structure BAL", "") for name in MSSANTE_HEADER]
    row = mailbox_row("sans.suffixe@medecin.mssante.fr", RPPS[6])
    row["Raison Sociale"] = "CABINET SANS SUFFIXE"
    mss = mssante_file(tmp_path, [row], header=header)
    run(mss)
    assert MSSanteAddress.objects.get().structure_name == "CABINET SANS SUFFIXE"


def test_zip_input(tmp_path, v1):
    archives = []
    for path in v1:
        archive = tmp_path / (path.stem + ".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(path, path.name)
        archives.append(archive)
    summary = run(*archives)
    assert Professional.objects.count() == 3
    assert MSSanteAddress.objects.count() == 4
    assert sorted(f.name for f in summary.files) == [
        "Extraction_Correspondance_MSSante_202611270300.zip:"
        "Extraction_Correspondance_MSSante_202611270300.txt",
        "PS_LibreAcces_Personne_activite_202611270300.zip:"
        "PS_LibreAcces_Personne_activite_202611270300.txt",
    ]


@pytest.mark.parametrize("order", ["grouped", "scattered"])
def test_the_professional_comes_from_the_line_with_a_specialty(tmp_path, order):
    no_skill = {"Code type savoir-faire": "", "Code savoir-faire": "", "Libellé savoir-faire": ""}
    other = {"Code type savoir-faire": "CEX", "Code savoir-faire": "CE01"}
    a = [
        activity_row(RPPS[9], **{"Nom d'exercice": "SANSSPECIALITE"}, **no_skill),
        activity_row(RPPS[9], **{"Nom d'exercice": "AUTRESAVOIR"}, **other),
        activity_row(RPPS[9], **{"Nom d'exercice": "AVECSPECIALITE"}),
    ]
    b = [activity_row(RPPS[3]), activity_row(RPPS[12])]
    rows = [b[0], *a, b[1]] if order == "grouped" else [a[0], b[0], a[1], b[1], a[2]]
    summary = run(activity_file(tmp_path, rows))
    assert summary.files[0].grouped == (order == "grouped")
    # Into an empty directory, PostgreSQL loads a grouped file's professionals straight
    # into their table; scattered ones are settled in the staging table first.
    assert summary.files[0].professionals_direct == (
        order == "grouped" and connection.vendor == "postgresql"
    )
    professional = Professional.objects.get(rpps=RPPS[9])
    assert (professional.last_name, professional.specialty_code) == ("AVECSPECIALITE", "SM54")
    assert Professional.objects.count() == 3


def test_over_long_values_are_cut_to_the_column_size(tmp_path):
    act = activity_file(
        tmp_path,
        [
            activity_row(
                RPPS[8],
                **{"Nom d'exercice": "É" * 150, "Raison sociale site": "CABINET " + "Ç" * 300},
            )
        ],
    )
    run(act)
    assert Professional.objects.get(rpps=RPPS[8]).last_name == "É" * 120
    assert Activity.objects.get(rpps=RPPS[8]).structure_name == ("CABINET " + "Ç" * 300)[:200]


def test_adeli_lines_are_ignored_not_rejected(tmp_path):
    act = activity_file(
        tmp_path,
        [
            activity_row(RPPS[7]),
            activity_row("123456789", **{"Type d'identifiant PP": "0"}),
        ],
    )
    summary = run(act)
    assert summary.bad_lines == 0
    assert summary.files[0].ignored == 1
    assert list(Professional.objects.values_list("rpps", flat=True)) == [RPPS[7]]


# --- bad lines -------------------------------------------------------------------------


def test_each_bad_line_is_reported_with_its_number_and_the_run_goes_on(tmp_path):
    good_act = [activity_row(r) for r in RPPS[:20]]
    act = activity_file(
        tmp_path,
        [
            *good_act[:5],
            "8|" + RPPS[20] + "|too|few|fields|",  # line 7
            activity_row("1234567890"),  # line 8: 10 digits
            activity_row(BAD_LUHN),  # line 9: Luhn
            *good_act[5:],
        ],
    )
    mss = mssante_file(
        tmp_path,
        [mailbox_row(f"dr{n}@medecin.mssante.fr", r) for n, r in enumerate(RPPS[:20])]
        + [
            mailbox_row("dr.gmail@gmail.com", RPPS[0]),  # line 22: outside MSSanté
            mailbox_row("DR3@medecin.mssante.fr", RPPS[3]),  # line 23: duplicate of line 5
            mailbox_row("inconnu@medecin.mssante.fr", RPPS[4], kind="XYZ"),  # line 24
        ],
    )
    report = StringIO()
    summary = run(act, mss, report=report, max_bad_share=0.5)
    lines = report.getvalue().splitlines()
    assert lines[0] == "fichier\tligne\tmotif\tdétail"
    rejected = {
        (line.split("\t")[0], int(line.split("\t")[1]), line.split("\t")[2]) for line in lines[1:]
    }
    assert rejected == {
        (act.name, 7, "nombre de champs incorrect"),
        (act.name, 8, "RPPS invalide"),
        (act.name, 9, "RPPS invalide"),
        (mss.name, 22, "adresse hors domaine MSSanté"),
        (mss.name, 23, "ligne ou adresse en double"),
        (mss.name, 24, "type de BAL inconnu"),
    }
    assert "clé de contrôle (Luhn) fausse" in report.getvalue()
    assert "10 chiffres au lieu de 11" in report.getvalue()
    assert "déjà vue ligne 5" in report.getvalue()
    assert summary.bad_lines == 6
    # The run went on: every good line is in.
    assert Professional.objects.count() == 20
    assert MSSanteAddress.objects.count() == 20


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # Grouped by RPPS: found while reading, among each professional's lines.
        ("grouped", {4: 3, 6: 5}),
        # Scattered from the start: found in the staging table.
        ("scattered", {4: 2, 6: 3}),
        # Grouped at first, then an RPPS comes back: both ways, each line reported once.
        ("regrouped", {3: 2, 6: 2}),
    ],
)
@pytest.mark.parametrize("directory", ["empty", "filled"])
def test_a_repeated_activity_line_is_reported_once_with_its_first_line(
    tmp_path, order, expected, directory
):
    if directory == "filled":
        (tmp_path / "before").mkdir()
        run(activity_file(tmp_path / "before", [activity_row(RPPS[20])]))
    x0 = activity_row(RPPS[3])
    x1 = activity_row(RPPS[5])
    x2 = activity_row(RPPS[5], **{"Raison sociale site": "CENTRE FICTIF"})
    x3 = activity_row(RPPS[7])
    rows = {
        "grouped": [x0, x1, x1, x2, x2, x3],
        "scattered": [x1, x0, x1, x2, x0, x3],
        "regrouped": [x0, x0, x1, x2, x0, x3],
    }[order]
    report = StringIO()
    summary = run(activity_file(tmp_path, rows), report=report, max_bad_share=0.5)
    assert summary.files[0].grouped == (order == "grouped")
    # Into an empty directory, PostgreSQL loads the activities straight into their table.
    assert summary.files[0].direct == (directory == "empty" and connection.vendor == "postgresql")
    found = {
        int(line.split("\t")[1]): line.split("\t")[3] for line in report.getvalue().splitlines()[1:]
    }
    assert found == {line: f"ligne déjà vue ligne {first}" for line, first in expected.items()}
    assert summary.bad_lines == 2
    assert Activity.objects.count() == 4
    assert Professional.objects.count() == 3


@pytest.mark.parametrize("directory", ["empty", "filled"])
def test_a_repeated_address_is_reported_with_its_first_line(tmp_path, directory):
    """Into an empty directory (PostgreSQL, both files), the address file is loaded straight
    into its table and repeats are found while reading; else in the staging table."""
    if directory == "filled":
        (tmp_path / "before").mkdir()
        before = [mailbox_row("avant@medecin.mssante.fr", RPPS[20])]
        run(activity_file(tmp_path / "before", [activity_row(RPPS[20])]))
        run(mssante_file(tmp_path / "before", before))
    act = activity_file(tmp_path, [activity_row(r) for r in RPPS[:3]])
    mss = mssante_file(
        tmp_path,
        [
            mailbox_row("un@medecin.mssante.fr", RPPS[0]),  # line 2
            mailbox_row("deux@medecin.mssante.fr", RPPS[1]),  # line 3
            mailbox_row("UN@medecin.mssante.fr", RPPS[2]),  # line 4: repeats line 2
            mailbox_row("trois@medecin.mssante.fr", RPPS[2], kind="ORG"),  # line 5
            mailbox_row("deux@medecin.mssante.fr", RPPS[1], kind="ORG"),  # line 6: line 3
        ],
    )
    report = StringIO()
    summary = run(act, mss, report=report, max_bad_share=0.5)
    mailboxes = next(f for f in summary.files if f.layout.kind == "mssante")
    assert mailboxes.direct == (directory == "empty" and connection.vendor == "postgresql")
    found = [line.split("\t")[1:] for line in report.getvalue().splitlines()[1:]]
    assert found == [
        ["4", "ligne ou adresse en double", "adresse déjà vue ligne 2"],
        ["6", "ligne ou adresse en double", "adresse déjà vue ligne 3"],
    ]
    assert summary.bad_lines == 2 and mailboxes.staged == 3
    assert sorted(MSSanteAddress.objects.values_list("address", "kind", "rpps")) == [
        ("deux@medecin.mssante.fr", "PER", RPPS[1]),
        ("trois@medecin.mssante.fr", "ORG", RPPS[2]),
        ("un@medecin.mssante.fr", "PER", RPPS[0]),
    ]
    assert summary.addresses is not None
    assert summary.totals["addresses_PER"] == 2 and summary.totals["addresses_ORG"] == 1


def test_a_line_missing_one_field_is_reported_not_shifted(tmp_path):
    """Every line of an activity file ends with "|": one that splits into exactly 56
    parts lacks a field (its columns would all be shifted), it is no "no final |" line."""
    from concerto.directory.sample import ACTIVITY_HEADER

    whole = activity_row(RPPS[3], **{"Prénom d'exercice": "Jean"})
    values = [whole.get(name, "") for name in ACTIVITY_HEADER]
    del values[ACTIVITY_HEADER.index("Code civilité")]
    shifted = "|".join(values) + "|"
    act = activity_file(tmp_path, [activity_row(RPPS[1]), shifted, activity_row(RPPS[5])])
    report = StringIO()
    summary = run(act, report=report, max_bad_share=0.5)
    assert summary.bad_lines == 1
    assert f"{act.name}\t3\tnombre de champs incorrect\t55 champs au lieu de 56" in (
        report.getvalue()
    )
    assert not Professional.objects.filter(rpps=RPPS[3]).exists()
    assert Professional.objects.filter(rpps__in=[RPPS[1], RPPS[5]]).count() == 2


def test_a_line_with_a_nul_byte_is_reported_and_the_run_goes_on(tmp_path):
    """(PostgreSQL's COPY refuses the byte: the whole run used to fail on it.)"""
    act = activity_file(
        tmp_path,
        [
            activity_row(RPPS[1]),
            activity_row(RPPS[3], **{"Raison sociale site": "CAB\x00INET"}),
            activity_row(RPPS[5]),
        ],
    )
    report = StringIO()
    summary = run(act, report=report, max_bad_share=0.5)
    assert summary.bad_lines == 1
    assert f"{act.name}\t3\tcaractère NUL (octet 0) dans la ligne\tposition" in report.getvalue()
    assert Professional.objects.filter(rpps__in=[RPPS[1], RPPS[5]]).count() == 2


def test_a_malformed_address_is_reported_and_not_kept(tmp_path):
    """(Sending to it would fail, or spoil the message's header for the others.)"""
    mss = mssante_file(
        tmp_path,
        [
            mailbox_row("dr1@medecin.mssante.fr", RPPS[1]),
            mailbox_row("rené.dupont@medecin.mssante.fr", RPPS[3]),  # line 3: an accent
            mailbox_row("dr\u00a0deux@medecin.mssante.fr", RPPS[5]),  # line 4: a no-break space
        ],
    )
    report = StringIO()
    summary = run(mss, report=report, max_bad_share=0.9)
    assert summary.bad_lines == 2
    assert report.getvalue().count("adresse MSSanté mal formée") == 2
    assert list(MSSanteAddress.objects.values_list("address", flat=True)) == [
        "dr1@medecin.mssante.fr"
    ]


def test_too_many_bad_lines_stop_the_run_and_change_nothing(tmp_path, v1):
    run(*v1)
    before = snapshot()
    act = activity_file(
        tmp_path, [activity_row(RPPS[10]), activity_row(BAD_LUHN), activity_row(RPPS[11])]
    )
    report = StringIO()
    with pytest.raises(ImportRefused, match=r"1 lignes rejetées sur 3 \(33.3%\)"):
        run(act, report=report, max_bad_share=0.2)
    assert snapshot() == before
    assert f"{act.name}\t3\tRPPS invalide" in report.getvalue()


def test_unknown_header_stops_the_run(tmp_path, v1):
    run(*v1)
    before = snapshot()
    path = tmp_path / "autre.txt"
    path.write_text("Nom|Prénom|Ville|\nDUPONT|Jean|Paris|\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match="en-tête non reconnu"):
        run(v1[1], path)  # the MSSanté file first: its staging is discarded too
    assert snapshot() == before


def test_truncated_zip_stops_the_run(tmp_path, v1):
    run(*v1)
    before = snapshot()
    archive = tmp_path / "PS_LibreAcces.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(v1[0], v1[0].name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportRefused, match="ZIP illisible ou tronquée"):
        run(archive)
    assert snapshot() == before


def test_a_damaged_archive_found_late_stops_the_run(tmp_path, v1):
    """The MSSanté file of a two-file run is read by a second process on PostgreSQL: an
    archive whose damage shows only at its end (wrong CRC) stops the run all the same,
    with the same message, and changes nothing."""
    run(*v1)
    before = snapshot()
    archive = tmp_path / "Extraction_Correspondance_MSSante.zip"
    header, *lines = v1[1].read_bytes().splitlines(keepends=True)
    # Larger than the reading buffer, so that the damage shows only once read through.
    body = b"".join(lines) * (4 * BUFFER // len(b"".join(lines)))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(v1[1].name, header + body)
    data = bytearray(archive.read_bytes())
    central = data.rindex(b"PK\x01\x02")  # the central directory's entry: its CRC-32
    data[central + 16 : central + 20] = bytes(4)
    archive.write_bytes(bytes(data))
    with pytest.raises(ImportRefused, match="archive ZIP tronquée ou endommagée"):
        run(v1[0], archive, force=True)
    assert snapshot() == before


def test_empty_file_does_not_empty_the_directory(tmp_path, v1):
    run(*v1)
    before = snapshot()
    with pytest.raises(ImportRefused, match="aucune ligne valide"):
        run(mssante_file(tmp_path, []))
    assert snapshot() == before


def test_two_files_of_the_same_kind_are_refused(v1):
    with pytest.raises(ImportRefused, match="deux fichiers du même type"):
        run(v1[0], v1[0])
    assert Professional.objects.count() == 0


# --- atomicity -------------------------------------------------------------------------


def test_an_error_midway_leaves_the_previous_directory(monkeypatch, tmp_path, v1):
    run(*v1)
    before = snapshot()
    events = AuditEvent.objects.count()
    act = activity_file(
        tmp_path, [activity_row(r, **{"Nom d'exercice": "CHANGE"}) for r in RPPS[:5]]
    )
    mss = mssante_file(tmp_path, [mailbox_row("nouvelle@medecin.mssante.fr", RPPS[0])])
    applied = []

    def explode(cursor):
        # Professionals and activities are already rewritten when this runs.
        applied.append(Professional.objects.filter(last_name="CHANGE").count())
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(importer, "_apply_addresses", explode)
    with pytest.raises(RuntimeError, match="panne simulée"):
        run(act, mss)
    assert applied == [5]
    assert snapshot() == before
    assert mssante_addresses(RPPS[0]) == ["premier.fictif@medecin.mssante.fr"]
    assert AuditEvent.objects.count() == events


# --- refresh ---------------------------------------------------------------------------


def test_refresh_counts_additions_changes_and_removals_exactly(tmp_path, v1):
    run(*v1)
    folder = tmp_path / "v2"
    folder.mkdir()
    act = activity_file(
        folder,
        [
            # RPPS[0]: unchanged, one of its two activities dropped.
            activity_row(RPPS[0], **{"Nom d'exercice": "PREMIERFICTIF"}),
            # RPPS[1]: renamed → 1 change; its activity line changes → 1 removal + 1 addition.
            activity_row(RPPS[1], **{"Nom d'exercice": "SECONDRENOMME"}),
            # RPPS[2]: gone. RPPS[3], RPPS[4]: new, with three activities.
            activity_row(RPPS[3]),
            activity_row(RPPS[4]),
            activity_row(RPPS[4], **{"Raison sociale site": "MAISON DE SANTE FICTIVE"}),
        ],
    )
    mss = mssante_file(
        folder,
        [
            mailbox_row("premier.fictif@medecin.mssante.fr", RPPS[0]),  # unchanged
            mailbox_row(  # structure renamed → 1 change
                "secretariat@ch-fictif.mssante.fr",
                RPPS[0],
                kind="ORG",
                **{"Raison Sociale structure BAL": "CH FICTIF RENOMME"},
            ),
            # second.exemple… and troisieme.demo… removed → 2 removals
            mailbox_row("quatre@medecin.mssante.fr", RPPS[3]),  # 1 addition
        ],
    )
    summary = run(act, mss)
    professionals, activities, addresses = (
        summary.professionals,
        summary.activities,
        summary.addresses,
    )
    assert professionals and activities and addresses
    assert vars(professionals) == {"added": 2, "changed": 1, "removed": 1}
    assert vars(activities) == {"added": 4, "changed": 0, "removed": 3}
    # Compared with the directory's own lines: the unchanged one was not staged.
    (activity_stats,) = [f for f in summary.files if f.layout.kind == "activity"]
    assert (activity_stats.refresh, activity_stats.unchanged, activity_stats.staged) == (
        True,
        1,
        5,
    )
    assert vars(addresses) == {"added": 1, "changed": 1, "removed": 2}
    assert Professional.objects.get(rpps=RPPS[1]).last_name == "SECONDRENOMME"
    assert not Professional.objects.filter(rpps=RPPS[2]).exists()
    assert Activity.objects.count() == 5
    assert MSSanteAddress.objects.get(
        address="secretariat@ch-fictif.mssante.fr"
    ).structure_name == ("CH FICTIF RENOMME")
    event = AuditEvent.objects.filter(action="directory.import").latest("id")
    assert event.details["professionals"] == {"added": 2, "changed": 1, "removed": 1}


@pytest.mark.parametrize("scattered", [False, True])
def test_a_refresh_leaves_what_a_full_comparison_would(tmp_path, scattered):
    """Import a sample, refresh it with a churned one (compared with the directory's own
    lines), then compare everything (--force): nothing is left to change."""
    old = write_sample(tmp_path / "a", professionals=1500, seed=8)
    new = write_sample(tmp_path / "b", professionals=1500, seed=8, churn=0.05)
    if scattered:  # the same lines, each professional's in another order, some apart
        lines = new.activity_path.read_bytes().splitlines(keepends=True)
        body = lines[1:]
        body.reverse()
        new.activity_path.write_bytes(b"".join([lines[0], *body]))
    run(old.activity_path, old.mssante_path)
    summary = run(new.activity_path, new.mssante_path)
    (stats,) = [f for f in summary.files if f.layout.kind == "activity"]
    assert stats.refresh and not stats.grouped  # the churned sample's newcomers are apart
    assert 0 < stats.staged - stats.unchanged < stats.staged / 5
    assert summary.professionals and summary.professionals.removed > 10
    assert summary.professionals.changed > 10 and summary.professionals.added > 10
    assert summary.activities and summary.activities.removed > 10
    after = snapshot()
    xmins = _xmins()
    forced = run(new.activity_path, new.mssante_path, force=True)
    assert not any(f.refresh for f in forced.files)
    assert forced.rewritten == 0
    assert snapshot() == after
    assert _xmins() == xmins
    assert Professional.objects.count() == new.professionals


def _every_column() -> dict[str, list[tuple]]:
    rows = {}
    for model in (Professional, Activity, MSSanteAddress):
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        rows[model.__name__] = sorted(model.objects.values_list(*names))
    return rows


def _empty_directory() -> None:
    for model in (Activity, MSSanteAddress, Professional, DirectorySource):
        model.objects.all().delete()


@pytest.mark.parametrize("force", [False, True])
def test_an_update_ends_as_a_first_import_of_the_newer_files(tmp_path, force):
    """Refreshed (compared with the directory's own lines) or compared whole (on
    PostgreSQL: by one full join), the directory ends as a first import of the newer
    files would make it, every column; with removals, changes and additions."""
    old = write_sample(tmp_path / "a", professionals=800, seed=3)
    new = write_sample(tmp_path / "b", professionals=800, seed=3, churn=0.1)
    run(old.activity_path, old.mssante_path)
    summary = run(new.activity_path, new.mssante_path, force=force)
    assert [f.refresh for f in summary.files if f.layout.kind == "activity"] == [not force]
    professionals, activities, addresses = (
        summary.professionals,
        summary.activities,
        summary.addresses,
    )
    assert professionals and activities and addresses
    assert min(professionals.added, professionals.changed, professionals.removed) > 10
    assert min(activities.added, activities.removed) > 10
    assert min(addresses.added, addresses.removed) > 10
    updated, totals = _every_column(), summary.totals
    _empty_directory()
    first = run(new.activity_path, new.mssante_path)
    assert _every_column() == updated
    assert first.totals == totals


def test_a_professionals_lines_reordered_change_nothing(tmp_path):
    """The professional comes from their lines, whatever their order in the file."""
    rows = [
        activity_row(RPPS[0], **{"Raison sociale site": "CABINET FICTIF"}),
        activity_row(RPPS[0], **{"Code savoir-faire": "SM99", "Libellé savoir-faire": "Autre"}),
        activity_row(RPPS[1]),
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run(activity_file(tmp_path / "a", rows))
    chosen = Professional.objects.get(rpps=RPPS[0]).specialty_code
    summary = run(activity_file(tmp_path / "b", [rows[1], rows[0], rows[2]]))
    assert summary.rewritten == 0
    assert Professional.objects.get(rpps=RPPS[0]).specialty_code == chosen
    assert (
        run(activity_file(tmp_path / "b", [rows[1], rows[0], rows[2]]), force=True).rewritten == 0
    )


def test_a_refresh_reports_a_repeat_of_an_unchanged_line_with_its_first_line(tmp_path):
    x0, x1, x3 = activity_row(RPPS[3]), activity_row(RPPS[5]), activity_row(RPPS[7])
    (tmp_path / "a").mkdir()
    run(activity_file(tmp_path / "a", [x0, x1, x3]))
    report = StringIO()
    # Not grouped (RPPS[5] before RPPS[3]): x1 on line 4 repeats line 2, both unchanged.
    summary = run(activity_file(tmp_path, [x1, x0, x1, x3]), report=report, max_bad_share=0.5)
    assert summary.files[0].refresh and not summary.files[0].grouped
    assert report.getvalue().splitlines()[1:] == [
        f"{summary.files[0].name}\t4\tligne ou adresse en double\tligne déjà vue ligne 2"
    ]
    assert summary.rewritten == 0 and summary.bad_lines == 1
    assert Activity.objects.count() == 3


def test_a_directory_read_by_other_rules_is_compared_whole(tmp_path, v1):
    """A directory imported by another version of the reading rules (an empty shape:
    before they were recorded) is not trusted by a refresh, nor by the unchanged-file
    shortcut: the next import compares everything."""
    run(*v1)
    DirectorySource.objects.update(shape="")
    summary = run(*v1)
    assert [f.unchanged_since for f in summary.files] == [None, None]
    assert not any(f.refresh for f in summary.files)
    assert summary.rewritten == 0
    # Recorded again: the next refresh compares with the directory's lines.
    assert set(DirectorySource.objects.values_list("shape", flat=True)) != {""}
    act = activity_file(tmp_path, [activity_row(RPPS[0], **{"Nom d'exercice": "PREMIERFICTIF"})])
    assert run(act, allow_shrink=True).files[0].refresh


def test_a_new_header_with_the_same_lines_is_compared_whole(tmp_path):
    """The rows depend on the header (columns are found by name), not only on the lines."""
    rows = [activity_row(RPPS[0]), activity_row(RPPS[1])]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run(activity_file(tmp_path / "a", rows))
    path = activity_file(tmp_path / "b", [*rows, activity_row(RPPS[2])])
    path.write_text(path.read_text().replace("Libellé savoir-faire", "Libelle renomme", 1))
    summary = run(path)
    assert not summary.files[0].refresh
    assert summary.professionals and summary.professionals.changed == 2
    assert set(Professional.objects.values_list("specialty_label", flat=True)) == {""}
    assert run(path, force=True).rewritten == 0


def test_a_refresh_reports_like_a_full_comparison(tmp_path):
    """Not grouped, Windows-1252, ADELI, an invalid RPPS, repeats (one three times) of
    unchanged and of new lines: the same report, the same rows, as comparing all."""
    x = activity_row(RPPS[3], **{"Raison sociale site": "CLINIQUE DÉMO"})
    y, z = activity_row(RPPS[5]), activity_row(RPPS[7])
    adeli = activity_row(RPPS[9], **{"Type d'identifiant PP": "0"})
    new = activity_row(RPPS[3], **{"Raison sociale site": "NOUVEAU SITE"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run(activity_file(tmp_path / "a", [x, y, z], encoding="cp1252"))
    rows = [y, adeli, x, activity_row(BAD_LUHN), y, x, new, y, new]
    path = activity_file(tmp_path / "b", rows, encoding="cp1252")
    refreshed = StringIO()
    summary = run(path, report=refreshed, max_bad_share=0.9, allow_shrink=True)
    assert summary.files[0].refresh and not summary.files[0].grouped
    rows_after = snapshot()
    compared = StringIO()
    forced = run(path, report=compared, max_bad_share=0.9, force=True)
    assert forced.rewritten == 0 and snapshot() == rows_after
    assert refreshed.getvalue().splitlines()[1:] == compared.getvalue().splitlines()[1:]
    assert [line.split("\t")[1:] for line in refreshed.getvalue().splitlines()[1:]] == [
        ["5", "RPPS invalide", f"{BAD_LUHN} : clé de contrôle (Luhn) fausse"],
        ["6", "ligne ou adresse en double", "ligne déjà vue ligne 2"],
        ["7", "ligne ou adresse en double", "ligne déjà vue ligne 4"],
        ["9", "ligne ou adresse en double", "ligne déjà vue ligne 2"],
        ["10", "ligne ou adresse en double", "ligne déjà vue ligne 8"],
    ]


def test_reimporting_the_same_files_rewrites_nothing(v1):
    run(*v1)
    xmins = _xmins()
    summary = run(*v1, force=True)  # the full comparison, not the unchanged-file shortcut
    assert summary.rewritten == 0
    assert vars(summary.professionals) == {"added": 0, "changed": 0, "removed": 0}
    if connection.vendor == "postgresql":
        # Not one row version was written: every row keeps its creating transaction.
        assert _xmins() == xmins


def test_an_unchanged_file_is_recognised_and_not_read_again(v1):
    run(*v1)
    xmins = _xmins()
    summary = run(*v1)
    assert [f.unchanged_since is not None for f in summary.files] == [True, True]
    assert summary.rows_read == 0
    assert vars(summary.addresses) == {"added": 0, "changed": 0, "removed": 0}
    assert _xmins() == xmins


def test_the_shortcut_is_not_taken_when_the_tables_changed_since(v1):
    run(*v1)
    MSSanteAddress.objects.filter(address="second.exemple@medecin.mssante.fr").delete()
    summary = run(*v1)
    assert [f.unchanged_since is None for f in summary.files] == [False, True]
    assert vars(summary.addresses) == {"added": 1, "changed": 0, "removed": 0}
    assert mssante_addresses(RPPS[1]) == ["second.exemple@medecin.mssante.fr"]


def _xmins() -> dict[str, list[str]]:
    if connection.vendor != "postgresql":
        return {}
    result = {}
    with connection.cursor() as cursor:
        for model in (Professional, Activity, MSSanteAddress):
            cursor.execute(f"SELECT id, xmin::text FROM {model._meta.db_table} ORDER BY id")  # noqa: S608
            result[model.__name__] = cursor.fetchall()
    return result


def test_a_mailbox_only_refresh_keeps_the_professionals(tmp_path, v1):
    run(*v1)
    mss = mssante_file(tmp_path, [mailbox_row("seule@medecin.mssante.fr", RPPS[1])])
    summary = run(mss)
    assert summary.professionals is None
    assert Professional.objects.count() == 3
    assert mssante_addresses(RPPS[1]) == ["seule@medecin.mssante.fr"]
    assert MSSanteAddress.objects.count() == 1


# --- the command ------------------------------------------------------------------------


def test_command_prints_progress_and_summary(tmp_path, v1):
    out = StringIO()
    report = tmp_path / "rapport.tsv"
    call_command(
        "import-directory",
        *map(str, v1),
        "--report",
        str(report),
        "--progress-every",
        "0",
        stdout=out,
    )
    text = out.getvalue()
    assert "Lecture de Extraction_Correspondance_MSSante_202611270300.txt" in text
    assert "lignes/s" in text
    assert "Professionnels : 3 ajout(s), 0 modification(s), 0 retrait(s)" in text
    assert "adresses PER 3 / ORG 1" in text
    assert "Lignes rejetées : 0" in text
    assert report.read_text(encoding="utf-8").startswith("fichier\tligne\tmotif")


def test_command_failure_is_a_clear_message(tmp_path):
    path = tmp_path / "inconnu.txt"
    path.write_text("A|B|C\n1|2|3\n", encoding="utf-8")
    report = tmp_path / "rapport.tsv"
    with pytest.raises(CommandError, match="en-tête non reconnu"):
        call_command("import-directory", str(path), "--report", str(report), stdout=StringIO())
    assert "import arrêté" in report.read_text(encoding="utf-8")
