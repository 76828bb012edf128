"""A large activity file read by two processes (first import, PostgreSQL): the directory,
the report of rejected lines and the counts are exactly those of one process."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from concerto.directory import importer
from concerto.directory.models import Activity, MSSanteAddress, Professional
from concerto.directory.progress import Progress
from concerto.directory.sample import fictional_rpps, write_sample
from tests.directory.files import BAD_LUHN, RPPS
from tests.directory.test_import import _empty_directory, _every_column, _schema, run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="PostgreSQL only: the first import's path"
    ),
]


def _irregular_copy(source: Path, out: Path, order: str) -> tuple[Path, int]:
    """The sample's activity file with, in its second part, a repeated line (next to its
    first), a line with too few fields, an invalid RPPS and a Windows-1252 line; and the
    offset where the second reader is made to start (the line after the middle).

    ``order``: "grouped" (as published, by RPPS); "crlf": the same with Windows line ends
    and no final one; "boundary": a line of the first professional put where the second
    part starts (each part sorted, not the whole); "scattered": an earlier line repeated
    in the second part, found in SQL."""
    lines = source.read_bytes().split(b"\n")
    header, data = lines[0], [line for line in lines[1:] if line]
    at = importer.formats.recognise(header.decode()).positions

    def rpps(line: bytes) -> bytes:
        return line.split(b"|")[at["id"]]

    def doctor(start: int) -> int:  # the first RPPS line from ``start`` on
        return next(
            i for i in range(start, len(data)) if data[i].split(b"|")[at["id_type"]] == b"8"
        )

    here = doctor(len(data) * 3 // 4)
    fields = data[here].split(b"|")
    fields[at["id"]] = BAD_LUHN.encode()
    bad_luhn = b"|".join(fields)
    fields = data[here + 5].split(b"|")
    fields[at["last_name"]] += b"\xe9"  # "é" in Windows-1252: not UTF-8
    data[here + 5] = b"|".join(fields)
    data[here + 1 : here + 1] = [data[here], b"8|" + RPPS[20].encode() + b"|trop|peu|", bad_luhn]
    split = next(i for i in range(len(data) // 2, len(data)) if rpps(data[i]) != rpps(data[i - 1]))
    first = doctor(0)
    if order == "boundary":  # another activity of the first professional
        fields = data[first].split(b"|")
        fields[at["structure_name"]] = b"CABINET SECONDAIRE FICTIF"
        data.insert(split, b"|".join(fields))
    elif order == "scattered":
        data.insert(split + 3, data[first])
    out.mkdir()
    path = out / source.name
    end = b"\r\n" if order == "crlf" else b"\n"
    path.write_bytes(end.join([header, *data]) + (b"" if order == "crlf" else end))
    offset = len(header) + len(end) + sum(len(line) + len(end) for line in data[:split])
    return path, offset


def _sequence() -> tuple[str, bool]:
    """The professional table's sequence, and whether it goes on after the loaded rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('directory_professional', 'id')")
        name = cursor.fetchone()[0]
    last = Professional.objects.order_by("-id").values_list("id", flat=True).first() or 0
    added = Professional.objects.create(rpps=fictional_rpps(9_876_543), last_name="SUITEFICTIF")
    follows = added.pk > last
    added.delete()
    return name, follows


def _side_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'dir_side%%'")
        return [name for (name,) in cursor.fetchall()]


def _watch_sides(monkeypatch, *, first: str = "") -> list:
    """The second connections started (``first``: a statement the second connection runs
    before its first index build, the import's connection never)."""
    sides = []
    real_start, real_next = importer.SideProfessionals.start, importer.SideProfessionals._next

    def start(self):
        self.first = first
        sides.append(self)
        real_start(self)

    def next_statement(self):
        if self.first and threading.current_thread().name == "side-professionals":
            statement, self.first = self.first, ""
            return statement
        return real_next(self)

    monkeypatch.setattr(importer.SideProfessionals, "start", start)
    monkeypatch.setattr(importer.SideProfessionals, "_next", next_statement)
    return sides


def _index_definitions() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN "
            "('directory_professional', 'directory_activity', 'directory_mssanteaddress') "
            "ORDER BY indexname"
        )
        return [definition for (definition,) in cursor.fetchall()]


def _import(path: Path, mssante: Path, monkeypatch, *, split: int | None):
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0 if split else 1 << 62)
    monkeypatch.setattr(importer, "_split_offset", lambda *args: split)
    helpers = []
    real = importer.ActivityHelper

    def counted(*args, **kwargs):
        helpers.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "ActivityHelper", counted)
    report = StringIO()
    summary = run(path, mssante, report=report, max_bad_share=0.5)
    assert len(helpers) == (1 if split else 0)
    rows = _every_column()
    rows["ids"] = sorted(Activity.objects.values_list("id", "key"))  # an id is a line number
    rows["schema"] = _schema()  # (with a second connection: another table, same names)
    rows["sequence"] = _sequence()
    result = (rows, report.getvalue(), summary)
    _empty_directory()
    return result


@pytest.mark.parametrize("order", ["grouped", "crlf", "boundary", "scattered"])
def test_two_readers_give_what_one_gives(tmp_path, monkeypatch, order):
    # Small blocks and batches: the helper's rows reach the COPY in many pieces, in
    # between this process's blocks.
    monkeypatch.setattr(importer, "FLUSH_BYTES", 4096)
    monkeypatch.setattr(importer._SpoolWriter, "BATCH", 7)
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=5)
    path, split = _irregular_copy(sample.activity_path, tmp_path / "irregular", order)
    one_rows, one_report, one = _import(path, sample.mssante_path, monkeypatch, split=None)
    two_rows, two_report, two = _import(path, sample.mssante_path, monkeypatch, split=split)

    assert two_rows == one_rows
    # Same lines, numbers, reasons and details. (The order may differ: one reader finds a
    # repeated line of a file not sorted by RPPS afterwards, in SQL, where the second
    # reader, whose part is sorted, finds it as it reads.)
    assert sorted(two_report.splitlines()) == sorted(one_report.splitlines())
    for attribute in ("professionals", "activities", "addresses", "bad_lines", "bad_by_reason"):
        assert getattr(two, attribute) == getattr(one, attribute)
    activity = next(f for f in two.files if f.layout.kind == "activity")
    single = next(f for f in one.files if f.layout.kind == "activity")
    for attribute in ("lines", "staged", "bad", "ignored", "cp1252_lines", "grouped", "digest"):
        assert getattr(activity, attribute) == getattr(single, attribute), attribute
    assert activity.grouped is (order in ("grouped", "crlf"))
    assert activity.cp1252_lines == 1
    reported = [line.split("\t") for line in two_report.splitlines()[1:]]
    # The irregular lines are in the second part, reported under their own numbers.
    second_part = path.read_bytes()[:split].count(b"\n") + 1
    ids = [row_id for row_id, _ in two_rows["ids"]]
    assert min(ids) == 2 and max(ids) > second_part
    expected = ["RPPS invalide", "ligne ou adresse en double", "nombre de champs incorrect"]
    if order == "scattered":
        expected.append("ligne ou adresse en double")
    assert sorted(r for _, n, r, _ in reported if int(n) > second_part) == sorted(expected)


def test_the_second_part_starts_with_a_new_professional(tmp_path):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=9)
    path = sample.activity_path
    header = path.open("rb").readline()
    layout = importer.formats.recognise(header.decode().rstrip("\n"))
    size = path.stat().st_size
    offset = importer._split_offset(path, layout, len(header), size)
    assert offset is not None and offset > len(header) + (size - len(header)) * importer.OWN_SHARE
    content = path.read_bytes()
    assert content[offset - 1 : offset] == b"\n"
    before = content[:offset].rstrip(b"\n").rsplit(b"\n", 1)[1]
    after = content[offset:].split(b"\n", 1)[0]
    at = layout.positions["id"]
    assert before.split(b"|")[at] != after.split(b"|")[at]


def test_progress_counts_both_parts(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=6)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    out = StringIO()
    progress = Progress(out, tty=False, every=0.0)
    importer.import_directory(
        by=None, paths=[sample.activity_path], report=StringIO(), progress=progress
    )
    last = [line for line in out.getvalue().splitlines() if "%" in line][-1]
    assert "100%" in last
    lines = sum(1 for _ in sample.activity_path.open("rb")) - 1
    assert f"{lines:,}".replace(",", "\u202f") + " lignes" in last


def test_a_failing_helper_leaves_the_directory_as_it_was(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=7)
    before = _schema()
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    real = importer.read_activity

    def failing_in_the_helper(*args, **kwargs):
        if kwargs.get("line_before", 1) > 1:  # only the helper starts past the header
            raise RuntimeError("panne simulée dans le second lecteur")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "read_activity", failing_in_the_helper)
    with pytest.raises(RuntimeError, match="panne simulée dans le second lecteur"):
        run(sample.activity_path, sample.mssante_path)
    assert Professional.objects.count() == Activity.objects.count() == 0
    assert MSSanteAddress.objects.count() == 0
    assert _schema() == before  # the dropped indexes are back
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the connection is still usable


def test_no_split_when_one_professional_fills_the_file(tmp_path):
    sample = write_sample(tmp_path / "sample", professionals=1, seed=8)
    layout = importer.formats.recognise(
        sample.activity_path.open(encoding="utf-8").readline().rstrip("\n")
    )
    start = len(sample.activity_path.open("rb").readline())
    size = sample.activity_path.stat().st_size
    assert importer._split_offset(sample.activity_path, layout, start, size) is None


def test_a_helper_that_dies_stops_the_run_and_changes_nothing(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=10)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    real = importer.read_activity

    def dying_in_the_helper(*args, **kwargs):
        if kwargs.get("line_before", 1) > 1:
            os._exit(3)  # killed: no word sent back
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "read_activity", dying_in_the_helper)
    with pytest.raises(RuntimeError, match="le processus de lecture s'est arrêté"):
        run(sample.activity_path, sample.mssante_path)
    assert Professional.objects.count() == Activity.objects.count() == 0


def test_professionals_without_activities_are_read_by_one_process(tmp_path, monkeypatch):
    """Activities empty but not professionals: the candidates are staged and compared,
    so the file is read by one process (the helper's spool is for an empty table)."""
    Professional.objects.create(rpps=RPPS[0], last_name="DEJALAFICTIF", profession_code="10")
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=11)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    helpers = []
    real = importer.ActivityHelper
    monkeypatch.setattr(importer, "ActivityHelper", lambda *a: helpers.append(a) or real(*a))
    summary = run(sample.activity_path)
    assert helpers == []
    assert summary.activities is not None and summary.activities.added > 1500
    assert Professional.objects.count() == summary.totals["professionals"] > 1000


def test_the_helper_reads_the_file_opened_even_if_its_name_is_replaced(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=12)
    other = write_sample(tmp_path / "other", professionals=900, seed=13)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    expected_rows, expected_report, _ = _import_once(sample.activity_path, monkeypatch)
    # Copy the sample again, then replace its name by another file once the import has
    # opened it (before the helper starts): both readers must read the file opened.
    path = tmp_path / "replaced" / sample.activity_path.name
    path.parent.mkdir()
    shutil.copyfile(sample.activity_path, path)
    real = importer._split_offset

    def replacing(*args):
        offset = real(*args)
        os.replace(other.activity_path, path)
        return offset

    monkeypatch.setattr(importer, "_split_offset", replacing)
    rows, report, summary = _import_once(path, monkeypatch)
    assert rows == expected_rows
    assert sorted(report.splitlines()) == sorted(expected_report.splitlines())
    assert summary.files[0].digest == hashlib.sha256(sample.activity_path.read_bytes()).hexdigest()


def _import_once(path: Path, monkeypatch):
    helpers = []
    real = importer.ActivityHelper
    monkeypatch.setattr(importer, "ActivityHelper", lambda *a: helpers.append(a) or real(*a))
    report = StringIO()
    summary = run(path, report=report)
    monkeypatch.setattr(importer, "ActivityHelper", real)
    assert len(helpers) == 1
    rows = _every_column()
    rows["ids"] = sorted(Activity.objects.values_list("id", "key"))
    _empty_directory()
    return rows, report.getvalue(), summary


@pytest.mark.parametrize("first", ["helper", "parent"])
def test_with_two_readers_the_mssante_file_is_read_once_one_is_done(tmp_path, monkeypatch, first):
    """Three processes would share two cores: the MSSanté reader starts as soon as one
    of the two readers of the activity file is done with its part (the other one may
    need longer: a core would be idle), and its file is loaded last."""
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=14)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "FLUSH_BYTES", 4096)
    helpers: list = []
    real_helper = importer.ActivityHelper
    monkeypatch.setattr(
        importer, "ActivityHelper", lambda *a: helpers.append(real_helper(*a)) or helpers[-1]
    )
    parent_reading = []
    real_read = importer.read_activity

    def read_activity(*args, **kwargs):
        parent_reading.append(True)  # (in the helper, its own copy of the list)
        try:
            return real_read(*args, **kwargs)
        finally:
            parent_reading.append(False)

    monkeypatch.setattr(importer, "read_activity", read_activity)
    # The other reader is made slow: this process's COPY blocks, or the helper's spool
    # (spilled every few rows, so that the helper's part takes over a second).
    if first == "parent":
        monkeypatch.setattr(importer._SpoolWriter, "BATCH", 8)
    slowed = importer.CopyWriter if first == "helper" else importer._PublishedSpool
    slowed_method = "_flush" if first == "helper" else "_spill"
    real_slowed = getattr(slowed, slowed_method)

    def slow(self):
        time.sleep(0.01)
        real_slowed(self)

    monkeypatch.setattr(slowed, slowed_method, slow)
    seen_at_start = []
    real_start = importer.BackgroundMSSante.start

    def start(self, progress):
        seen_at_start.append((parent_reading[-1], helpers[0].finished(0)))
        real_start(self, progress)

    monkeypatch.setattr(importer.BackgroundMSSante, "start", start)
    out = StringIO()
    summary = importer.import_directory(
        by=None,
        paths=[sample.activity_path, sample.mssante_path],
        report=StringIO(),
        progress=Progress(out, tty=False, every=0.0),
    )
    # Started once, while only one of the two was done.
    assert seen_at_start == ([(True, True)] if first == "helper" else [(False, False)])
    text = out.getvalue()
    started = text.index(f"Lecture de {sample.mssante_path.name}")
    assert text.index("Lecture de PS_LibreAcces") < started < text.index("Validation")
    assert text.index("Activités :") < text.index("lu en parallèle ; chargement")
    assert [f.layout.kind for f in summary.files] == ["activity", "mssante"]
    assert summary.addresses is not None and summary.addresses.added > 0
    assert MSSanteAddress.objects.count() == summary.addresses.added
    assert Activity.objects.count() == summary.activities.added > 0


def test_a_bad_mssante_file_read_last_still_changes_nothing(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=15)
    lines = sample.mssante_path.read_bytes().split(b"\n")
    # Half of the addresses cut short: far more bad lines than allowed.
    lines[1::2] = [line[: len(line) // 3] if line else line for line in lines[1::2]]
    sample.mssante_path.write_bytes(b"\n".join(lines))
    before = _schema()
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch)
    with pytest.raises(importer.ImportRefused, match="Rien n'a été modifié"):
        run(sample.activity_path, sample.mssante_path)
    assert len(sides) == 1 and not sides[0].swapped
    assert Professional.objects.count() == Activity.objects.count() == 0
    assert MSSanteAddress.objects.count() == 0
    assert _schema() == before
    assert _side_tables() == []  # the second connection's table, committed, dropped after


def test_the_professionals_are_loaded_by_a_second_connection(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=16)
    before, indexes = _schema(), _index_definitions()
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch)
    summary = run(sample.activity_path, sample.mssante_path)
    assert len(sides) == 1 and sides[0].swapped
    assert summary.professionals is not None
    assert Professional.objects.count() == summary.professionals.added > 1000
    assert _schema() == before
    assert _index_definitions() == indexes  # methods and predicates too (the trigram's)
    assert _sequence() == ("public.directory_professional_id_seq", True)
    assert _side_tables() == []


def test_the_import_connection_builds_the_indexes_of_a_busy_second_one(tmp_path, monkeypatch):
    """The second connection busy (a sleep before its first index): the import's builds
    every index, the constraints' included, in its transaction; the swap makes them the
    constraints the migrations made."""
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=22)
    before, indexes = _schema(), _index_definitions()
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch, first="SELECT pg_sleep(3)")
    built = []
    real = importer.SideProfessionals._next  # (_watch_sides's)

    def next_statement(self):
        statement = real(self)
        if statement is not None:
            built.append((threading.current_thread().name, statement))
        return statement

    monkeypatch.setattr(importer.SideProfessionals, "_next", next_statement)
    summary = run(sample.activity_path, sample.mssante_path)
    assert len(sides) == 1 and sides[0].swapped
    by_import = [statement for thread, statement in built if thread != "side-professionals"]
    assert any("CREATE UNIQUE INDEX" in statement for statement in by_import), built
    assert Professional.objects.count() == summary.professionals.added > 1000
    assert _schema() == before
    assert _index_definitions() == indexes
    assert _side_tables() == []


@pytest.mark.parametrize("where", ["copy", "index"])
def test_a_failing_second_connection_changes_nothing(tmp_path, monkeypatch, where):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=17)
    before = _schema()
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    if where == "copy":  # the second connection's COPY names a column the table lacks
        real = importer._copy_sql

        def copy_sql(table, columns):
            if importer.SIDE_PREFIX in table:
                columns = (*columns, "colonne_absente")
            return real(table, columns)

        monkeypatch.setattr(importer, "_copy_sql", copy_sql)
    else:  # an index statement without its method: refused once the rows are in
        monkeypatch.setattr(
            importer,
            "_INDEX_HEAD",
            re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON (?:ONLY )?)(\S+) USING \w+"),
        )
    # (Raised on the second connection, or on the import's, if it built that index.)
    with pytest.raises((psycopg.Error, DatabaseError), match="colonne_absente|syntax"):
        run(sample.activity_path, sample.mssante_path)
    assert Professional.objects.count() == Activity.objects.count() == 0
    assert MSSanteAddress.objects.count() == 0
    assert _schema() == before
    assert _side_tables() == []


def test_a_failed_run_stops_its_second_connection(tmp_path, monkeypatch):
    """The run fails (a bad MSSanté file) while the second connection is busy: it is
    cancelled, not waited for, and its table dropped."""
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=18)
    lines = sample.mssante_path.read_bytes().split(b"\n")
    lines[1::2] = [line[: len(line) // 3] if line else line for line in lines[1::2]]
    sample.mssante_path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch, first="SELECT pg_sleep(20)")
    with pytest.raises(importer.ImportRefused):
        run(sample.activity_path, sample.mssante_path)
    assert len(sides) == 1
    # Stopped where it was (in its sleep, or before a statement), not waited for.
    assert isinstance(sides[0]._error, (psycopg.errors.QueryCanceled, importer._Cancelled))
    assert _side_tables() == []
    assert Professional.objects.count() == 0


def test_a_side_table_left_by_a_killed_run_is_dropped(tmp_path, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {importer.SIDE_PREFIX}_1 (id int)")
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=19)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch)
    run(sample.activity_path, sample.mssante_path)
    assert len(sides) == 1 and sides[0].swapped
    assert _side_tables() == []


def test_a_view_on_the_professionals_keeps_them_on_one_connection(tmp_path, monkeypatch):
    """A table something depends on is not replaced: its indexes are rebuilt in place."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW medecins_fictifs AS SELECT rpps FROM directory_professional")
    try:
        sample = write_sample(tmp_path / "sample", professionals=1500, seed=20)
        monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
        sides = _watch_sides(monkeypatch)
        summary = run(sample.activity_path, sample.mssante_path)
        assert sides == []
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM medecins_fictifs")
            assert cursor.fetchone()[0] == summary.professionals.added > 1000
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW IF EXISTS medecins_fictifs")


def test_inside_an_enclosing_transaction_there_is_no_second_connection(tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample", professionals=1500, seed=21)
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 0)
    sides = _watch_sides(monkeypatch)
    with transaction.atomic():
        summary = run(sample.activity_path, sample.mssante_path)
        assert Professional.objects.count() == summary.professionals.added > 1000
    assert sides == []


@pytest.mark.parametrize(
    ("kind", "deferrable", "deferred"),
    [("p", False, False), ("u", False, False), ("u", True, False), ("u", True, True)],
)
def test_a_unique_index_becomes_the_constraint_it_was(kind, deferrable, deferred):
    """The swap's statement: the constraint's name, kind and deferral as the original's
    (none of the directory's constraints is deferrable today: a scratch table)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE dir_scratch_constraint (id bigint NOT NULL, code text)")
        try:
            column = "id" if kind == "p" else "code"
            cursor.execute(
                f"CREATE UNIQUE INDEX dir_scratch_index ON dir_scratch_constraint ({column})"
            )
            cursor.execute(
                importer._constraint_using_index(
                    "dir_scratch_constraint",
                    "scratch_key",
                    "dir_scratch_index",
                    kind,
                    deferrable,
                    deferred,
                )
            )
            cursor.execute(
                "SELECT c.contype, c.condeferrable, c.condeferred, i.relname "
                "FROM pg_constraint c JOIN pg_class i ON i.oid = c.conindid "
                "WHERE c.conrelid = 'dir_scratch_constraint'::regclass"
            )
            assert cursor.fetchall() == [(kind, deferrable, deferred, "scratch_key")]
        finally:
            cursor.execute("DROP TABLE dir_scratch_constraint")
