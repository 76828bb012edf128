"""Import the Annuaire Santé extraction files: atomic, streamed, set-based.

One run = one transaction:

1. each file is recognised by its header (:mod:`concerto.directory.formats`) and read
   line by line; a line is decoded as UTF-8, or cp1252 when it is not valid UTF-8 (⚠ one
   report says the files are Windows-1252);
2. lines with the wrong number of fields or an invalid RPPS are reported and skipped,
   the others are streamed into a staging table — PostgreSQL ``COPY`` (psycopg 3
   ``cursor.copy()``), or ``executemany`` into a temporary table on SQLite;
3. validation in SQL: duplicated addresses / lines; too large a share of bad lines, a
   file with no valid line or one that would empty half the directory stops the run;
4. the directory is brought to the new state with set-based statements (delete what is
   gone, update what differs, insert what is new), each counted; an unchanged file
   rewrites no row.

Any error, or the process being killed, rolls the transaction back: the previous
directory stays whole, and readable throughout (PostgreSQL readers are never blocked).
"""

# ruff: noqa: S608 — the SQL is built from constants and column numbers, never from
# file content; every value read from the files goes through COPY or bound parameters.

from __future__ import annotations

import binascii
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from django.db import connection, transaction

from concerto.audit import trail
from concerto.directory import formats
from concerto.directory.formats import ACTIVITY, MAILBOX_KINDS, MSSANTE, Layout
from concerto.directory.models import Activity, MSSanteAddress, Professional
from concerto.directory.progress import Progress
from concerto.directory.sources import ARCHIVE_ERRORS, Source, SourceError, open_source

FLUSH_BYTES = 1 << 20
TICK_LINES = 8192
MAX_ADDRESS = 254


class ImportRefused(Exception):
    """The run stopped before changing anything. The message (French) says why."""


# --- bad lines -------------------------------------------------------------------------

REASONS = {
    "fields": "nombre de champs incorrect",
    "rpps": "RPPS invalide",
    "domain": "adresse hors domaine MSSanté",
    "kind": "type de BAL inconnu",
    "duplicate": "ligne ou adresse en double",
}


class BadLines:
    """Every rejected line, with its file, line number and reason, into the report file."""

    def __init__(self, report: TextIO | None) -> None:
        self.report = report
        self.by_reason: Counter[str] = Counter()
        self.by_file: Counter[str] = Counter()
        self.examples: list[str] = []
        if report is not None:
            report.write("fichier\tligne\tmotif\tdétail\n")

    def add(self, file: str, line: int, reason: str, detail: str) -> None:
        self.by_reason[reason] += 1
        self.by_file[file] += 1
        text = f"{file}\t{line}\t{REASONS[reason]}\t{detail}"
        if len(self.examples) < 10:
            self.examples.append(f"{file}, ligne {line} : {REASONS[reason]} ({detail})")
        if self.report is not None:
            self.report.write(text + "\n")

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


# --- results ---------------------------------------------------------------------------


@dataclass
class Changes:
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def rewritten(self) -> int:
        return self.added + self.changed + self.removed

    def __str__(self) -> str:
        return f"{self.added} ajout(s), {self.changed} modification(s), {self.removed} retrait(s)"


@dataclass
class FileStats:
    name: str
    layout: Layout
    lines: int = 0  # data lines read (header and blank lines excluded)
    staged: int = 0
    bad: int = 0
    ignored: int = 0  # ADELI lines of the activity file: not RPPS professionals
    cp1252_lines: int = 0


@dataclass
class ImportSummary:
    files: list[FileStats] = field(default_factory=list)
    professionals: Changes | None = None
    activities: Changes | None = None
    addresses: Changes | None = None
    totals: dict[str, int] = field(default_factory=dict)
    bad_lines: int = 0
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report_path: Path | None = None

    @property
    def rows_read(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def rewritten(self) -> int:
        return sum(c.rewritten for c in (self.professionals, self.activities, self.addresses) if c)


# --- reading ---------------------------------------------------------------------------


def _luhn_ok(digits: bytes) -> bool:
    total = 0
    for position, byte in enumerate(reversed(digits)):
        value = byte - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def check_rpps(identifier: bytes) -> tuple[bytes, str | None]:
    """(the 11-digit RPPS, None) or (b"", why it is invalid)."""
    if len(identifier) == 12 and identifier[:1] == b"8":  # national form "8" + RPPS
        identifier = identifier[1:]
    if not identifier:
        return b"", "identifiant absent"
    if not identifier.isdigit():
        return b"", f"{identifier.decode(errors='replace')!r} n'est pas numérique"
    if len(identifier) != 11:
        return b"", f"{identifier.decode()} : {len(identifier)} chiffres au lieu de 11"
    # ⚠ Luhn is empirical (INTEGRATION.md): every real RPPS seen passes it.
    if not _luhn_ok(identifier):
        return b"", f"{identifier.decode()} : clé de contrôle (Luhn) fausse"
    return identifier, None


def _to_utf8(raw: bytes, stats: FileStats) -> bytes:
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        stats.cp1252_lines += 1
        return raw.decode("cp1252", errors="replace").encode("utf-8")


def _field_count_error(raw: bytes, layout: Layout) -> str:
    found = raw.count(b"|") + (0 if raw.endswith(b"|") else 1)
    return f"{found} champs au lieu de {layout.field_count}"


class Sink:
    """Where valid lines go: a staging table."""

    def activity(self, lineno: int, key: bytes, rpps: bytes, raw: bytes) -> None:
        raise NotImplementedError

    def mailbox(
        self, lineno: int, address: bytes, kind: bytes, rpps: bytes, structure: bytes
    ) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def read_activity(
    source: Source, layout: Layout, sink: Sink, bad: BadLines, progress: Progress
) -> FileStats:
    stats = FileStats(source.name, layout)
    fields = layout.field_count
    type_at = layout.positions["id_type"]
    id_at = layout.positions["id"]
    split_at = max(type_at, id_at) + 1
    md5 = hashlib.md5
    hexlify = binascii.hexlify
    last_id = None
    last_rpps, last_error = b"", None
    lineno = 1
    stream = source.stream
    for lineno, raw in enumerate(stream, start=2):  # noqa: B007 — lineno used after the loop
        raw = raw.rstrip(b"\r\n")
        if not raw:
            continue
        stats.lines += 1
        if stats.lines % TICK_LINES == 0:
            progress.tick(stream.tell(), stats.lines)
        if not raw.isascii():
            raw = _to_utf8(raw, stats)
        pipes = raw.count(b"|")
        if pipes == fields and raw.endswith(b"|"):
            raw = raw[:-1]
        elif pipes != fields - 1:
            bad.add(source.name, lineno, "fields", _field_count_error(raw, layout))
            stats.bad += 1
            continue
        parts = raw.split(b"|", split_at)
        if parts[type_at].strip() != b"8":  # 0 = ADELI: not in the RPPS directory
            stats.ignored += 1
            continue
        identifier = parts[id_at].strip()
        if identifier != last_id:
            last_id = identifier
            last_rpps, last_error = check_rpps(identifier)
        if last_error:
            bad.add(source.name, lineno, "rpps", last_error)
            stats.bad += 1
            continue
        sink.activity(lineno, hexlify(md5(raw).digest()), last_rpps, raw)
        stats.staged += 1
    progress.tick(stream.tell(), stats.lines, force=True)
    return stats


def read_mssante(
    source: Source, layout: Layout, sink: Sink, bad: BadLines, progress: Progress
) -> FileStats:
    stats = FileStats(source.name, layout)
    fields = layout.field_count
    at = layout.positions
    kind_at, address_at, type_at, id_at = (
        at["mailbox_type"],
        at["address"],
        at["id_type"],
        at["id"],
    )
    national_at = at.get("national_id")
    structure_at = at.get("structure_name")
    kinds = {kind.encode() for kind in MAILBOX_KINDS}
    stream = source.stream
    for lineno, raw in enumerate(stream, start=2):
        raw = raw.rstrip(b"\r\n")
        if not raw:
            continue
        stats.lines += 1
        if stats.lines % TICK_LINES == 0:
            progress.tick(stream.tell(), stats.lines)
        if not raw.isascii():
            raw = _to_utf8(raw, stats)
        pipes = raw.count(b"|")
        if pipes == fields and raw.endswith(b"|"):
            raw = raw[:-1]
        elif pipes != fields - 1:
            bad.add(source.name, lineno, "fields", _field_count_error(raw, layout))
            stats.bad += 1
            continue
        parts = raw.split(b"|")
        kind = parts[kind_at].strip().upper()
        if kind not in kinds:
            bad.add(source.name, lineno, "kind", repr(kind.decode()))
            stats.bad += 1
            continue
        address = parts[address_at].strip().lower()
        if (
            address.count(b"@") != 1
            or not address.endswith(b".mssante.fr")
            or address.startswith(b"@")
            or len(address) > MAX_ADDRESS
        ):
            bad.add(source.name, lineno, "domain", repr(address.decode()[:80]))
            stats.bad += 1
            continue
        identifier = parts[id_at].strip()
        if not identifier and national_at is not None:
            identifier = parts[national_at].strip()
        rpps = b""
        if identifier and parts[type_at].strip() == b"8":
            rpps, error = check_rpps(identifier)
            if error:
                bad.add(source.name, lineno, "rpps", error)
                stats.bad += 1
                continue
        structure = parts[structure_at].strip() if structure_at is not None else b""
        sink.mailbox(lineno, address, kind, rpps, structure)
        stats.staged += 1
    progress.tick(stream.tell(), stats.lines, force=True)
    return stats


# --- staging ---------------------------------------------------------------------------

STAGE_ACTIVITY = "dir_stage_activity"
STAGE_MSSANTE = "dir_stage_mssante"
NEW_PROFESSIONAL = "dir_new_professional"


def _activity_columns(layout: Layout) -> list[str]:
    return ["lineno", "key", "rpps"] + [f"c{i}" for i in range(layout.field_count)]


MSSANTE_STAGE_COLUMNS = ["lineno", "address", "kind", "rpps", "structure_name"]


def _create_temp(cursor: Any, name: str, columns: Sequence[str]) -> None:
    types = {"lineno": "integer"}
    if connection.vendor == "postgresql":
        types["key"] = "uuid"
    body = ", ".join(f"{column} {types.get(column, 'text')}" for column in columns)
    _drop_temp(cursor, name)
    if connection.vendor == "postgresql":
        cursor.execute(f"CREATE TEMP TABLE {name} ({body}) ON COMMIT DROP")
    else:
        cursor.execute(f"CREATE TEMP TABLE {name} ({body})")


def _drop_temp(cursor: Any, name: str) -> None:
    # Normally gone at commit (PostgreSQL) or dropped at the end; inside an enclosing
    # transaction (tests) a previous run's table may still be there.
    schema = "pg_temp" if connection.vendor == "postgresql" else "temp"
    cursor.execute(f"DROP TABLE IF EXISTS {schema}.{name}")


def _escape(value: bytes) -> bytes:
    # COPY's text format gives "\" a meaning; "|" cannot occur inside a field.
    return value.replace(b"\\", b"\\\\") if b"\\" in value else value


class PostgresCopySink(Sink):
    """Streams rows into ``COPY … FROM STDIN`` in 1 MB blocks."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        raw = connection.connection  # the psycopg 3 connection inside Django's
        self._cursor = raw.cursor()
        self._copy_cm = self._cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT text, DELIMITER '|')"
        )
        self._copy = self._copy_cm.__enter__()
        self._buffer: list[bytes] = []
        self._size = 0

    def _push(self, row: bytes) -> None:
        self._buffer.append(row)
        self._size += len(row)
        if self._size >= FLUSH_BYTES:
            self._copy.write(b"".join(self._buffer))
            self._buffer.clear()
            self._size = 0

    def activity(self, lineno: int, key: bytes, rpps: bytes, raw: bytes) -> None:
        self._push(b"%d|%b|%b|%b\n" % (lineno, key, rpps, _escape(raw)))

    def mailbox(
        self, lineno: int, address: bytes, kind: bytes, rpps: bytes, structure: bytes
    ) -> None:
        self._push(b"%d|%b|%b|%b|%b\n" % (lineno, _escape(address), kind, rpps, _escape(structure)))

    def close(self) -> None:
        if self._buffer:
            self._copy.write(b"".join(self._buffer))
            self._buffer.clear()
        self._copy_cm.__exit__(None, None, None)
        self._cursor.close()

    def abort(self, exc: BaseException) -> None:
        try:
            self._copy_cm.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            self._cursor.close()


class SqliteSink(Sink):
    """executemany into a temporary table, in batches (slower, equally atomic)."""

    BATCH = 5000

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self._cursor = connection.connection.cursor()
        marks = ", ".join("?" for _ in columns)
        self._sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self._rows: list[tuple[Any, ...]] = []

    def _push(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.BATCH:
            self._cursor.executemany(self._sql, self._rows)
            self._rows.clear()

    def activity(self, lineno: int, key: bytes, rpps: bytes, raw: bytes) -> None:
        self._push((lineno, key.decode(), rpps.decode(), *raw.decode().split("|")))

    def mailbox(
        self, lineno: int, address: bytes, kind: bytes, rpps: bytes, structure: bytes
    ) -> None:
        self._push((lineno, address.decode(), kind.decode(), rpps.decode(), structure.decode()))

    def close(self) -> None:
        if self._rows:
            self._cursor.executemany(self._sql, self._rows)
            self._rows.clear()
        self._cursor.close()

    def abort(self, exc: BaseException) -> None:
        self._cursor.close()


def _sink(table: str, columns: Sequence[str]) -> PostgresCopySink | SqliteSink:
    if connection.vendor == "postgresql":
        return PostgresCopySink(table, columns)
    return SqliteSink(table, columns)


# --- validation and apply (set-based SQL, same statements on both engines) -------------


def _col(layout: Layout, name: str) -> str:
    position = layout.positions.get(name)
    return f"c{position}" if position is not None else "''"


def _text(expr: str, length: int) -> str:
    return f"substr(trim({expr}), 1, {length})"


def _report_duplicates(
    cursor: Any, table: str, key: str, file: str, bad: BadLines, what: str
) -> int:
    """Report and drop every line whose key an earlier line already had."""
    cursor.execute(
        f"SELECT s.lineno, d.first FROM {table} s JOIN "
        f"(SELECT {key} AS k, MIN(lineno) AS first FROM {table} GROUP BY {key} "
        f"HAVING COUNT(*) > 1) d ON d.k = s.{key} WHERE s.lineno > d.first ORDER BY s.lineno"
    )
    duplicates = cursor.fetchall()
    for lineno, first in duplicates:
        bad.add(file, lineno, "duplicate", f"{what} déjà vue ligne {first}")
    if duplicates:
        cursor.execute(
            f"DELETE FROM {table} WHERE lineno IN (SELECT s.lineno FROM {table} s JOIN "
            f"(SELECT {key} AS k, MIN(lineno) AS first FROM {table} GROUP BY {key} "
            f"HAVING COUNT(*) > 1) d ON d.k = s.{key} WHERE s.lineno > d.first)"
        )
    return len(duplicates)


def _prepare_stage(cursor: Any, table: str, index_on: str) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {table}")
    else:
        cursor.execute(f"CREATE INDEX temp.{table}_{index_on} ON {table} ({index_on})")


PROFESSIONAL_FIELDS = {
    # column → (logical field or SQL, max length)
    "civility": ("civility", 20),
    "last_name": ("last_name", 120),
    "first_name": ("first_name", 120),
    "profession_code": ("profession_code", 4),
    "profession_label": ("profession_label", 120),
    "specialty_code": ("skill_code", 10),
    "specialty_label": ("skill_label", 160),
}


def _bytewise() -> str:
    """Sort digits bytewise on PostgreSQL (no locale-aware comparison needed)."""
    return ' COLLATE "C"' if connection.vendor == "postgresql" else ""


def _build_new_professionals(cursor: Any, layout: Layout) -> None:
    """One professional per RPPS, taken from its first line — preferring a line that
    gives a specialty (savoir-faire of type S), then any savoir-faire."""
    civility = _col(layout, "civility")
    if civility == "''":
        civility = _col(layout, "civility_code")
    chosen = []
    for column, (logical, length) in PROFESSIONAL_FIELDS.items():
        expr = civility if logical == "civility" else _col(layout, logical)
        chosen.append(f"{_text(expr, length)} AS {column}")
    skill_type, skill_code = _col(layout, "skill_type"), _col(layout, "skill_code")
    order = f"CASE WHEN {skill_type} = 'S' THEN 0 WHEN {skill_code} <> '' THEN 1 ELSE 2 END, lineno"
    columns = ", ".join(PROFESSIONAL_FIELDS)
    select = (
        f"SELECT rpps, {columns} FROM (SELECT rpps, {', '.join(chosen)}, "
        f"ROW_NUMBER() OVER (PARTITION BY rpps{_bytewise()} ORDER BY {order}) AS rn "
        f"FROM {STAGE_ACTIVITY}) ranked WHERE rn = 1"
    )
    _drop_temp(cursor, NEW_PROFESSIONAL)
    if connection.vendor == "postgresql":
        cursor.execute(f"CREATE TEMP TABLE {NEW_PROFESSIONAL} ON COMMIT DROP AS {select}")
        cursor.execute(f"ANALYZE {NEW_PROFESSIONAL}")
    else:
        cursor.execute(f"CREATE TEMP TABLE {NEW_PROFESSIONAL} AS {select}")
        cursor.execute(
            f"CREATE UNIQUE INDEX temp.{NEW_PROFESSIONAL}_rpps ON {NEW_PROFESSIONAL} (rpps)"
        )


def _replace(
    cursor: Any,
    *,
    target: str,
    source: str,
    key: str,
    values: dict[str, str],
    compare: bool = True,
) -> Changes:
    """Make ``target`` hold exactly the rows of ``source`` (matched on ``key``), touching
    only rows that differ. ``values`` maps target columns to expressions over ``s``."""
    changes = Changes()
    cursor.execute(
        f"DELETE FROM {target} WHERE NOT EXISTS "
        f"(SELECT 1 FROM {source} s WHERE s.{key} = {target}.{key})"
    )
    changes.removed = cursor.rowcount
    if compare and values:
        assignments = ", ".join(f"{column} = {expr}" for column, expr in values.items())
        differs = " OR ".join(f"{target}.{column} <> {expr}" for column, expr in values.items())
        cursor.execute(
            f"UPDATE {target} SET {assignments} FROM {source} s "
            f"WHERE s.{key} = {target}.{key} AND ({differs})"
        )
        changes.changed = cursor.rowcount
    columns = [key, *values]
    exprs = [f"s.{key}", *values.values()]
    cursor.execute(
        f"INSERT INTO {target} ({', '.join(columns)}) SELECT {', '.join(exprs)} "
        f"FROM {source} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {target} t WHERE t.{key} = s.{key})"
    )
    changes.added = cursor.rowcount
    return changes


def _apply_professionals(cursor: Any) -> Changes:
    return _replace(
        cursor,
        target=Professional._meta.db_table,
        source=NEW_PROFESSIONAL,
        key="rpps",
        values={column: f"s.{column}" for column in PROFESSIONAL_FIELDS},
    )


def _apply_activities(cursor: Any, layout: Layout) -> Changes:
    def col(name: str) -> str:
        position = layout.positions.get(name)
        return f"s.c{position}" if position is not None else "''"

    street_parts = " || ' ' || ".join(
        f"trim({col(part)})"
        for part in ("street_number", "street_repeat", "street_type", "street_name")
    )
    street = f"trim(replace(replace({street_parts}, '   ', ' '), '  ', ' '))"
    values = {
        "rpps": "s.rpps",
        "practice_mode": _text(col("practice_mode"), 120),
        "role": _text(col("role"), 120),
        "sector": _text(col("sector"), 160),
        "siret": _text(col("siret"), 14),
        "finess_site": _text(col("finess_site"), 9),
        "finess_legal": _text(col("finess_legal"), 9),
        "structure_id": _text(col("structure_id"), 40),
        "structure_name": _text(col("structure_name"), 200),
        "trade_name": _text(col("trade_name"), 200),
        "street": f"substr({street}, 1, 250)",
        "postal_code": _text(col("postal_code"), 10),
        "city": _text(col("city"), 120),
        "phone": _text(col("phone"), 40),
        "email": _text(col("email"), 254),
    }
    # The key is a digest of the whole line: same key, same content — nothing to compare.
    return _replace(
        cursor,
        target=Activity._meta.db_table,
        source=STAGE_ACTIVITY,
        key="key",
        values=values,
        compare=False,
    )


def _apply_addresses(cursor: Any) -> Changes:
    return _replace(
        cursor,
        target=MSSanteAddress._meta.db_table,
        source=STAGE_MSSANTE,
        key="address",
        values={
            "kind": "s.kind",
            "rpps": "s.rpps",
            "structure_name": "substr(s.structure_name, 1, 200)",
        },
    )


# --- the run ---------------------------------------------------------------------------

Reader = Callable[[Source, Layout, Sink, BadLines, Progress], FileStats]


def _read_header(source: Source) -> Layout:
    first = source.stream.readline()
    try:
        header = first.decode("utf-8")
    except UnicodeDecodeError:
        header = first.decode("cp1252", errors="replace")
    try:
        return formats.recognise(header)
    except formats.UnknownHeader as exc:
        raise ImportRefused(f"{source.name} : {exc}. Rien n'a été modifié.") from exc


def import_directory(
    *,
    by: Any,
    paths: Sequence[Path],
    report: TextIO | None = None,
    report_path: Path | None = None,
    progress: Progress | None = None,
    max_bad_share: float = 0.01,
    allow_shrink: bool = False,
    work_mem: str = "256MB",
) -> ImportSummary:
    """Replace the directory with the content of ``paths`` — all of it, or nothing.

    Raises :class:`ImportRefused` (nothing changed) for an unknown header, an unreadable
    or truncated archive, too many bad lines, or a file that would empty the directory.
    """
    started = time.monotonic()
    progress = progress or Progress(None, tty=False)
    bad = BadLines(report)
    summary = ImportSummary(report_path=report_path)
    if not paths:
        raise ImportRefused("Aucun fichier à importer.")

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One import at a time; readers are never blocked.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('concerto.import-directory'))")
            # Hash joins and the per-RPPS sort over millions of rows stay in memory.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        layouts: dict[str, tuple[Layout, FileStats]] = {}
        for path in paths:
            try:
                with ExitStack() as stack:
                    source = stack.enter_context(open_source(Path(path)))
                    layout = _read_header(source)
                    if layout.kind in layouts:
                        raise ImportRefused(
                            f"{source.name} : deux fichiers du même type ({layout.label}) "
                            "dans le même import."
                        )
                    progress.start(f"{source.name} ({layout.label})", source.size)
                    if layout.kind == ACTIVITY:
                        table, columns, reader = (
                            STAGE_ACTIVITY,
                            _activity_columns(layout),
                            read_activity,
                        )
                    else:
                        table, columns, reader = STAGE_MSSANTE, MSSANTE_STAGE_COLUMNS, read_mssante
                    _create_temp(cursor, table, columns)
                    sink = _sink(table, columns)
                    try:
                        stats = reader(source, layout, sink, bad, progress)
                    except BaseException as exc:
                        sink.abort(exc)
                        raise
                    sink.close()
                    layouts[layout.kind] = (layout, stats)
                    summary.files.append(stats)
            except SourceError as exc:
                raise ImportRefused(str(exc)) from exc
            except ARCHIVE_ERRORS as exc:
                raise ImportRefused(
                    f"{Path(path).name} : archive ZIP tronquée ou endommagée ({exc}). "
                    "Rien n'a été modifié."
                ) from exc

        progress.phase("Validation…")
        if ACTIVITY in layouts:
            _, stats = layouts[ACTIVITY]
            _prepare_stage(cursor, STAGE_ACTIVITY, "key")
            dropped = _report_duplicates(cursor, STAGE_ACTIVITY, "key", stats.name, bad, "ligne")
            stats.bad += dropped
            stats.staged -= dropped
        if MSSANTE in layouts:
            _, stats = layouts[MSSANTE]
            _prepare_stage(cursor, STAGE_MSSANTE, "address")
            dropped = _report_duplicates(
                cursor, STAGE_MSSANTE, "address", stats.name, bad, "adresse"
            )
            stats.bad += dropped
            stats.staged -= dropped
        for _, stats in layouts.values():
            _check_file(stats, max_bad_share)

        if ACTIVITY in layouts:
            layout, _ = layouts[ACTIVITY]
            _build_new_professionals(cursor, layout)
            cursor.execute(f"SELECT COUNT(*) FROM {NEW_PROFESSIONAL}")
            _check_shrink(Professional, "professionnels", cursor.fetchone()[0], allow_shrink)
        if MSSANTE in layouts:
            cursor.execute(f"SELECT COUNT(*) FROM {STAGE_MSSANTE}")
            _check_shrink(MSSanteAddress, "adresses MSSanté", cursor.fetchone()[0], allow_shrink)

        progress.phase("Application des changements…")
        if ACTIVITY in layouts:
            layout, _ = layouts[ACTIVITY]
            summary.professionals = _apply_professionals(cursor)
            progress.phase(f"Professionnels : {summary.professionals}")
            summary.activities = _apply_activities(cursor, layout)
            progress.phase(f"Activités : {summary.activities}")
        if MSSANTE in layouts:
            summary.addresses = _apply_addresses(cursor)
            progress.phase(f"Adresses MSSanté : {summary.addresses}")

        summary.totals = _totals()
        summary.bad_lines = bad.total
        summary.bad_by_reason = {REASONS[k]: v for k, v in bad.by_reason.items()}
        summary.examples = list(bad.examples)
        summary.seconds = time.monotonic() - started
        trail.record(
            by=by,
            action="directory.import",
            details={
                "files": [f.name for f in summary.files],
                "rows_read": summary.rows_read,
                "bad_lines": summary.bad_lines,
                "professionals": vars(summary.professionals) if summary.professionals else None,
                "activities": vars(summary.activities) if summary.activities else None,
                "addresses": vars(summary.addresses) if summary.addresses else None,
                "totals": summary.totals,
            },
        )
        for table in (STAGE_ACTIVITY, STAGE_MSSANTE, NEW_PROFESSIONAL):
            _drop_temp(cursor, table)
    summary.seconds = time.monotonic() - started
    return summary


def _check_file(stats: FileStats, max_bad_share: float) -> None:
    if stats.lines and stats.bad / stats.lines > max_bad_share:
        raise ImportRefused(
            f"{stats.name} : {stats.bad} lignes rejetées sur {stats.lines} "
            f"({stats.bad / stats.lines:.1%}), au-delà du maximum autorisé "
            f"({max_bad_share:.1%}). Rien n'a été modifié."
        )
    if stats.staged == 0:
        raise ImportRefused(
            f"{stats.name} : aucune ligne valide ; l'annuaire n'est pas vidé. Rien n'a été modifié."
        )


def _check_shrink(model: Any, label: str, new_count: int, allow_shrink: bool) -> None:
    current = model.objects.count()
    if not allow_shrink and current >= 1000 and new_count < current / 2:
        raise ImportRefused(
            f"Le nouvel import ne compte que {new_count} {label} contre {current} aujourd'hui "
            "(moins de la moitié) : fichier incomplet ? Relancez avec --allow-shrink si c'est "
            "voulu. Rien n'a été modifié."
        )


def _totals() -> dict[str, int]:
    totals = {
        "professionals": Professional.objects.count(),
        "activities": Activity.objects.count(),
    }
    for kind in MAILBOX_KINDS:
        totals[f"addresses_{kind}"] = MSSanteAddress.objects.filter(kind=kind).count()
    return totals
