"""Import the Annuaire Santé extraction files: atomic, streamed, set-based.

One run = one transaction:

1. each file is recognised by its header (:mod:`concerto.directory.formats`); a file
   identical (size, SHA-256) to the last one applied, the tables unchanged since, is left
   as it is (``force`` compares it anyway);
2. the others are read in 1 MB blocks split into lines; a block that is not valid UTF-8
   is checked line by line, and a bad line decoded as cp1252 (⚠ one report says the
   files are Windows-1252);
3. lines with the wrong number of fields or an invalid RPPS are reported and skipped; a
   line repeating an earlier line of the same professional is reported and skipped while
   reading (the file is grouped by RPPS), in SQL otherwise; the others are streamed into
   a staging table — PostgreSQL ``COPY`` (psycopg 3 ``cursor.copy()``), or
   ``executemany`` into a temporary table on SQLite. Into an empty directory (first
   import, PostgreSQL), the activities, professionals and addresses are COPY'd straight
   into their tables, their indexes and primary keys dropped and rebuilt once at the end;
   the activity file, when large, is parsed by two processes (:class:`ActivityHelper`),
   the MSSanté file by a third (:class:`BackgroundMSSante`, started once one of those
   two is done with its part), and the professionals are then loaded and indexed by a
   second connection in a side table, swapped in by this transaction at the end
   (:class:`SideProfessionals`, ADR 0006);
4. validation: repeated addresses (SQL); too large a share of bad lines, a file with no
   valid line or one that would empty half the directory stops the run;
5. the directory is brought to the new state with set-based statements (delete what is
   gone, update what differs, insert what is new), each counted; an unchanged file
   rewrites no row (on PostgreSQL the difference is found by one full join of the table
   with its staged rows, then applied by id). Over-long values are cut in those
   statements.

A refresh of the activity file (the tables as the last import left them, no ``force``)
compares the file with the directory's own lines rather than staging it whole: the
digests of the lines in the directory (an activity's key) are read into a set first
(16 bytes each: about 200 MB for the national file's 2.1 M lines), a line found there is
taken out of it and not staged, and what is left at the end is what the file no longer
has. Only the new lines are staged and inserted, only the lines gone deleted, and only
the professionals who gained or lost a line are compared (their candidates are spooled,
then staged once the set of professionals concerned is known). That is exact because a
professional depends on their lines alone, not on their order in the file (the best
line is chosen by quality, then by digest); ``tests/directory/test_import.py`` checks
that a forced full comparison after a refresh finds nothing left to change.

Any error, or the process being killed, rolls the transaction back: the previous
directory stays whole, and readable throughout (PostgreSQL readers are never blocked).

On a first import, the regular lines of a 1 MB block (the published shape, nothing to
trim, cut or re-encode: most of them) are checked and turned into rows with NumPy
(:mod:`concerto.directory.blocks`, ADR 0008), the others by the line readers below, in
order, with the same rows byte for byte.

Why the lines are split in the client, even on PostgreSQL (measured, branch ``dirperf``): the
alternative was tried: raw 1 MB blocks COPY'd into a one-column-per-field table, checked
at C speed per block, with the key computed in Python and the type and RPPS checks (Luhn on
a bigint), the best line per professional and the shaping done in set-based SQL. On PostgreSQL
15 it was 8-13 % *slower* than this reader, in two same-machine A/B runs (300,000 professionals,
first import, forced re-import, 1 % churn). Per-row SQL expressions (``string_to_array`` /
subscripts: about 11 µs a line; concat_ws + md5: 3 µs; a Luhn expression: 1-2 µs) cost as
much as the Python loop. The Python loop also runs on another core while the server takes
in the COPY; the SQL work runs after it, on one backend.
"""

# ruff: noqa: S608 — the SQL is built from constants and column numbers, never from
# file content; every value read from the files goes through COPY or bound parameters.

from __future__ import annotations

import array
import binascii
import collections
import functools
import hashlib
import io
import itertools
import logging
import multiprocessing
import operator
import os
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as pgsql

from concerto.audit import trail
from concerto.directory import blocks, formats
from concerto.directory.formats import ACTIVITY, MAILBOX_KINDS, MSSANTE, Layout
from concerto.directory.models import Activity, DirectorySource, MSSanteAddress, Professional
from concerto.directory.progress import Progress
from concerto.directory.sources import ARCHIVE_ERRORS, Source, SourceError, open_source
from concerto.lib import clock
from concerto.lib.identifiers import PLAIN_ADDRESS_PATTERN

logger = logging.getLogger(__name__)

FLUSH_BYTES = 1 << 20
# Raise when the rows made from a line change (columns read, shaping, the choice of a
# professional's line): the directory is then compared whole at the next import, even
# with an unchanged file (see DirectorySource.shape).
READING_VERSION = 3  # 3: a line's key is its SHA-1 (128 bits), no longer its MD5
KEYS_PER_READ = 1 << 18  # the directory's line digests are read in ranges of ids
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
    "nul": "caractère NUL (octet 0) dans la ligne",
    "address": "adresse MSSanté mal formée",
}
# What an address must look like to be sent to (as the notification worker checks it).
_PLAIN_ADDRESS = re.compile(PLAIN_ADDRESS_PATTERN.encode())
NUL = b"\x00"


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
    size: int = 0
    digest: str = ""
    unchanged_since: Any = None  # same file as the last import: not read again
    shape: str = ""  # see DirectorySource.shape
    grouped: bool = False  # activity file in RPPS order: one candidate per professional
    first_rpps: bytes = b""  # of the part read, for ``grouped`` across two parts
    last_rpps: bytes = b""
    professionals: int = 0  # candidates staged (one per professional once settled)
    # First import (PostgreSQL): activities COPY'd straight into their empty table, its
    # indexes dropped (``rebuild`` gives them back), each row's id its line number.
    direct: bool = False
    rebuild: list[str] = field(default_factory=list)
    # First import of a grouped file (PostgreSQL): the professionals too went straight
    # into their empty table, whose indexes ``professional_rebuild`` gives back.
    professionals_direct: bool = False
    professional_rebuild: list[str] = field(default_factory=list)
    # Or loaded and indexed by a second connection, to be swapped in at the end.
    professional_side: SideProfessionals | None = None
    # A refresh against the directory's own lines (see ``read_activity``'s ``known``):
    # valid lines already there (counted in ``staged`` too, but not staged), the RPPS
    # of the staged lines, how many lines of the directory the file no longer has (their
    # keys in the staging table ``dir_stage_gone``), and the professionals left with no
    # line at all.
    refresh: bool = False
    unchanged: int = 0
    touched: set[bytes] = field(default_factory=set)
    gone_lines: int = 0
    gone_professionals: list[bytes] = field(default_factory=list)


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


# Luhn: every second digit from the right is doubled (digits summed: 7 → 14 → 5).
_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def _luhn_ok(digits: bytes) -> bool:
    """``digits``: ASCII digits. Two slices and two C-level sums, no per-digit Python."""
    kept = digits[-1::-2]
    return (sum(kept) - 48 * len(kept) + sum(digits[-2::-2].translate(_DOUBLED))) % 10 == 0


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


class Writer:
    """Rows (lists of UTF-8 byte strings) into one staging table."""

    def write(self, row: list[bytes]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


# Staged columns. Activities and professionals are shaped by the reader (trimmed, cut to
# the model's lengths), so that applying them is a plain column-to-column copy.
ACTIVITY_VALUES = (
    "practice_mode",
    "role",
    "sector",
    "siret",
    "finess_site",
    "finess_legal",
    "structure_id",
    "structure_name",
    "trade_name",
    "postal_code",
    "city",
    "phone",
    "email",
    "street",  # last: built from four columns
)
ACTIVITY_STAGE = ("lineno", "key", "rpps", *ACTIVITY_VALUES)
# Straight into the table (first import): the id is the line number, as ``lineno`` above
# (the second reader's rows can be sent in between this process's, see ActivityHelper).
ACTIVITY_LOADED = ("id", "key", "rpps", *ACTIVITY_VALUES)
ACTIVITY_TABLE = Activity._meta.db_table
PROFESSIONAL_TABLE = Professional._meta.db_table
PROFESSIONAL_VALUES = (
    "civility",
    "last_name",
    "first_name",
    "profession_code",
    "profession_label",
    "specialty_code",
    "specialty_label",
)
PROFESSIONAL_STAGE = ("rpps", "rank", *PROFESSIONAL_VALUES)
MAILBOX_VALUES = ("kind", "rpps", "structure_name")
MAILBOX_STAGE = ("lineno", "address", *MAILBOX_VALUES)
MAILBOX_TABLE = MSSanteAddress._meta.db_table
MAILBOX_LOADED = ("address", *MAILBOX_VALUES)  # straight into the table (first import)
# Where each professional value comes from in the activity file.
PROFESSIONAL_SOURCES = (
    "civility",
    "last_name",
    "first_name",
    "profession_code",
    "profession_label",
    "skill_code",
    "skill_label",
)
STREET_PARTS = ("street_number", "street_repeat", "street_type", "street_name")
ACTIVITY_COLUMNS_USED = (
    *[name for name in ACTIVITY_VALUES if name != "street"],
    *STREET_PARTS,
    *PROFESSIONAL_SOURCES[1:],
    "skill_type",
    "skill_code",
    "civility",
)


def _limits(model: Any, columns: Sequence[str]) -> tuple[int, ...]:
    return tuple(model._meta.get_field(column).max_length for column in columns)


def _fitted(column: str, limit: int | None) -> str:
    """The staged value of ``column`` cut to the model's size (over-long values are rare),
    in the statement that reads it: no separate scan of the staging table."""
    if limit is None:
        return f"s.{column}"
    if connection.vendor == "postgresql":
        return f"s.{column}::varchar({limit})"  # an explicit cast truncates, never fails
    return f"substr(s.{column}, 1, {limit})"


def _records(
    source: Source,
    layout: Layout,
    stats: FileStats,
    bad: BadLines,
    progress: Progress,
    lineno: int = 1,
    runs: Callable[[bytes, int], blocks.Run | blocks.MailboxRun] | None = None,
) -> Iterator[tuple[int, Any, Any]]:
    """The data lines of a file as (line number, line, fields), for both readers: blank lines
    skipped, non-UTF-8 lines re-encoded, the optional trailing "|" dropped, and a line
    with the wrong number of fields reported (and counted) here rather than yielded.
    ``lineno``: the number of the line before the stream's first (1: the header).

    The file is read in 1 MB blocks cut at a line end and split into lines at C speed;
    a block that decodes as UTF-8 as a whole (the usual case) needs no check per line.

    ``runs`` (a first import): makes a :class:`blocks.Run` (:class:`blocks.MailboxRun`) of
    a block, whose consecutive regular lines are then yielded together, as ``(line number
    of the first, None, (run, their numbers in the block))``, between the other lines."""
    stream = source.stream
    rest = b""
    while True:
        block = stream.read(FLUSH_BYTES)
        if block:
            block = rest + block if rest else block
            cut = block.rfind(b"\n") + 1
            if not cut:  # a line longer than a block: read on
                rest = block
                continue
            block, rest = block[:cut], block[cut:]
        elif rest:  # the last line, without a final newline
            block, rest = rest, b""
        else:
            break
        try:
            block.decode("utf-8")
            check_encoding = False
        except UnicodeDecodeError:
            check_encoding = True
        if runs is not None and not check_encoding and blocks.usable(block, layout):
            run = runs(block, lineno + 1)
            if run.regular.any():
                yield from _runs_and_lines(run, block, lineno, stats, bad, source, layout)
                lineno += run.block.count
                progress.tick(stream.tell(), stats.lines)
                continue
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        yield from _checked(
            enumerate(lines, lineno + 1),
            source,
            layout,
            stats,
            bad,
            strip_cr=b"\r" in block,
            check_encoding=check_encoding,
            has_nul=NUL in block,  # (PostgreSQL refuses it: such a line is reported)
        )
        lineno += len(lines)
        progress.tick(stream.tell(), stats.lines)


def _checked(
    numbered: Iterable[tuple[int, bytes]],
    source: Source,
    layout: Layout,
    stats: FileStats,
    bad: BadLines,
    *,
    strip_cr: bool = False,
    check_encoding: bool = False,
    has_nul: bool = False,
) -> Iterator[tuple[int, bytes, list[bytes]]]:
    """The lines of :func:`_records`, one by one: blank ones skipped, the others counted,
    re-encoded, split and checked (the flags: what the block may hold)."""
    fields = layout.field_count
    # Every line of an activity file ends with "|" (INTEGRATION.md): there, a line of
    # exactly ``fields`` parts lacks a field (its columns would be shifted), never the
    # final "|". (The MSSanté file has it or not, and a line cannot tell which.)
    strict = layout.kind == ACTIVITY and layout.trailing_pipe
    read = 0  # (counted locally, added to ``stats.lines`` at the end)
    for lineno, line in numbered:
        raw = line.rstrip(b"\r") if strip_cr else line
        if not raw:
            continue
        read += 1
        if check_encoding and not raw.isascii():
            raw = _to_utf8(raw, stats)
        if has_nul and NUL in raw:
            bad.add(source.name, lineno, "nul", f"position {raw.index(NUL) + 1}")
            stats.bad += 1
            continue
        parts = raw.split(b"|")
        if len(parts) != fields:
            if len(parts) == fields + 1 and not parts[-1]:  # the trailing "|"
                parts.pop()
                raw = raw[:-1]
            else:
                bad.add(source.name, lineno, "fields", _field_count_error(raw, layout))
                stats.bad += 1
                continue
        elif strict:  # a field is missing, not the final "|"
            bad.add(source.name, lineno, "fields", _field_count_error(raw, layout))
            stats.bad += 1
            continue
        yield lineno, raw, parts
    stats.lines += read


def _runs_and_lines(
    run: blocks.Run | blocks.MailboxRun,
    block: bytes,
    lineno: int,
    stats: FileStats,
    bad: BadLines,
    source: Source,
    layout: Layout,
) -> Iterator[tuple[int, Any, Any]]:
    """A block of :func:`_records` with regular lines: their runs, and the other lines one
    by one, checked as there (a block with none of those: no NUL, CR or invalid UTF-8)."""
    regular = run.regular
    edges = np.flatnonzero(np.diff(regular.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(regular)]
    lines = block.split(b"\n") if len(edges) or not regular[0] else []
    for start, end in itertools.pairwise(bounds):
        if regular[start]:
            stats.lines += end - start
            yield lineno + 1 + start, None, (run, np.arange(start, end))
        else:
            numbered = ((lineno + 1 + n, lines[n]) for n in range(start, end))
            yield from _checked(numbered, source, layout, stats, bad)


def _run_of(block: bytes, first_lineno: int, *, fields: int, columns: blocks.Columns) -> blocks.Run:
    return blocks.Run(blocks.Block(block, fields), columns, first_lineno)


def _mailbox_run_of(
    block: bytes, first_lineno: int, *, layout: Layout, columns: blocks.MailboxColumns
) -> blocks.MailboxRun:
    return blocks.MailboxRun(
        blocks.Block(block, layout.field_count, layout.trailing_pipe, columns.used),
        columns,
        first_lineno,
    )


def _cut(value: bytes, limit: int) -> bytes:
    """``value`` (UTF-8) cut to ``limit`` characters."""
    return value if len(value) <= limit else value.decode()[:limit].encode()


def read_activity(
    source: Source,
    layout: Layout,
    activities: Writer,
    professionals: Writer,
    bad: BadLines,
    progress: Progress,
    *,
    direct: bool = False,
    known: set[bytes] | None = None,
    line_before: int = 1,
) -> FileStats:
    """Stage the activity file; with ``direct``, write the activities as rows of their
    final table (their id the line number, values cut to the columns' sizes).

    ``known`` (a refresh): the digests of the lines already in the directory. A line
    found there is not staged (it is taken out of ``known``: what is left at the end is
    what the file no longer has); ``stats.touched`` collects the RPPS of the new lines.

    ``line_before``: the number of the line before the stream's first (another process reads
    the second part of a large file: see :class:`ActivityHelper`)."""
    stats = FileStats(source.name, layout, direct=direct)
    touched = stats.touched
    limits = _limits(Activity, ACTIVITY_VALUES)
    longer = operator.gt
    fields = layout.field_count
    at = layout.positions
    type_at, id_at = at["id_type"], at["id"]
    # A missing optional column reads the empty field appended at index ``fields``.
    # Place values are stored as published (no trimming: it costs more than it gives).
    pick_values = operator.itemgetter(
        *[at.get(name, fields) for name in ACTIVITY_VALUES if name != "street"]
    )
    pick_street = operator.itemgetter(*[at.get(name, fields) for name in STREET_PARTS])
    pad = any(name not in at for name in ACTIVITY_COLUMNS_USED)
    civility_at = at.get("civility", at.get("civility_code", fields))
    pick_person = operator.itemgetter(
        civility_at, *[at.get(name, fields) for name in PROFESSIONAL_SOURCES[1:]]
    )
    skill_type_at, skill_code_at = at.get("skill_type", fields), at.get("skill_code", fields)
    sha1 = hashlib.sha1
    hexlify = binascii.hexlify
    from_bytes = int.from_bytes
    strip = bytes.strip
    last_id = None
    last_rpps, last_error = b"", None
    # The professional is taken from its best line: a specialty (savoir-faire of type S)
    # first, then any savoir-faire, then the line of smallest digest — not the first
    # line: the professional then depends on their lines alone, not on their order in
    # the file, which a refresh relies on (a professional none of whose lines changed is
    # not looked at). Consecutive lines of one RPPS are settled here; the rest (if the
    # file is not grouped) in SQL, by ``rank``: the quality in its 2 high bits, then
    # the digest's first 61 bits (two lines of one professional sharing them: odds of
    # 2^-61; one of them would then be kept, whichever).
    person: list[Any] | None = None
    person_rank = 0
    grouped = True  # RPPS never decrease: no RPPS can come back after another one
    # While the file is grouped, a repeated line can only repeat a line of the same
    # professional: duplicates are found here, among that professional's lines (their
    # digests), instead of by a pass over the staging table.
    lines_of_person: dict[bytes, int] = {}
    staged = 0  # (counted locally: cheaper than the attribute)
    # The professionals' spool of a first import takes the rank as a number; the others
    # as COPY text.
    rank_text = not isinstance(professionals, ProfessionalSpool)
    # A first import reads the regular lines a block at a time (concerto.directory.blocks).
    runs = None
    if direct and known is None and not rank_text and hasattr(activities, "write_block"):
        columns = blocks.columns_for(
            layout,
            [name for name in ACTIVITY_VALUES if name != "street"],
            limits[:-1],
            STREET_PARTS,
            limits[-1],
            PROFESSIONAL_SOURCES[1:],
            _limits(Professional, PROFESSIONAL_VALUES),
        )
        runs = functools.partial(_run_of, fields=fields, columns=columns)
    records = _records(source, layout, stats, bad, progress, line_before, runs)
    for lineno, raw, parts in records:
        if raw is None:  # regular lines, read together
            state = blocks.Person(person, person_rank, lines_of_person)
            run, numbers = parts
            done = blocks.read_run(run, numbers, state, grouped, activities, professionals)
            person, person_rank, lines_of_person = state.row, state.rank, state.lines
            for line, first in done.duplicates:
                bad.add(source.name, line, "duplicate", f"ligne déjà vue ligne {first}")
            stats.bad += len(done.duplicates)
            stats.ignored += done.ignored
            stats.professionals += done.professionals
            staged += done.staged
            grouped = done.grouped
            if done.last_id is not None:
                last_id = last_rpps = done.last_id
                last_error = None
                if not stats.first_rpps:
                    stats.first_rpps = done.first_rpps
            continue
        # (Comparisons try the value as published before stripping it: cheaper.)
        if parts[type_at] != b"8" and parts[type_at].strip() != b"8":  # 0 = ADELI: not RPPS
            stats.ignored += 1
            continue
        identifier = parts[id_at]
        if identifier != last_id:
            last_id = identifier
            last_rpps, last_error = check_rpps(identifier.strip())
        if last_error:
            bad.add(source.name, lineno, "rpps", last_error)
            stats.bad += 1
            continue
        if person is not None and person[0] != last_rpps:  # the next professional
            professionals.write(person)
            stats.professionals += 1
            if last_rpps < person[0]:
                grouped = False
            person = None
            lines_of_person.clear()
        digest = sha1(raw, usedforsecurity=False).digest()[:16]  # (blocks.line_key)
        if grouped:
            first = lines_of_person.setdefault(digest, lineno)
            if first != lineno:
                bad.add(source.name, lineno, "duplicate", f"ligne déjà vue ligne {first}")
                stats.bad += 1
                continue
        if pad:
            parts.append(b"")
        staged += 1
        if known is not None and digest in known:
            known.remove(digest)  # already in the directory, as it is
            stats.unchanged += 1
        else:
            values = [*pick_values(parts), b" ".join(b" ".join(pick_street(parts)).split())]
            # Byte lengths bound character lengths: only a longer one may need a cut.
            if direct and any(map(longer, map(len, values), limits)):
                values = list(map(_cut, values, limits))
            activities.write([b"%d" % lineno, hexlify(digest), last_rpps, *values])
            if known is not None:
                touched.add(last_rpps)
        skill_type = parts[skill_type_at]
        quality = 0 if skill_type == b"S" or skill_type.strip() == b"S" else 2
        if quality and parts[skill_code_at]:
            quality = 1
        rank = (quality << 61) | (from_bytes(digest[:8]) >> 3)
        if person is None or rank < person_rank:
            if not stats.first_rpps:
                stats.first_rpps = last_rpps
            person_rank = rank
            shown = b"%d" % rank if rank_text else rank
            person = [last_rpps, shown, *map(strip, pick_person(parts))]
    stats.staged += staged
    if person is not None:
        professionals.write(person)
        stats.professionals += 1
        stats.last_rpps = person[0]
    stats.grouped = grouped
    progress.tick(source.stream.tell(), stats.lines, force=True)
    return stats


def read_mssante(
    source: Source,
    layout: Layout,
    mailboxes: Writer,
    bad: BadLines,
    progress: Progress,
    *,
    direct: bool = False,
) -> FileStats:
    """Stage the MSSanté file; with ``direct`` (first import), write rows of the mailbox
    table itself, a repeated address reported here (the first line's kept): the file's
    addresses are held in memory (about 60 MB for the national file's 543,000)."""
    stats = FileStats(source.name, layout, direct=direct)
    first_line: dict[bytes, int] | None = {} if direct else None
    fields = layout.field_count
    at = layout.positions
    kind_at, address_at, type_at, id_at = (
        at["mailbox_type"],
        at["address"],
        at["id_type"],
        at["id"],
    )
    national_at = at.get("national_id")
    structure_at = at.get("structure_name", fields)
    structure_limit = MSSanteAddress._meta.get_field("structure_name").max_length or 200
    kinds = {kind.encode() for kind in MAILBOX_KINDS}
    plain = _PLAIN_ADDRESS.fullmatch
    # A first import reads the regular lines a block at a time (concerto.directory.blocks).
    runs = None
    if first_line is not None and hasattr(mailboxes, "write_block"):
        columns = blocks.MailboxColumns(
            kind_at,
            address_at,
            type_at,
            id_at,
            national_at,
            at.get("structure_name"),
            structure_limit,
            MAX_ADDRESS,
        )
        runs = functools.partial(_mailbox_run_of, layout=layout, columns=columns)
    for lineno, raw, parts in _records(source, layout, stats, bad, progress, runs=runs):
        if raw is None:  # regular lines, read together
            assert first_line is not None
            run, numbers = parts
            done = blocks.read_mailbox_run(run, numbers, first_line, plain, mailboxes)
            for line, reason, detail in done.rejected:
                bad.add(source.name, line, reason, detail)
            stats.bad += len(done.rejected)
            stats.staged += done.staged
            continue
        parts.append(b"")
        kind = parts[kind_at].strip().upper()
        if kind not in kinds:
            bad.add(source.name, lineno, "kind", repr(kind.decode()))
            stats.bad += 1
            continue
        # Addresses are compared without case: MSSanté addresses are lower case.
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
        if not plain(address):  # a space, an accent, a control character…: unusable
            bad.add(source.name, lineno, "address", repr(address.decode()[:80]))
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
        structure = parts[structure_at].strip()
        if len(structure) > structure_limit:
            structure = structure.decode()[:structure_limit].encode()
        if first_line is None:
            mailboxes.write([b"%d" % lineno, address, kind, rpps, structure])
        else:
            first = first_line.setdefault(address, lineno)
            if first != lineno:
                bad.add(source.name, lineno, "duplicate", f"adresse déjà vue ligne {first}")
                stats.bad += 1
                continue
            mailboxes.write([address, kind, rpps, structure])
        stats.staged += 1
    progress.tick(source.stream.tell(), stats.lines, force=True)
    return stats


# --- staging ---------------------------------------------------------------------------

STAGE_ACTIVITY = "dir_stage_activity"
STAGE_MSSANTE = "dir_stage_mssante"
STAGE_PROFESSIONAL = "dir_stage_professional"
STAGE_GONE = "dir_stage_gone"  # a refresh: the keys of the lines the file no longer has
STAGE_GONE_PROFESSIONAL = "dir_stage_gone_professional"
STAGE_TYPES = {"lineno": "integer", "rank": "bigint"}


def _create_temp(cursor: Any, name: str, columns: Sequence[str]) -> None:
    types = dict(STAGE_TYPES)
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


def _escaped(block: bytes) -> bytes:
    """Rows (values "|"-separated, rows ended by "\\n") in COPY's text format, which gives
    the backslash and a bare CR a meaning ("|" and line ends cannot occur in a value).
    Checked a block of rows at a time, not row by row: both are rare."""
    if b"\\" in block or b"\r" in block:
        block = block.replace(b"\\", b"\\\\").replace(b"\r", b"\\r")
    return block


def _taken_rows(rows: list[bytes]) -> bytes:
    """The rows buffered (joined values), one a line, each ended by "\\n"; the buffer is
    emptied."""
    rows.append(b"")  # the last row's newline
    block = b"\n".join(rows)
    rows.clear()
    return block


def _copy_sql(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT text, DELIMITER '|')"


class CopyWriter(Writer):
    """PostgreSQL: ``COPY … FROM STDIN`` through psycopg 3, in 1 MB blocks."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self._cursor = connection.connection.cursor()  # psycopg 3, inside Django's transaction
        self._copy_cm = self._cursor.copy(_copy_sql(table, columns))
        self._copy = self._copy_cm.__enter__()
        self._buffer: list[bytes] = []
        self._size = 0
        # Called after each block: sends another process's rows in between (ActivityHelper).
        self.between: Callable[[], None] | None = None

    def write(self, row: list[bytes]) -> None:
        line = b"|".join(row)
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._copy.write(_escaped(_taken_rows(self._buffer)))
        self._size = 0
        if self.between is not None:
            self.between()

    def write_block(self, block: bytes) -> None:
        """Rows already joined, one a line (:mod:`concerto.directory.blocks`), after those
        written so far."""
        self._buffer.append(block[:-1])  # (its last newline: _taken_rows adds one)
        self._flush()

    def write_encoded(self, block: bytes) -> None:
        """Rows already in COPY text form (another process's): the rows written so far go
        first; ``block`` may end inside a row that the next block ends."""
        if self._buffer:
            between, self.between = self.between, None
            self._flush()
            self.between = between
        self._copy.write(block)

    def close(self) -> None:
        if self._buffer:
            self._flush()
        self._copy_cm.__exit__(None, None, None)
        self._cursor.close()

    def abort(self) -> None:
        try:
            self._copy_cm.__exit__(RuntimeError, RuntimeError("import interrompu"), None)
        except Exception:  # noqa: S110 — the original error is the one to report
            pass
        finally:
            self._cursor.close()


class _SpoolWriter(Writer):
    """Rows into a binary file, in batches: as COPY text rows (a spool, or the other
    process's output: see :func:`_copy_spool`), or, without ``escape``, as they are
    ("|"-separated, one a line)."""

    def __init__(self, out: Any, *, escape: bool = True) -> None:
        self._out = out
        self._escape = escape
        self._buffer: list[bytes] = []

    BATCH = 8192  # rows

    def write(self, row: list[bytes]) -> None:
        self._buffer.append(b"|".join(row))
        if len(self._buffer) >= self.BATCH:
            self._spill()

    def _spill(self) -> None:
        if self._buffer:
            block = _taken_rows(self._buffer)
            self._out.write(_escaped(block) if self._escape else block)

    def write_block(self, block: bytes) -> None:
        """Rows already joined, one a line, after those written so far."""
        self._buffer.append(block[:-1])  # (its last newline: _taken_rows adds one)
        self._spill()

    def close(self) -> None:
        self._spill()
        self._out.flush()

    def abort(self) -> None:
        self._buffer.clear()


def _copy_spool(spool: Any, sql: str) -> None:
    """COPY a file of COPY text rows, from its start, on this process's connection."""
    spool.seek(0)
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        while block := spool.read(FLUSH_BYTES):
            copy.write(block)


class SpooledCopyWriter(Writer):
    """PostgreSQL allows one COPY at a time per connection: rows for a second table go
    to a temporary file (disk, not memory) and are copied once the first COPY is done."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self._sql = _copy_sql(table, columns)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 — closed in close()/abort()
        self._rows = _SpoolWriter(self._spool)

    def write(self, row: list[bytes]) -> None:
        self._rows.write(row)

    def close(self) -> None:
        self._rows.close()
        _copy_spool(self._spool, self._sql)
        self._spool.close()

    def abort(self) -> None:
        self._spool.close()


class ProfessionalSpool(Writer):
    """First import (PostgreSQL): the professional candidates, spooled like
    :class:`SpooledCopyWriter`. A grouped file has exactly one per professional, already
    the best: they are COPY'd straight into the empty professional table (its indexes
    rebuilt once after), sparing a staging table and an INSERT … SELECT of every
    professional. Otherwise they go to the staging table, with their ranks, to be settled.
    """

    def __init__(self, spool: Any = None) -> None:
        # (``spool``: a file of the parent's, for the process reading a file's second part.)
        self._spool = spool or tempfile.TemporaryFile()  # noqa: SIM115 — closed in finish()/abort()
        self._rows = _SpoolWriter(self._spool)
        self.ranks = array.array("q")
        self._limits = _limits(Professional, PROFESSIONAL_VALUES)
        self._more: list[Any] = []  # the other process's candidates, which come after these

    def write(self, row: list[Any]) -> None:
        rpps, rank, *values = row  # (the rank as a number: see read_activity)
        if any(map(operator.gt, map(len, values), self._limits)):
            values = list(map(_cut, values, self._limits))
        self.ranks.append(rank)
        self._rows.write([rpps, *values])

    def write_block(self, block: bytes, ranks: Any) -> None:
        """Candidates already joined, one a line, values within their columns' sizes
        (:mod:`concerto.directory.blocks`); ``ranks``: theirs, an int64 array."""
        self.ranks.frombytes(ranks.tobytes())
        self._rows.write_block(block)

    def close(self) -> None:
        raise RuntimeError("ProfessionalSpool: finish(grouped) instead")

    def flush(self) -> None:
        self._rows.close()

    def absorb(self, spool: Any, ranks: array.array[int]) -> None:
        """The candidates of a file's second part (spooled by another process, ``ranks``
        as it sent them), to be loaded after these."""
        self._more.append(spool)
        self.ranks.extend(ranks)

    def finish(self, cursor: Any, *, grouped: bool) -> list[str]:
        """Load the candidates; returns the statements that rebuild the professional
        table's indexes when they went straight into it (else none)."""
        self._rows.close()
        rebuild = []
        spools = [self._spool, *self._more]
        if grouped:
            rebuild = _drop_indexes(cursor, PROFESSIONAL_TABLE)
            for spool in spools:
                _copy_spool(spool, _copy_sql(PROFESSIONAL_TABLE, ("rpps", *PROFESSIONAL_VALUES)))
        else:  # each line gets its rank back, after its RPPS
            for spool in spools:
                spool.seek(0)
            sql = _copy_sql(STAGE_PROFESSIONAL, PROFESSIONAL_STAGE)
            with connection.connection.cursor() as copy_cursor, copy_cursor.copy(sql) as copy:
                out: list[bytes] = []
                lines = itertools.chain.from_iterable(spools)
                for line, rank in zip(lines, self.ranks, strict=True):
                    rpps, rest = line.split(b"|", 1)
                    out.append(b"%s|%d|%s" % (rpps, rank, rest))
                    if len(out) >= 8192:
                        copy.write(b"".join(out))
                        out.clear()
                copy.write(b"".join(out))
        self._spool.close()
        return rebuild

    def aside(self, cursor: Any, progress: Progress) -> SideProfessionals:
        """Hand the candidates of a grouped file to a second connection instead
        (:class:`SideProfessionals`)."""
        self._rows.close()
        side = SideProfessionals(cursor, [self._spool, *self._more], progress)
        self._spool.close()
        return side

    def abort(self) -> None:
        self._spool.close()


SIDE_PREFIX = "dir_side_professional"


def _side_load_possible(cursor: Any) -> bool:
    """Whether the (empty) professional table may be replaced by another one of its shape:
    this role owns it, its id is an identity column (a serial's sequence would be shared
    with the copy, and dropped with the original), and nothing depends on it that a drop
    would take along or refuse: a foreign key, a view or a function, a trigger, a policy,
    inheritance, a publication."""
    cursor.execute(
        "SELECT c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attname = 'id' "
        "  AND attidentity <> '') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass "
        "  AND d.refobjid = c.oid AND d.deptype = 'n' AND NOT (d.classid = "
        "  'pg_constraint'::regclass AND d.objid IN "  # (its own checks name its columns)
        "  (SELECT oid FROM pg_constraint WHERE conrelid = c.oid))) "
        "AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal) "
        "AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid) "
        "AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid) "
        "AND NOT EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        [PROFESSIONAL_TABLE],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


class _Cancelled(Exception):
    pass


class SideProfessionals:
    """First import, a large file grouped by RPPS (PostgreSQL): the professionals are
    loaded and indexed by a second connection, in a table of the professional table's
    shape, while this one builds the activities' indexes and loads the mailboxes (these
    statements, one after the other on one connection, were about a third of a first
    import). This transaction then drops the empty professional table and gives the
    loaded one its name, and its indexes, constraints and sequence theirs (:meth:`swap`):
    nothing is visible before the commit, and a failed run leaves the directory as it
    was. The side table, committed by its own connection under a name of this run's, is
    dropped after a failed run (:meth:`discard`); a side table left by a killed run is
    dropped by the next one that makes one (imports run one at a time).

    Not used inside an enclosing transaction (the side connection would not see it)."""

    def __init__(self, cursor: Any, spools: Sequence[Any], progress: Progress) -> None:
        cursor.execute(
            "SELECT quote_ident(n.nspname), current_user, pg_backend_pid(), "
            "pg_get_serial_sequence(%s, 'id'), current_setting('maintenance_work_mem') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = %s::regclass",
            [PROFESSIONAL_TABLE, PROFESSIONAL_TABLE],
        )
        row: tuple[str, str, int, str | None, str] = cursor.fetchone()
        schema, self._role, pid, self._sequence, self._work_mem = row
        self._schema = schema
        self.table = f"{SIDE_PREFIX}_{pid}"  # (this run's: see discard)
        self._side = f"{schema}.{self.table}"
        self._original = f"{schema}.{PROFESSIONAL_TABLE}"
        cursor.execute(
            "SELECT conname, contype, condeferrable, condeferred, pg_get_indexdef(conindid) "
            "FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u') "
            "ORDER BY conname",
            [PROFESSIONAL_TABLE],
        )
        constraints = cursor.fetchall()
        indexes = _plain_indexes(cursor, PROFESSIONAL_TABLE)
        # Every index, the constraints' included, is built by whichever connection is free
        # first once the rows are committed: the second one as soon as it has loaded them,
        # the import's when it is done with its own tables (it may build an index of a
        # committed table in its transaction; CREATE INDEX takes a lock that another
        # CREATE INDEX does not wait for). The longest first: the trigram index, then the
        # plain ones, then the constraints' (one column each). The constraints are made
        # from their indexes by the swap: adding one takes a lock that would wait for the
        # other connection's index builds.
        self._pending: collections.deque[str] = collections.deque()
        # (side name, name, None for an index or the statement that makes it a constraint)
        self.names: list[tuple[str, str, str | None]] = []
        for number, (name, definition) in enumerate(indexes):
            side = f"{self.table}_i{number}"
            statement = self._side_index(definition, side)
            if " USING gin " in statement:
                self._pending.appendleft(statement)
            else:
                self._pending.append(statement)
            self.names.append((side, name, None))
        for number, (name, kind, deferrable, deferred, definition) in enumerate(constraints):
            side = f"{self.table}_c{number}"
            self._pending.append(self._side_index(definition, side))
            self.names.append(
                (
                    side,
                    name,
                    _constraint_using_index(self._original, name, side, kind, deferrable, deferred),
                )
            )
        self._params = connection.get_connection_params()
        # Descriptors of their own: the spools' owners close theirs when reading ends.
        self._fds = [os.dup(spool.fileno()) for spool in spools]
        self._conn: Any = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self._loaded = threading.Event()  # the rows committed
        self.swapped = False
        self._progress = progress
        self._thread = threading.Thread(target=self._run, name="side-professionals", daemon=True)

    def _side_index(self, definition: str, side: str) -> str:
        """``definition`` (pg_get_indexdef) for the side table, the index named ``side``."""
        head = _INDEX_HEAD.match(definition)
        if head is None:
            raise RuntimeError(f"définition d'index inattendue : {definition}")
        return f'{head[1]}"{side}"{head[3]}{self._side} USING {definition[head.end() :]}'

    def _connect(self, *, autocommit: bool, lock_timeout: str) -> Any:
        """A connection as the import's: same role (assumed or not), same schema."""
        conn = psycopg.connect(**self._params, autocommit=autocommit)
        try:
            if conn.execute("SELECT current_user").fetchone() != (self._role,):
                conn.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(self._role)))
            conn.execute(pgsql.SQL("SET lock_timeout = {}").format(pgsql.Literal(lock_timeout)))
        except BaseException:
            conn.close()
            raise
        return conn

    def start(self) -> None:
        self._progress.phase("Professionnels : chargés et indexés par une seconde connexion…")
        self._thread.start()

    def _execute(self, side: Any, statement: Any, params: Sequence[Any] = ()) -> Any:
        if self._cancelled:
            raise _Cancelled
        return side.execute(statement, params)

    def _run(self) -> None:
        try:
            with self._connect(autocommit=False, lock_timeout="60s") as side:
                self._conn = side
                run = functools.partial(self._execute, side)
                for (leftover,) in run(  # (a killed run's: imports run one at a time)
                    "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' "
                    "AND relname LIKE %s AND relnamespace = %s::regnamespace",
                    [SIDE_PREFIX + r"\_%", self._schema],
                ).fetchall():
                    run(f"DROP TABLE {self._schema}.{leftover}")
                run(
                    f"CREATE TABLE {self._side} (LIKE {self._original} "
                    "INCLUDING ALL EXCLUDING INDEXES)"
                )
                # (Committed at once: the professional table's shape has been read, and
                # the lock taken to read it, which the swap must not wait for, released.)
                side.commit()
                run("SELECT set_config('maintenance_work_mem', %s, false)", [self._work_mem])
                columns = ("rpps", *PROFESSIONAL_VALUES)
                with side.cursor() as cursor, cursor.copy(_copy_sql(self._side, columns)) as copy:
                    for fd in self._fds:
                        offset = 0
                        while block := os.pread(fd, FLUSH_BYTES, offset):
                            if self._cancelled:
                                raise _Cancelled
                            copy.write(block)
                            offset += len(block)
                grants = run(
                    "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
                    "ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, "
                    "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a "
                    "WHERE c.oid = %s::regclass AND a.grantee <> c.relowner",
                    [self._original],
                ).fetchall()
                for grantee, privilege, grantable in grants:  # (the owner's are the same)
                    option = " WITH GRANT OPTION" if grantable else ""
                    run(f"GRANT {privilege} ON {self._side} TO {grantee}{option}")
                side.commit()
                self._loaded.set()
                while (index := self._next()) is not None:
                    run(index)
                    side.commit()
        except BaseException as exc:  # noqa: BLE001 — raised by swap() in the importing thread
            self._error = exc
        finally:
            self._conn = None
            for fd in self._fds:
                os.close(fd)
            self._fds = []

    def _next(self) -> str | None:
        """The next index to build; none once the second connection has failed (the run
        fails: the import's connection stops building)."""
        with self._lock:
            return self._pending.popleft() if self._pending and self._error is None else None

    def swap(self, cursor: Any, loaded: int) -> Changes:
        """In the import's transaction: the side table, once loaded and indexed, takes the
        place of the empty professional table (names of the table, its indexes,
        constraints and sequence as the migrations made them). This connection first
        builds the indexes the other has not started."""
        if self._thread.is_alive():
            self._progress.phase("Professionnels : en attente de la seconde connexion…")
        while not self._loaded.wait(0.1) and self._thread.is_alive():
            pass
        if self._loaded.is_set():
            while (statement := self._next()) is not None:
                cursor.execute(statement)
        self._thread.join()
        if self._error is not None:
            raise self._error
        cursor.execute(f"LOCK TABLE {self._original} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT 1 FROM {self._original} LIMIT 1")
        if cursor.fetchone() is not None:
            raise RuntimeError("La table des professionnels a été remplie pendant l'import.")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [self._side])
        side_sequence = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {self._original}")
        cursor.execute(f"ALTER TABLE {self._side} RENAME TO {PROFESSIONAL_TABLE}")
        for side, name, attach in self.names:
            if attach:  # (the index takes the constraint's name)
                cursor.execute(attach)
            else:
                cursor.execute(f'ALTER INDEX {self._schema}."{side}" RENAME TO "{name}"')
        if self._sequence and side_sequence:
            cursor.execute(
                f"ALTER SEQUENCE {side_sequence} RENAME TO {self._sequence.rsplit('.', 1)[-1]}"
            )
        self.swapped = True
        return Changes(added=loaded)

    def discard(self) -> None:
        """After a failed run (its transaction over): stop the second connection and drop
        the side table it committed. (After a run that committed, there is none left.)
        Never raises: the run's own error is the one to report."""
        self._cancelled = True
        while self._thread.is_alive():
            conn = self._conn
            if conn is not None:
                with suppress(Exception):
                    conn.cancel_safe(timeout=5.0)
            self._thread.join(0.5)
        try:
            with self._connect(autocommit=True, lock_timeout="10s") as side:
                side.execute(f"DROP TABLE IF EXISTS {self._side}")
        except psycopg.Error as exc:
            logger.warning(
                "Table %s non supprimée après l'échec de l'import (%s) : "
                "le prochain import la supprimera.",
                self._side,
                type(exc).__name__,
            )


def _constraint_using_index(
    table: str, name: str, index: str, kind: str, deferrable: bool, deferred: bool
) -> str:
    """The statement that makes the unique ``index`` of ``table`` its constraint ``name``
    (``kind``: pg_constraint's "p" or "u"), deferrable as the original was."""
    statement = (
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" '
        f'{"PRIMARY KEY" if kind == "p" else "UNIQUE"} USING INDEX "{index}"'
    )
    if deferrable:
        statement += " DEFERRABLE INITIALLY " + ("DEFERRED" if deferred else "IMMEDIATE")
    return statement


_INDEX_HEAD = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON (?:ONLY )?)(\S+) USING ")


class TouchedProfessionals(Writer):
    """A refresh: every professional candidate goes to a temporary file (rows as they are:
    "|" and line ends cannot occur in a value); once the changed lines are known, only
    the candidates of the professionals they concern are staged (:meth:`stage`)."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 — closed in stage()/abort()
        self._rows = _SpoolWriter(self._spool, escape=False)

    def write(self, row: list[bytes]) -> None:
        self._rows.write(row)

    def close(self) -> None:
        raise RuntimeError("TouchedProfessionals: stage(touched) instead")

    def stage(self, touched: set[bytes]) -> set[bytes]:
        """Stage the candidates whose RPPS is in ``touched``; returns the RPPS found."""
        self._rows.close()
        self._spool.seek(0)
        found: set[bytes] = set()
        writer = _writer(STAGE_PROFESSIONAL, PROFESSIONAL_STAGE)
        try:
            for line in self._spool:
                rpps = line[:11]  # always 11 digits (check_rpps)
                if rpps in touched:
                    found.add(rpps)
                    writer.write(line[:-1].split(b"|"))
        except BaseException:
            writer.abort()
            raise
        finally:
            self._spool.close()
        writer.close()
        return found

    def abort(self) -> None:
        self._spool.close()


class InsertWriter(Writer):
    """SQLite: executemany into a temporary table, in batches (slower, equally atomic)."""

    BATCH = 5000

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self._cursor = connection.connection.cursor()
        marks = ", ".join("?" for _ in columns)
        self._sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self._rows: list[tuple[str, ...]] = []

    def write(self, row: list[bytes]) -> None:
        self._rows.append(tuple(value.decode() for value in row))
        if len(self._rows) >= self.BATCH:
            self._cursor.executemany(self._sql, self._rows)
            self._rows.clear()

    def close(self) -> None:
        if self._rows:
            self._cursor.executemany(self._sql, self._rows)
            self._rows.clear()
        self._cursor.close()

    def abort(self) -> None:
        self._cursor.close()


def _writer(table: str, columns: Sequence[str], *, second: bool = False) -> Writer:
    if connection.vendor != "postgresql":
        return InsertWriter(table, columns)
    return SpooledCopyWriter(table, columns) if second else CopyWriter(table, columns)


# --- validation and apply (set-based SQL, same statements on both engines) -------------


def _report_duplicates(
    cursor: Any, table: str, key: str, file: str, bad: BadLines, what: str
) -> int:
    """Report and drop every line whose key an earlier line already had."""
    repeated = (
        f"SELECT s.lineno, d.first FROM {table} s JOIN "
        f"(SELECT {key} AS k, MIN(lineno) AS first FROM {table} GROUP BY {key} "
        f"HAVING COUNT(*) > 1) d ON d.k = s.{key} WHERE s.lineno > d.first"
    )
    if connection.vendor == "postgresql":  # found and dropped in one pass
        cursor.execute(
            f"WITH r AS MATERIALIZED ({repeated}), "
            f"dropped AS (DELETE FROM {table} WHERE lineno IN (SELECT lineno FROM r)) "
            "SELECT lineno, first FROM r ORDER BY lineno"
        )
    else:
        cursor.execute(repeated + " ORDER BY s.lineno")
    duplicates = cursor.fetchall()
    for lineno, first in duplicates:
        bad.add(file, lineno, "duplicate", f"{what} déjà vue ligne {first}")
    if duplicates and connection.vendor != "postgresql":
        cursor.execute(f"DELETE FROM {table} WHERE lineno IN (SELECT lineno FROM ({repeated}) r)")
    return len(duplicates)


def _report_loaded_duplicates(cursor: Any, stats: FileStats, bad: BadLines) -> int:
    """Report and drop the repeated lines of a file COPY'd straight into the activity
    table (first import, lines not grouped by RPPS): a row's id is its line number."""
    repeated = (
        f"SELECT t.id, d.first FROM {ACTIVITY_TABLE} t JOIN (SELECT key AS k, MIN(id) AS first "
        f"FROM {ACTIVITY_TABLE} GROUP BY key HAVING COUNT(*) > 1) d ON d.k = t.key "
        "WHERE t.id > d.first"
    )
    cursor.execute(repeated + " ORDER BY t.id")
    duplicates = cursor.fetchall()
    for row_id, first in duplicates:
        bad.add(stats.name, row_id, "duplicate", f"ligne déjà vue ligne {first}")
    if duplicates:
        cursor.execute(f"DELETE FROM {ACTIVITY_TABLE} WHERE id IN (SELECT id FROM ({repeated}) r)")
    return len(duplicates)


def _prepare_stage(cursor: Any, table: str, index_on: str) -> None:
    """SQLite: an index for the joins that follow. PostgreSQL: nothing — its joins with a
    staging table are hash joins planned from the table's size, which the planner reads
    without statistics; an ANALYZE of the staging tables cost more than it saved
    (measured: 0.6 s of a 10 s run at 200,000 professionals, apply no faster)."""
    if connection.vendor != "postgresql":
        cursor.execute(f"CREATE INDEX temp.{table}_{index_on} ON {table} ({index_on})")


def _settle_professionals(cursor: Any) -> int:
    """Keep one candidate per RPPS: the best-ranked line (only matters when a
    professional's lines are not consecutive in the file). Returns how many went."""
    # Equal ranks come from one line repeated (same digest, same values): one is kept.
    row = "ctid" if connection.vendor == "postgresql" else "rowid"
    cursor.execute(
        f"DELETE FROM {STAGE_PROFESSIONAL} WHERE EXISTS (SELECT 1 FROM {STAGE_PROFESSIONAL} b "
        f"WHERE b.rpps = {STAGE_PROFESSIONAL}.rpps AND (b.rank < {STAGE_PROFESSIONAL}.rank "
        f"OR (b.rank = {STAGE_PROFESSIONAL}.rank AND b.{row} < {STAGE_PROFESSIONAL}.{row})))"
    )
    return int(cursor.rowcount)


def _replace(
    cursor: Any,
    *,
    model: Any,
    source: str,
    key: str,
    columns: Sequence[str],
    compare: bool = True,
) -> Changes:
    """Make ``model``'s table hold exactly the rows of ``source`` (matched on ``key``),
    touching only rows that differ."""
    target = model._meta.db_table
    changes = Changes()
    cursor.execute(f"SELECT 1 FROM {target} LIMIT 1")
    if cursor.fetchone() is None:
        # First import: nothing to remove, compare or look up; indexes built once after.
        rebuild = _drop_indexes(cursor, target)
        changes.added = _insert(cursor, model, source, key, columns, only_new=False)
        for statement in rebuild:
            cursor.execute(statement)
        return changes
    if connection.vendor == "postgresql":
        return _replace_by_difference(cursor, model, source, key, columns, compare)
    cursor.execute(
        f"DELETE FROM {target} WHERE NOT EXISTS "
        f"(SELECT 1 FROM {source} s WHERE s.{key} = {target}.{key})"
    )
    changes.removed = cursor.rowcount
    if compare:
        changes.changed = _update_differing(cursor, model, source, key, columns)
    changes.added = _insert(cursor, model, source, key, columns)
    return changes


STAGE_DIFFERENCE = "dir_stage_difference"


def _replace_by_difference(
    cursor: Any, model: Any, source: str, key: str, columns: Sequence[str], compare: bool
) -> Changes:
    """PostgreSQL: what differs between the table and the staged rows, found by one full
    join (rather than three joins of the whole table: one to delete, one to update, one
    to insert), then applied from that small difference by id."""
    target = model._meta.db_table
    fitted = _fitted_columns(model, columns)
    differs = _differs("t", fitted)
    values = ", ".join(f"{value} AS {column}" for column, value in fitted.items())
    _drop_temp(cursor, STAGE_DIFFERENCE)
    cursor.execute(
        f"CREATE TEMP TABLE {STAGE_DIFFERENCE} ON COMMIT DROP AS "
        f"SELECT t.id AS target_id, s.{key} AS {key}, {values} "
        f"FROM {source} s FULL JOIN {target} t ON t.{key} = s.{key} "
        f"WHERE t.id IS NULL OR s.{key} IS NULL" + (f" OR {differs}" if compare else "")
    )
    changes = Changes()
    cursor.execute(
        f"DELETE FROM {target} WHERE id IN "
        f"(SELECT target_id FROM {STAGE_DIFFERENCE} WHERE {key} IS NULL)"
    )
    changes.removed = cursor.rowcount
    if compare:
        assignments = ", ".join(f"{column} = d.{column}" for column in columns)
        cursor.execute(
            f"UPDATE {target} SET {assignments} FROM {STAGE_DIFFERENCE} d "
            f"WHERE {target}.id = d.target_id AND d.{key} IS NOT NULL"
        )
        changes.changed = cursor.rowcount
    names = ", ".join([key, *columns])
    cursor.execute(
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {STAGE_DIFFERENCE} "
        "WHERE target_id IS NULL"
    )
    changes.added = cursor.rowcount
    _drop_temp(cursor, STAGE_DIFFERENCE)
    return changes


def _fitted_columns(model: Any, columns: Sequence[str]) -> dict[str, str]:
    return {
        column: _fitted(column, limit)
        for column, limit in zip(columns, _limits(model, columns), strict=True)
    }


def _differs(table: str, fitted: dict[str, str]) -> str:
    """SQL: a row of ``table`` differs from its staged values."""
    return " OR ".join(f"{table}.{column} <> {value}" for column, value in fitted.items())


def _update_differing(
    cursor: Any, model: Any, source: str, key: str, columns: Sequence[str]
) -> int:
    """Update the rows of ``model`` whose staged row (same ``key``) differs; how many."""
    target = model._meta.db_table
    fitted = _fitted_columns(model, columns)
    assignments = ", ".join(f"{column} = {value}" for column, value in fitted.items())
    differs = _differs(target, fitted)
    cursor.execute(
        f"UPDATE {target} SET {assignments} FROM {source} s "
        f"WHERE s.{key} = {target}.{key} AND ({differs})"
    )
    return int(cursor.rowcount)


def _insert(
    cursor: Any, model: Any, source: str, key: str, columns: Sequence[str], *, only_new: bool = True
) -> int:
    """Insert the staged rows (with ``only_new``, those whose ``key`` is not there yet)."""
    target = model._meta.db_table
    names = ", ".join([key, *columns])
    values = ", ".join([f"s.{key}", *_fitted_columns(model, columns).values()])
    where = (
        f" WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{key} = s.{key})" if only_new else ""
    )
    cursor.execute(f"INSERT INTO {target} ({names}) SELECT {values} FROM {source} s{where}")
    return int(cursor.rowcount)


def _delete_listed(cursor: Any, model: Any, key: str, listed: str) -> int:
    """Delete the rows of ``model`` whose ``key`` the staging table ``listed`` holds."""
    target = model._meta.db_table
    cursor.execute(f"DELETE FROM {target} WHERE {key} IN (SELECT {key} FROM {listed})")
    return int(cursor.rowcount)


def _drop_indexes(cursor: Any, table: str) -> list[str]:
    """Bulk insert into an empty table (PostgreSQL): drop its indexes and unique
    constraints, its primary key included, to rebuild them once after the insert — much
    faster than maintaining them row by row (the primary key alone: a third of a COPY).
    Returns the statements that rebuild them (same names, same definitions).
    Transactional like the rest: a failed run gets them back. The lock this takes only
    delays readers of a table that is empty anyway."""
    if connection.vendor != "postgresql":
        return []
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND (contype = 'u' OR (contype = 'p' AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint f WHERE f.confrelid = %s::regclass))) ORDER BY contype",
        [table, table],
    )
    uniques = cursor.fetchall()
    plain = _plain_indexes(cursor, table)
    rebuild = []
    for name, definition in uniques:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in plain:
        cursor.execute(f'DROP INDEX "{name}"')
        rebuild.append(definition)
    return rebuild


def _plain_indexes(cursor: Any, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of ``table``'s indexes that belong to no constraint
    (primary key and unique constraints are rebuilt as constraints)."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname",
        [table],
    )
    return list(cursor.fetchall())


def _loaded(cursor: Any, rebuild: Sequence[str], added: int) -> Changes:
    """Rows already COPY'd straight into their empty table: only its indexes to rebuild."""
    for statement in rebuild:
        cursor.execute(statement)
    return Changes(added=added)


def _ids_given(cursor: Any, table: str) -> None:
    """The rows were loaded with their ids (line numbers): the table's own sequence goes
    on after them, for the rows a later refresh inserts. (A sequence is not rolled back
    with the transaction: a failed import may leave it further on, which is harmless.)"""
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
        f"GREATEST((SELECT MAX(id) FROM {table}), 1))",
        [table],
    )


def _apply_professionals(cursor: Any) -> Changes:
    return _replace(
        cursor,
        model=Professional,
        source=STAGE_PROFESSIONAL,
        key="rpps",
        columns=PROFESSIONAL_VALUES,
    )


def _apply_activities(cursor: Any) -> Changes:
    # The key is a digest of the whole line: same key, same content — nothing to compare.
    return _replace(
        cursor,
        model=Activity,
        source=STAGE_ACTIVITY,
        key="key",
        columns=("rpps", *ACTIVITY_VALUES),
        compare=False,
    )


def _apply_addresses(cursor: Any) -> Changes:
    return _replace(
        cursor,
        model=MSSanteAddress,
        source=STAGE_MSSANTE,
        key="address",
        columns=MAILBOX_VALUES,
    )


def _stage_keys(cursor: Any, table: str, column: str, values: Iterator[bytes]) -> None:
    """A one-column staging table holding ``values``."""
    _create_temp(cursor, table, (column,))
    writer = _writer(table, (column,))
    try:
        for value in values:
            writer.write([value])
    except BaseException:
        writer.abort()
        raise
    writer.close()


def _refresh_professionals(cursor: Any, stats: FileStats) -> Changes:
    """A refresh: the professionals none of whose lines changed are not looked at; the
    staged ones are updated (if they differ) or added; those left without any line
    are removed."""
    _stage_keys(cursor, STAGE_GONE_PROFESSIONAL, "rpps", iter(stats.gone_professionals))
    removed = _delete_listed(cursor, Professional, "rpps", STAGE_GONE_PROFESSIONAL)
    changed = _update_differing(
        cursor, Professional, STAGE_PROFESSIONAL, "rpps", PROFESSIONAL_VALUES
    )
    added = _insert(cursor, Professional, STAGE_PROFESSIONAL, "rpps", PROFESSIONAL_VALUES)
    return Changes(added=added, changed=changed, removed=removed)


def _refresh_activities(cursor: Any) -> Changes:
    """A refresh: the lines the file no longer has are removed, the new ones added (a
    line's key is its digest: a changed line is one of each)."""
    removed = _delete_listed(cursor, Activity, "key", STAGE_GONE)
    added = _insert(
        cursor, Activity, STAGE_ACTIVITY, "key", ("rpps", *ACTIVITY_VALUES), only_new=False
    )
    return Changes(added=added, removed=removed)


def _professionals_after_refresh(cursor: Any, before: int, stats: FileStats) -> int:
    cursor.execute(
        f"SELECT COUNT(*) FROM {STAGE_PROFESSIONAL} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {PROFESSIONAL_TABLE} p WHERE p.rpps = s.rpps)"
    )
    return before - len(stats.gone_professionals) + int(cursor.fetchone()[0])


def _activity_keys(cursor: Any) -> set[bytes]:
    """The digests (16 bytes) of every activity line in the directory."""
    keys: set[bytes] = set()
    unhexlify = binascii.unhexlify
    if connection.vendor == "postgresql":
        # A value per range of ids (16 bytes a key, at most 4 MB) rather than a row per
        # key: reading millions of rows one by one cost 3 µs each.
        cursor.execute(f"SELECT MIN(id), MAX(id) FROM {ACTIVITY_TABLE}")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, KEYS_PER_READ):
            cursor.execute(
                f"SELECT string_agg(uuid_send(key), ''::bytea) FROM {ACTIVITY_TABLE} "
                "WHERE id >= %s AND id < %s",
                [start, start + KEYS_PER_READ],
            )
            packed = cursor.fetchone()[0]
            if packed:
                keys.update(packed[at : at + 16] for at in range(0, len(packed), 16))
    else:  # 32 hex digits
        cursor.execute(f"SELECT key FROM {ACTIVITY_TABLE}")
        while rows := cursor.fetchmany(10_000):
            keys.update(unhexlify(key) for (key,) in rows)
    return keys


def _finish_refresh(
    cursor: Any,
    stats: FileStats,
    gone: set[bytes],
    professionals: TouchedProfessionals,
    progress: Progress,
) -> None:
    """After a refresh's read: stage the keys of the lines gone (what is left of the
    directory's digests), and the candidates of every professional who gained or lost a
    line; note those left with none."""
    stats.refresh = True
    stats.gone_lines = len(gone)
    progress.phase(
        f"{stats.staged - stats.unchanged} lignes nouvelles, {len(gone)} disparues ; "
        "professionnels concernés…"
    )
    _stage_keys(cursor, STAGE_GONE, "key", map(binascii.hexlify, gone))
    gone.clear()
    cursor.execute(
        f"SELECT DISTINCT a.rpps FROM {ACTIVITY_TABLE} a JOIN {STAGE_GONE} g ON g.key = a.key"
    )
    touched = stats.touched | {rpps.encode() for (rpps,) in cursor.fetchall()}
    found = professionals.stage(touched)
    stats.gone_professionals = sorted(touched - found)


def _report_repeats_of_unchanged(cursor: Any, path: Path, stats: FileStats, bad: BadLines) -> int:
    """A refresh of a file not grouped by RPPS: a staged line whose key the directory
    already has repeats a line found unchanged earlier in the file (a line is taken
    out of the known digests when first seen). Report and drop each, with the first
    line's number (the file is read again for those few lines)."""
    cursor.execute(
        f"SELECT s.lineno, s.key FROM {STAGE_ACTIVITY} s WHERE EXISTS "
        f"(SELECT 1 FROM {ACTIVITY_TABLE} a WHERE a.key = s.key) ORDER BY s.lineno"
    )
    repeats = [
        (lineno, key.bytes if isinstance(key, uuid.UUID) else binascii.unhexlify(key))
        for lineno, key in cursor.fetchall()
    ]
    if not repeats:
        return 0
    first = _first_lines(path, {digest for _, digest in repeats})
    for lineno, digest in repeats:
        # (Not found again only if the file changed meanwhile.)
        seen = f"ligne {first[digest]}" if digest in first else "plus haut"
        bad.add(stats.name, lineno, "duplicate", f"ligne déjà vue {seen}")
    cursor.execute(
        f"DELETE FROM {STAGE_ACTIVITY} WHERE EXISTS "
        f"(SELECT 1 FROM {ACTIVITY_TABLE} a WHERE a.key = {STAGE_ACTIVITY}.key)"
    )
    return len(repeats)


def _first_lines(path: Path, wanted: set[bytes]) -> dict[bytes, int]:
    """The number of the first line of ``path`` whose digest is each of ``wanted``."""
    first: dict[bytes, int] = {}
    with open_source(path) as source:
        layout, _ = _read_header(source)
        stats = FileStats(source.name, layout)
        quiet = Progress(None, tty=False)
        for lineno, raw, _parts in _records(source, layout, stats, BadLines(None), quiet):
            digest = blocks.line_key(raw)
            if digest in wanted and digest not in first:
                first[digest] = lineno
                if len(first) == len(wanted):
                    break
    return first


# --- the run ---------------------------------------------------------------------------


def _read_header(source: Source) -> tuple[Layout, bytes]:
    first = source.stream.readline()
    try:
        header = first.decode("utf-8")
    except UnicodeDecodeError:
        header = first.decode("cp1252", errors="replace")
    try:
        return formats.recognise(header), first
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
    force: bool = False,
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

    # The second connection that may load the professionals (SideProfessionals): its
    # table is dropped after a failed run, once this run's transaction is over. None
    # inside an enclosing transaction, which a second connection would not see.
    sides: list[SideProfessionals] = []
    enclosed = connection.in_atomic_block
    committed = False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One import at a time; readers are never blocked.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('concerto.import-directory'))"
                )
                # Hash joins and the per-RPPS sort over millions of rows stay in memory.
                cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
                cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [work_mem])
            before = _totals(cursor)
            seen: set[str] = set()
            found: list[tuple[Path, Layout, str, FileStats | None]] = []  # None: to be read
            for path in paths:
                with _readable(path):
                    found.append((Path(path), *_examine(Path(path), progress, force, seen, before)))
            to_read = [
                (path, layout, shape)
                for path, layout, shape, unchanged in found
                if unchanged is None
            ]
            # Both files to read (PostgreSQL): the MSSanté file is parsed by a second process
            # while this one reads the activity file, then loaded from its spool (straight
            # into the mailbox table when it is empty). On a first import it starts when the
            # activity file leaves a core free, and is loaded last (BackgroundMSSante.start_with).
            background = None
            if connection.vendor == "postgresql" and len(to_read) == 2:
                path, layout, _ = next(item for item in to_read if item[1].kind == MSSANTE)
                mailboxes_direct = _addresses(before) == 0
                if not mailboxes_direct:
                    _create_temp(cursor, STAGE_MSSANTE, MAILBOX_STAGE)
                background = BackgroundMSSante(path, layout, direct=mailboxes_direct)
                if before["activities"] or before["professionals"]:
                    background.start(progress)
            try:
                layouts = _read_and_apply(
                    cursor,
                    summary=summary,
                    found=found,
                    to_read=to_read,
                    background=background,
                    before=before,
                    bad=bad,
                    progress=progress,
                    max_bad_share=max_bad_share,
                    allow_shrink=allow_shrink,
                    force=force,
                    sides=None if enclosed else sides,
                )
            finally:
                if background is not None:
                    background.stop()
            summary.totals = _totals_after(cursor, before, summary, MSSANTE in layouts)
            for _, stats in layouts.values():
                _remember(stats, summary.totals)
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
            for table in (
                STAGE_ACTIVITY,
                STAGE_MSSANTE,
                STAGE_PROFESSIONAL,
                STAGE_GONE,
                STAGE_GONE_PROFESSIONAL,
            ):
                _drop_temp(cursor, table)
        committed = True
    finally:
        for side in sides:
            if not (committed and side.swapped):
                side.discard()
    summary.seconds = time.monotonic() - started
    return summary


def _read_and_apply(
    cursor: Any,
    *,
    summary: ImportSummary,
    found: list[tuple[Path, Layout, str, FileStats | None]],
    to_read: list[tuple[Path, Layout, str]],
    background: BackgroundMSSante | None,
    before: dict[str, int],
    bad: BadLines,
    progress: Progress,
    max_bad_share: float,
    allow_shrink: bool,
    force: bool,
    sides: list[SideProfessionals] | None,
) -> dict[str, tuple[Layout, FileStats]]:
    """Read, validate and apply the files of :func:`import_directory` (its steps 2-5);
    returns the layout and stats of each file applied, by kind."""
    read: dict[Path, FileStats] = {}
    known = None
    activity_shape = next((shape for _, lay, shape in to_read if lay.kind == ACTIVITY), "")
    if activity_shape and _refreshable(before, force, activity_shape):
        progress.phase("Lecture des empreintes des lignes déjà dans l'annuaire…")
        known = _activity_keys(cursor)
        progress.phase(f"{len(known)} empreintes lues")
    for path, layout, _ in to_read:
        if background is None or path != background.path:
            with _readable(path):
                read[path] = _read_file(
                    cursor, path, layout, bad, progress, before, known, background, sides
                )
    if background is not None:
        background.start_with(None, progress)  # (if no activity file was read)
        if not background.late:
            read[background.path] = _load_background(cursor, background, bad, progress)
    layouts: dict[str, tuple[Layout, FileStats]] = {}
    activity_path = Path()
    mssante_late: tuple[Layout, int] | None = None  # (its layout, its place in the summary)
    for path, layout, _, unchanged in found:
        if background is not None and background.late and path == background.path:
            mssante_late = (layout, len(summary.files))  # loaded after the activities
            continue
        stats = unchanged or read[path]
        summary.files.append(stats)
        if stats.unchanged_since is None:
            layouts[layout.kind] = (layout, stats)
            if layout.kind == ACTIVITY:
                activity_path = path
        elif layout.kind == ACTIVITY:
            summary.professionals, summary.activities = Changes(), Changes()
        else:
            summary.addresses = Changes()

    progress.phase("Validation…")
    if ACTIVITY in layouts:
        _, stats = layouts[ACTIVITY]
        if stats.direct:
            if not stats.grouped:
                dropped = _report_loaded_duplicates(cursor, stats, bad)
                stats.bad += dropped
                stats.staged -= dropped
        else:
            _prepare_stage(cursor, STAGE_ACTIVITY, "key")
            if not stats.grouped:  # else already found while reading
                dropped = 0
                if stats.refresh:  # first: each copy against the line found unchanged
                    dropped = _report_repeats_of_unchanged(cursor, activity_path, stats, bad)
                dropped += _report_duplicates(
                    cursor, STAGE_ACTIVITY, "key", stats.name, bad, "ligne"
                )
                stats.bad += dropped
                stats.staged -= dropped
    if MSSANTE in layouts:
        _validate_mssante(cursor, layouts[MSSANTE][1], bad)
    for _, stats in layouts.values():
        _check_file(stats, max_bad_share)

    if ACTIVITY in layouts:
        _, stats = layouts[ACTIVITY]
        _prepare_stage(cursor, STAGE_PROFESSIONAL, "rpps")
        if not stats.grouped:
            stats.professionals -= _settle_professionals(cursor)
        if stats.refresh:
            stats.professionals = _professionals_after_refresh(
                cursor, before["professionals"], stats
            )
        _check_shrink(before["professionals"], "professionnels", stats.professionals, allow_shrink)
    if MSSANTE in layouts:
        _check_mailbox_shrink(before, layouts[MSSANTE][1], allow_shrink)

    progress.phase("Application des changements…")
    if ACTIVITY in layouts:
        stats = layouts[ACTIVITY][1]
        if stats.professional_side is not None:
            pass  # (swapped in last: the second connection works meanwhile)
        elif stats.professionals_direct:
            summary.professionals = _loaded(cursor, stats.professional_rebuild, stats.professionals)
        elif stats.refresh:
            summary.professionals = _refresh_professionals(cursor, stats)
        else:
            summary.professionals = _apply_professionals(cursor)
        if summary.professionals is not None:
            progress.phase(f"Professionnels : {summary.professionals}")
        if stats.direct:
            summary.activities = _loaded(cursor, stats.rebuild, stats.staged)
            _ids_given(cursor, ACTIVITY_TABLE)  # (by the primary key, rebuilt)
        elif stats.refresh:
            summary.activities = _refresh_activities(cursor)
        else:
            summary.activities = _apply_activities(cursor)
        progress.phase(f"Activités : {summary.activities}")
    if background is not None and mssante_late is not None:
        stats = _load_background(cursor, background, bad, progress)
        summary.files.insert(mssante_late[1], stats)
        layouts[MSSANTE] = (mssante_late[0], stats)
        _validate_mssante(cursor, stats, bad)
        _check_file(stats, max_bad_share)
        _check_mailbox_shrink(before, stats, allow_shrink)
    if MSSANTE in layouts:
        stats = layouts[MSSANTE][1]
        if stats.direct:
            summary.addresses = _loaded(cursor, stats.rebuild, stats.staged)
        else:
            summary.addresses = _apply_addresses(cursor)
        progress.phase(f"Adresses MSSanté : {summary.addresses}")
    if ACTIVITY in layouts and (side := layouts[ACTIVITY][1].professional_side) is not None:
        summary.professionals = side.swap(cursor, layouts[ACTIVITY][1].professionals)
        progress.phase(f"Professionnels : {summary.professionals}")
    return layouts


def _load_background(
    cursor: Any, background: BackgroundMSSante, bad: BadLines, progress: Progress
) -> FileStats:
    progress.phase(f"{background.path.name} : lu en parallèle ; chargement…")
    with _readable(background.path):
        return background.load(cursor, bad)


def _validate_mssante(cursor: Any, stats: FileStats, bad: BadLines) -> None:
    """Repeated addresses, in SQL (found while reading when loaded straight in)."""
    if stats.direct:
        return
    _prepare_stage(cursor, STAGE_MSSANTE, "address")
    dropped = _report_duplicates(cursor, STAGE_MSSANTE, "address", stats.name, bad, "adresse")
    stats.bad += dropped
    stats.staged -= dropped


def _check_mailbox_shrink(before: dict[str, int], stats: FileStats, allow_shrink: bool) -> None:
    _check_shrink(_addresses(before), "adresses MSSanté", stats.staged, allow_shrink)


@contextmanager
def _readable(path: Path | str) -> Iterator[None]:
    """A file that cannot be read stops the run with a clear message."""
    try:
        yield
    except SourceError as exc:
        raise ImportRefused(str(exc)) from exc
    except ARCHIVE_ERRORS as exc:
        raise ImportRefused(
            f"{Path(path).name} : archive ZIP tronquée ou endommagée ({exc}). Rien n'a été modifié."
        ) from exc


def _examine(
    path: Path,
    progress: Progress,
    force: bool,
    seen: set[str],
    totals: dict[str, int],
) -> tuple[Layout, str, FileStats | None]:
    """The file's layout and shape, and its stats if it is the file last imported (then
    it is not read again), else None."""
    with open_source(path) as source:
        layout, header = _read_header(source)
        shape = _shape(header)
        if layout.kind in seen:
            raise ImportRefused(
                f"{source.name} : deux fichiers du même type ({layout.label}) dans le même import."
            )
        seen.add(layout.kind)
        previous = DirectorySource.objects.filter(kind=layout.kind).first()
        if (
            not force
            and previous is not None
            and previous.size == source.size
            and previous.shape == shape
        ):
            # Same size as the last file applied: hash it (a fast block read) to know.
            while source.stream.read(FLUSH_BYTES):
                pass
            if source.digest.hexdigest() == previous.digest and _still_as_imported(
                previous, totals
            ):
                progress.phase(
                    f"{source.name} : identique au fichier importé le "
                    f"{timezone.localtime(previous.imported_at):%d/%m/%Y à %H:%M} — rien à faire "
                    "(--force pour tout comparer)."
                )
                return (
                    layout,
                    shape,
                    FileStats(
                        source.name,
                        layout,
                        size=source.size,
                        digest=previous.digest,
                        unchanged_since=previous.imported_at,
                        shape=shape,
                    ),
                )
    return layout, shape, None


def _shape(header: bytes) -> str:
    return hashlib.sha256(b"%d\n%s" % (READING_VERSION, header.rstrip(b"\r\n"))).hexdigest()


def _read_file(
    cursor: Any,
    path: Path,
    layout: Layout,
    bad: BadLines,
    progress: Progress,
    totals: dict[str, int],
    known: set[bytes] | None = None,
    mssante: BackgroundMSSante | None = None,
    sides: list[SideProfessionals] | None = None,
) -> FileStats:
    with open_source(path) as source:
        layout, header = _read_header(source)
        progress.start(f"{source.name} ({layout.label})", source.size)
        stats = _stage_file(cursor, source, layout, bad, progress, totals, known, mssante, sides)
        stats.shape = _shape(header)
        stats.size = source.size
        stats.digest = source.digest.hexdigest()  # the whole file has been read
        return stats


class _Collected(BadLines):
    """The rejected lines of a file read by another process, to be reported by this one."""

    def __init__(self) -> None:
        super().__init__(None)
        self.lines: list[tuple[str, int, str, str]] = []

    def add(self, file: str, line: int, reason: str, detail: str) -> None:
        self.lines.append((file, line, reason, detail))


def _send_outcome(read: Callable[..., Any], results: Any, *args: Any) -> None:
    """In a forked reader: run ``read(*args)`` and send back what it returns, or the
    error. It never touches the database: the parent's connection is shared by the fork
    and must stay the parent's alone."""
    try:
        results.send(("ok", read(*args)))
    except BaseException as exc:  # noqa: BLE001 — sent to the parent, which raises it
        try:
            results.send(("error", exc))
        except Exception:  # an exception that cannot be pickled
            results.send(("error", RuntimeError(repr(exc))))


class _ForkedReader:
    """A file (or part of one) parsed by a forked process; what it read comes back
    through a pipe (:meth:`outcome`), its rows through files the parent made."""

    path: Path

    def _start(self, read: Callable[..., Any], *args: Any) -> None:
        """Fork (the files and shared values it writes must exist by now)."""
        context = multiprocessing.get_context("fork")
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_send_outcome, args=(read, sender, *args), daemon=True
        )
        self._process.start()
        sender.close()

    def finished(self, timeout: float) -> bool:
        return bool(self._results.poll(timeout))

    def outcome(self) -> Any:
        """What the reader returned (waiting for it); its error raised here."""
        try:
            status, value = self._results.recv()
        except EOFError:
            raise RuntimeError(f"{self.path.name} : le processus de lecture s'est arrêté") from None
        self._process.join()
        if status != "ok":
            raise value
        return value

    def _files(self) -> list[Any]:
        return []

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._results.close()
        for file in self._files():
            file.close()


def _read_mssante_apart(path: Path, spool: Any, direct: bool) -> tuple[FileStats, list[Any]]:
    """In the second process: parse the MSSanté file into ``spool``; its stats and
    rejected lines."""
    with open_source(path) as source:
        layout, header = _read_header(source)
        collected = _Collected()
        writer = _SpoolWriter(spool)
        stats = read_mssante(
            source, layout, writer, collected, Progress(None, tty=False), direct=direct
        )
        writer.close()
        stats.size = source.size
        stats.digest = source.digest.hexdigest()
        stats.shape = _shape(header)
    return stats, collected.lines


class BackgroundMSSante(_ForkedReader):
    """The MSSanté file parsed by a forked process into a spool file, loaded afterwards
    by this process's connection (one transaction): into its staging table, or with
    ``direct`` (an empty mailbox table, PostgreSQL) straight into the table, its indexes
    dropped (``FileStats.rebuild`` gives them back)."""

    def __init__(self, path: Path, layout: Layout, *, direct: bool = False) -> None:
        self.path = path
        self.label = layout.label
        self.direct = direct
        self._spool: Any = None
        self.started = False
        # Started with the activity file's second reader gone (see start_with): loaded at
        # the end, after the activities, rather than waited for.
        self.late = False

    def start(self, progress: Progress) -> None:
        progress.phase(f"Lecture de {self.path.name} ({self.label}), en parallèle")
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 — closed in stop()
        self._start(_read_mssante_apart, self.path, self._spool, self.direct)
        self.started = True

    def start_with(self, helper: ActivityHelper | None, progress: Progress) -> None:
        """Start unless started. Two processes reading the activity file already keep
        both cores busy: a third would only slow them down. So, with a second reader
        (``helper``), this one starts as soon as one of the two is done with its part
        (``ActivityHelper.when_one_done``: the other may need a second or two more, a
        core idle meanwhile), and parses the MSSanté file while the server loads the
        professionals and builds the indexes."""
        if not self.started:
            self.late = helper is not None
            self.start(progress)

    def load(self, cursor: Any, bad: BadLines) -> FileStats:
        value, lines = self.outcome()
        for line in lines:
            bad.add(*line)
        if self.direct:
            value.rebuild = _drop_indexes(cursor, MAILBOX_TABLE)
            _copy_spool(self._spool, _copy_sql(MAILBOX_TABLE, MAILBOX_LOADED))
        else:
            _copy_spool(self._spool, _copy_sql(STAGE_MSSANTE, MAILBOX_STAGE))
        return value

    def _files(self) -> list[Any]:
        return [self._spool] if self._spool is not None else []

    def stop(self) -> None:
        if self.started:
            super().stop()


# A large activity file read into an empty directory (PostgreSQL) is parsed by two
# processes: this one reads the first part, a forked helper the rest. Parsing in Python
# is the longest part of a first import and the server's COPY takes in rows faster than
# one process makes them: the second core does about half of it. The helper's rows are
# COPY'd in between this process's, as they come (a row's id is its line number, so the
# order in which rows reach the table does not matter). Measured at national size: the
# reading went from 29-35 s to 19-24 s (bench/directory_import.py, 2026-11-27).
PARALLEL_MIN_BYTES = 64 << 20
# This process's share of the data: less than half, as it also sends the helper's rows to
# the server and hashes the whole file. Split in the middle, the helper was done 2-3 s
# before it at national size, one core then idle (2026-11-27, ADR 0006).
OWN_SHARE = 0.44


def _split_offset(path: Path, layout: Layout, start: int, size: int) -> int | None:
    """Where the helper starts: the first line, past this process's share of the data
    (``OWN_SHARE``), whose RPPS differs from the line before's (a professional's lines stay
    in one part), or None."""
    id_at = layout.positions["id"]
    fields = layout.field_count
    with open(path, "rb") as f:
        f.seek(start + int((size - start) * OWN_SHARE))
        f.readline()  # the rest of a line cut there
        previous = None
        while True:
            offset = f.tell()
            line = f.readline()
            if not line:
                return None
            parts = line.rstrip(b"\r\n").split(b"|")
            if len(parts) != fields and (len(parts) != fields + 1 or parts[-1]):
                continue  # a bad line: its reader reports it
            identifier = parts[id_at].strip()
            if previous is not None and identifier != previous:
                return offset
            previous = identifier


def _lines_before(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        count = 0
        while offset > 0 and (block := f.read(min(FLUSH_BYTES, offset))):
            count += block.count(b"\n")
            offset -= len(block)
    return count


class _PublishedSpool(_SpoolWriter):
    """COPY rows into a spool file; ``ready`` tells the other process how many bytes of
    whole rows it may read already."""

    def __init__(self, out: Any, ready: Any) -> None:
        super().__init__(out)
        self._ready = ready

    def _spill(self) -> None:
        super()._spill()
        self._out.flush()
        self._ready.value = self._out.tell()


class _SharedProgress(Progress):
    """The helper's progress, for the parent's bar: bytes and rows in shared memory."""

    def __init__(self, offset: int, done: Any) -> None:
        super().__init__(None, tty=False)
        self._offset = offset
        self._done = done

    def tick(self, done_bytes: int, rows: int, *, force: bool = False) -> None:
        self._done[0] = done_bytes - self._offset
        self._done[1] = rows


def _read_activity_apart(
    helper: ActivityHelper, layout: Layout
) -> tuple[FileStats, list[Any], array.array[int]]:
    """In the helper process: parse the activity file from ``helper.offset`` on; its
    stats, rejected lines and professional candidates' ranks."""
    path, offset = helper.path, helper.offset
    lineno = _lines_before(helper.file, offset)
    with open(helper.file, "rb", buffering=0) as raw:
        raw.seek(offset)
        with io.BufferedReader(raw, FLUSH_BYTES) as stream:
            size = os.fstat(raw.fileno()).st_size
            source = Source(path, path.name, stream, size, hashlib.sha256())
            collected = _Collected()
            rows = _PublishedSpool(helper.rows, helper.ready)
            candidates = ProfessionalSpool(helper.candidates)
            stats = read_activity(
                source,
                layout,
                rows,
                candidates,
                collected,
                _SharedProgress(offset, helper.done),
                direct=True,
                line_before=lineno,
            )
            rows.close()
            candidates.flush()
    return stats, collected.lines, candidates.ranks


class ActivityHelper(_ForkedReader):
    """The second part of a large activity file, parsed by a forked process into spool
    files; its rows are COPY'd by this process after its own (:meth:`join`)."""

    def __init__(self, source: Source, layout: Layout, offset: int) -> None:
        self.path = source.path
        self.file = source.reopened()  # (the file this process reads, even if replaced)
        self.offset = offset
        self.rows = tempfile.TemporaryFile()  # noqa: SIM115 — closed in stop()
        self.candidates = tempfile.TemporaryFile()  # noqa: SIM115 — closed in stop()
        self.ready = multiprocessing.RawValue("q", 0)
        self.done = multiprocessing.RawArray("q", 2)
        # Called once, as soon as either process has read its part: a core is free from
        # then on (see BackgroundMSSante.start_with).
        self.when_one_done: Callable[[], None] | None = None
        self._start(_read_activity_apart, self, layout)

    def progress(self) -> tuple[int, int]:
        return self.done[0], self.done[1]

    def send_to(self, activities: CopyWriter) -> None:
        """Have ``activities`` send the helper's rows while this process reads its part:
        both parts reach the server as they are parsed."""
        self._activities = activities
        self._sent = 0
        activities.between = self.send

    def send(self) -> None:
        """COPY the rows the helper has written so far (whole rows)."""
        ready = self.ready.value
        rows = self.rows.fileno()
        while self._sent < ready:  # (pread: the helper's file position is left alone)
            block = os.pread(rows, min(ready - self._sent, FLUSH_BYTES), self._sent)
            if not block:
                raise RuntimeError(f"{self.path.name} : lignes du second lecteur illisibles")
            self._activities.write_encoded(block)
            self._sent += len(block)
        if self.when_one_done is not None and self.finished(0):  # the helper is done
            self._one_done()

    def _one_done(self) -> None:
        if (callback := self.when_one_done) is not None:
            self.when_one_done = None
            callback()

    def join(
        self,
        stats: FileStats,
        source: Source,
        professionals: Writer,
        bad: BadLines,
        progress: Progress,
    ) -> None:
        """Once this process has read its part: COPY the helper's rows as they come, hash
        the rest of the file (``source``'s digest is of the whole file), then add the
        helper's counts, rejected lines and professional candidates to this part's."""
        assert isinstance(professionals, ProfessionalSpool)
        self._one_done()  # (this process is)
        outcome = None
        hashed = False
        while True:
            if self.ready.value > self._sent:
                self.send()
            elif not hashed:
                hashed = not source.stream.read(FLUSH_BYTES)
            elif outcome is not None:
                break
            elif self.finished(0.05):
                outcome = self.outcome()
            progress.tick(self.offset, stats.lines)
        other, lines, ranks = outcome
        for line in lines:
            bad.add(*line)
        professionals.absorb(self.candidates, ranks)
        stats.grouped = (
            stats.grouped
            and other.grouped
            and (not stats.last_rpps or not other.first_rpps or stats.last_rpps < other.first_rpps)
        )
        for name in ("lines", "staged", "bad", "ignored", "cp1252_lines", "professionals"):
            setattr(stats, name, getattr(stats, name) + getattr(other, name))
        stats.first_rpps = stats.first_rpps or other.first_rpps
        stats.last_rpps = other.last_rpps or stats.last_rpps
        progress.helper = None
        progress.tick(source.size, stats.lines, force=True)

    def _files(self) -> list[Any]:
        return [self.rows, self.candidates]


class _Bounded(io.RawIOBase):
    """The first ``end`` bytes of a buffered stream (the part this process reads)."""

    def __init__(self, stream: Any, end: int) -> None:
        self._stream = stream
        self._end = end

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._stream.tell()
        if left <= 0:
            return b""
        return self._stream.read(left if size < 0 else min(size, left))

    def tell(self) -> int:
        return self._stream.tell()


def _still_as_imported(previous: DirectorySource, totals: dict[str, int]) -> bool:
    """Nothing changed the tables since that import (counts as recorded then)."""
    if previous.kind == ACTIVITY:
        return (
            totals["activities"] == previous.rows
            and totals["professionals"] == previous.professionals
        )
    return _addresses(totals) == previous.rows


def _remember(stats: FileStats, totals: dict[str, int]) -> None:
    kind = stats.layout.kind
    rows = totals["activities"] if kind == ACTIVITY else _addresses(totals)
    DirectorySource.objects.update_or_create(
        kind=kind,
        defaults={
            "name": stats.name[:255],
            "size": stats.size,
            "digest": stats.digest,
            "rows": rows,
            "professionals": totals["professionals"] if kind == ACTIVITY else 0,
            "imported_at": clock.now(),
            "shape": stats.shape,
        },
    )


def _stage_file(
    cursor: Any,
    source: Source,
    layout: Layout,
    bad: BadLines,
    progress: Progress,
    totals: dict[str, int],
    known: set[bytes] | None = None,
    mssante: BackgroundMSSante | None = None,
    sides: list[SideProfessionals] | None = None,
) -> FileStats:
    """Read a file into its staging table (or, first import, its table); ``mssante``: the
    MSSanté file's reader, not yet started, to start when this file leaves a core free;
    ``sides``: where to put the second connection loading the professionals, if one is
    started (for the caller to discard after a failure)."""
    writers: list[Writer] = []
    touched_professionals = None
    helper = None
    try:
        if layout.kind == ACTIVITY:
            # Into an empty directory (PostgreSQL), the activities go straight to their
            # table: no second copy from a staging table (the longest statement of a first
            # import), while the server writes them as the lines are read.
            direct = connection.vendor == "postgresql" and totals["activities"] == 0
            start = source.stream.tell()  # after the header
            offset = None
            # (Both tables empty: the helper's professional candidates join this process's
            # spool, see ProfessionalSpool.absorb.)
            parallel = direct and totals["professionals"] == 0 and source.plain
            if parallel and source.size - start >= PARALLEL_MIN_BYTES:
                offset = _split_offset(source.reopened(), layout, start, source.size)
            if offset is not None:  # (forked before any COPY starts on the connection)
                helper = ActivityHelper(source, layout, offset)
                progress.helper = helper.progress
                own_part = Source(
                    source.path,
                    source.name,
                    _Bounded(source.stream, offset),
                    source.size,
                    source.digest,
                    plain=True,
                )
            rebuild = _drop_indexes(cursor, ACTIVITY_TABLE) if direct else []
            # Every table exists before the COPY starts: nothing else may run during it.
            if not direct:
                _create_temp(cursor, STAGE_ACTIVITY, ACTIVITY_STAGE)
            _create_temp(cursor, STAGE_PROFESSIONAL, PROFESSIONAL_STAGE)
            activities = (
                _writer(ACTIVITY_TABLE, ACTIVITY_LOADED)
                if direct
                else _writer(STAGE_ACTIVITY, ACTIVITY_STAGE)
            )
            writers.append(activities)
            if helper is not None:
                assert isinstance(activities, CopyWriter)
                helper.send_to(activities)
                if mssante is not None:
                    helper.when_one_done = functools.partial(mssante.start_with, helper, progress)
            spool = ProfessionalSpool() if direct and totals["professionals"] == 0 else None
            if known is not None and not direct:
                touched_professionals = TouchedProfessionals()
            else:
                known = None
            professionals = (
                spool
                or touched_professionals
                or _writer(STAGE_PROFESSIONAL, PROFESSIONAL_STAGE, second=True)
            )
            writers.append(professionals)
            if mssante is not None and helper is None:
                mssante.start_with(None, progress)
            stats = read_activity(
                source if helper is None else own_part,
                layout,
                activities,
                professionals,
                bad,
                progress,
                direct=direct,
                known=known,
            )
            if helper is not None:  # (the MSSanté reader is started by now: when_one_done)
                helper.join(stats, source, professionals, bad, progress)
            stats.rebuild = rebuild
        else:
            _create_temp(cursor, STAGE_MSSANTE, MAILBOX_STAGE)
            mailboxes = _writer(STAGE_MSSANTE, MAILBOX_STAGE)
            writers.append(mailboxes)
            stats = read_mssante(source, layout, mailboxes, bad, progress)
    except BaseException:
        for writer in writers:
            writer.abort()
        if helper is not None:
            helper.stop()
        raise
    finally:
        progress.helper = None
    try:
        for writer in writers:
            if isinstance(writer, ProfessionalSpool):
                # (A large file read by two processes: the connection has more to do.)
                if (
                    helper is not None
                    and stats.grouped
                    and sides is not None
                    and _side_load_possible(cursor)
                ):
                    stats.professional_side = side = writer.aside(cursor, progress)
                    sides.append(side)  # (before it starts: discarded whatever happens next)
                    side.start()
                else:
                    stats.professional_rebuild = writer.finish(cursor, grouped=stats.grouped)
                stats.professionals_direct = stats.grouped
            elif writer is not touched_professionals:
                writer.close()
        if touched_professionals is not None and known is not None:
            _finish_refresh(cursor, stats, known, touched_professionals, progress)
    except BaseException:
        for writer in writers:  # (aborting a closed writer only closes its files again)
            writer.abort()
        raise
    finally:
        if helper is not None:
            helper.stop()
    return stats


def _refreshable(totals: dict[str, int], force: bool, shape: str) -> bool:
    """Whether the activity file may be compared with the directory's own lines (their
    digests) rather than staged whole: not with ``force``, only while the tables are as
    the last import left them, and only for a file of the same shape (same header, read
    by the same rules: the rows depend on them, not only on the lines)."""
    if force or not totals["activities"]:
        return False
    previous = DirectorySource.objects.filter(kind=ACTIVITY).first()
    return previous is not None and previous.shape == shape and _still_as_imported(previous, totals)


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


def _check_shrink(current: int, label: str, new_count: int, allow_shrink: bool) -> None:
    if not allow_shrink and current >= 1000 and new_count < current / 2:
        raise ImportRefused(
            f"Le nouvel import ne compte que {new_count} {label} contre {current} aujourd'hui "
            "(moins de la moitié) : fichier incomplet ? Relancez avec --allow-shrink si c'est "
            "voulu. Rien n'a été modifié."
        )


def _totals(cursor: Any) -> dict[str, int]:
    """The directory's row counts, in two statements."""
    cursor.execute(
        f"SELECT (SELECT COUNT(*) FROM {Professional._meta.db_table}), "
        f"(SELECT COUNT(*) FROM {Activity._meta.db_table})"
    )
    professionals, activities = cursor.fetchone()
    return {"professionals": professionals, "activities": activities, **_count_addresses(cursor)}


def _count_addresses(cursor: Any) -> dict[str, int]:
    cursor.execute(f"SELECT kind, COUNT(*) FROM {MSSanteAddress._meta.db_table} GROUP BY kind")
    found = dict(cursor.fetchall())
    return {f"addresses_{kind}": found.get(kind, 0) for kind in MAILBOX_KINDS}


def _addresses(totals: dict[str, int]) -> int:
    return sum(totals[f"addresses_{kind}"] for kind in MAILBOX_KINDS)


def _totals_after(
    cursor: Any, before: dict[str, int], summary: ImportSummary, recount_addresses: bool
) -> dict[str, int]:
    """The counts after the apply: the counts before plus the changes, without scanning
    the tables again (the mailboxes are recounted by kind, a mailbox may change kind)."""
    totals = dict(before)
    for name, changes in (
        ("professionals", summary.professionals),
        ("activities", summary.activities),
    ):
        if changes is not None:
            totals[name] += changes.added - changes.removed
    if recount_addresses:
        totals.update(_count_addresses(cursor))
    return totals
