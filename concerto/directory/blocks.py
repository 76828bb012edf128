"""The extraction files' regular lines, read a block at a time with NumPy (first import).

A first import of the national files reads 2.65 M lines; line by line in Python that was
about 6.5 µs an activity line, more than half of the import's CPU (measured 2026-11-28:
14 of 27 core-seconds, two cores busy throughout). Here the lines of a 1 MB block that
need no judgement (the published shape, an 11-digit Luhn-valid RPPS, values that fit
their columns, nothing to trim) are split, checked and turned into COPY rows by array
operations; only each activity line's key (:func:`line_key`), and each address's form
and first appearance, are still a Python call. Every other line (a bad line, a value to
cut, a name with spaces to trim, an RPPS in its national form, a blank line…) is left to
the line reader, in order, which keeps the professional being read across both
(:class:`Person`).

The rows are the same bytes as the line reader's (``tests/directory/test_blocks.py``
compares both on generated files with every kind of irregularity). ADR 0008.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from concerto.directory.formats import ACTIVITY, MAILBOX_KINDS, Layout

PIPE, NEWLINE, SPACE = 0x7C, 0x0A, 0x20
# A block holding one of these is read line by line: COPY escapes (backslash, CR), a NUL
# (reported), whitespace that ``bytes.split``/``strip`` would treat like a space.
SLOW_BYTES = (b"\\", b"\r", b"\x00", b"\t", b"\x0b", b"\x0c")
# Luhn: the digits in even positions from the right, doubled, digits summed.
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def line_key(raw: bytes) -> bytes:
    """An activity line's key: the first 128 bits of its SHA-1 (written inline where the
    lines are read). SHA-1 rather than MD5: about half the time a line on processors with
    SHA instructions (0.48 against 0.80 µs, 2026-11-28), and as good a spread; nothing
    here needs it to resist an attacker (the lines come from the published files)."""
    return hashlib.sha1(raw, usedforsecurity=False).digest()[:16]


@dataclass
class Person:
    """The professional being read: their best line so far (the row to write, its rank)
    and the digests of their lines (a repeated line is reported), shared by both readers."""

    row: list[Any] | None = None
    rank: int = 0
    lines: dict[bytes, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Columns:
    """Where each field the reader uses is (an absent optional column: ``None``)."""

    type_at: int
    id_at: int
    values: tuple[int | None, ...]  # ACTIVITY_VALUES but the street, in order
    value_limits: tuple[int, ...]
    street: tuple[int | None, ...]
    street_limit: int
    person: tuple[int | None, ...]  # civility, then PROFESSIONAL_SOURCES[1:]
    person_limits: tuple[int, ...]
    skill_type_at: int | None
    skill_code_at: int | None


def usable(block: bytes, layout: Layout) -> bool:
    """Whether a block (whole lines, valid UTF-8) may be read here at all. (An activity
    file is read here only in its published shape, every line ending with "|".)"""
    return (
        (layout.trailing_pipe or layout.kind != ACTIVITY)
        and block.endswith(b"\n")
        and not any(byte in block for byte in SLOW_BYTES)
    )


class Block:
    """One block's lines: which have the published shape ("shaped"), and each shaped
    line's fields."""

    def __init__(
        self, block: bytes, fields: int, trailing: bool = True, used: int | None = None
    ) -> None:
        """``used``: only the fields before it are read (all by default)."""
        self.raw = block
        self.data = data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        pipes = np.flatnonzero(data == PIPE)
        first = np.searchsorted(pipes, starts)
        count = np.diff(np.append(first, len(pipes)))
        # The published shape: ``fields`` values, each followed by "|" (the last one too,
        # with ``trailing``; otherwise by the line's end).
        if trailing:
            shaped = count == fields
            shaped &= data[np.maximum(ends - 1, 0)] == PIPE
        else:
            shaped = count == fields - 1
        self.count = len(ends)
        self.index = np.flatnonzero(shaped)  # shaped lines, by their number in the block
        self.line_starts = starts[self.index]
        # A line's row in the shaped lines' arrays, by its number in the block, or -1.
        self.position = np.full(self.count, -1, dtype=np.int64)
        self.position[self.index] = np.arange(len(self.index))
        # pipes[k]: the end of field k (its "|"), for each shaped line.
        if used is not None and used < fields:
            self.pipes = pipes[first[self.index][:, None] + np.arange(used)]
        elif trailing:
            self.pipes = pipes[first[self.index][:, None] + np.arange(fields)]
        else:
            self.pipes = np.empty((len(self.index), fields), dtype=pipes.dtype)
            self.pipes[:, :-1] = pipes[first[self.index][:, None] + np.arange(fields - 1)]
            self.pipes[:, -1] = ends[self.index]
        self.fields = fields

    def span(self, at: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of field ``at`` on every shaped line (an absent field: empty)."""
        if at is None:
            empty = self.line_starts.copy()
            return empty, empty
        ends = self.pipes[:, at]
        starts = self.line_starts if at == 0 else self.pipes[:, at - 1] + 1
        return starts, ends

    def lines_where(self, ok: np.ndarray) -> np.ndarray:
        """The lines (a mask by number in the block) whose shaped row is ``ok``."""
        lines = np.zeros(self.count, dtype=bool)
        lines[self.index[ok]] = True
        return lines


def _edges_clean(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """No space at either end of a non-empty field (``bytes.strip`` would change it)."""
    filled = ends > starts
    last = np.maximum(ends - 1, 0)
    return ~filled | ((data[starts] != SPACE) & (data[last] != SPACE))


def _gather(source: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The bytes of ``source`` at each (offset, length), concatenated in order. (The index
    of each byte is a running sum: +1 within a segment, a jump at each segment's start.)"""
    filled = lengths > 0
    offsets, lengths = offsets[filled], lengths[filled]
    total = int(lengths.sum())
    if not total:
        return source[:0]
    out_starts = np.cumsum(lengths) - lengths
    # (32-bit and summed in place: one array of the output's size, not two of 64 bits,
    # whose fresh pages cost more than the arithmetic)
    step = np.ones(total, dtype=np.int32)
    step[0] = offsets[0]
    step[out_starts[1:]] = offsets[1:] - (offsets[:-1] + lengths[:-1]) + 1
    np.cumsum(step, out=step)
    return source.take(step)


def _digits(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each number in decimal as ``b"%d"`` writes it, followed by "|": a (rows, width + 1)
    array of right-aligned digits, and each number's first column."""
    width = max(len(str(int(numbers.max()))), 1) if len(numbers) else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers) % 10 + 48
    table = np.empty((len(numbers), width + 1), dtype=np.uint8)
    table[:, :width] = digits
    table[:, width] = PIPE
    lengths = np.ones(len(numbers), dtype=np.int64)
    for size in range(2, width + 1):
        lengths += numbers >= 10 ** (size - 1)
    return table, width - lengths, width + 1


def _luhn(digits: np.ndarray) -> np.ndarray:
    """Rows of 11 digits (0-9) whose Luhn key is right."""
    return (digits[:, 10::-2].sum(axis=1) + _DOUBLED[digits[:, 9::-2]].sum(axis=1)) % 10 == 0


def _digit_matrix(
    data: np.ndarray, starts: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(the ``width`` bytes from each start as digits, whether all are digits)."""
    digits = (
        data[np.minimum(starts[:, None] + np.arange(width), len(data) - 1)].astype(np.int64) - 48
    )
    numeric = np.all((digits >= 0) & (digits <= 9), axis=1)
    return np.where(numeric[:, None], digits, 0), numeric


class Run:
    """The regular lines of a block, checked; what :func:`read_run` needs of them."""

    def __init__(self, block: Block, columns: Columns, first_lineno: int) -> None:
        data = block.data
        self.block = block
        self.columns = columns
        type_start, type_end = block.span(columns.type_at)
        one = (type_end - type_start) == 1
        type_byte = data[type_start]
        rpps_line = one & (type_byte == ord("8"))
        ignored = one & ~rpps_line  # ADELI (0) or another type: not an RPPS professional
        ok = one.copy()
        id_start, id_end = block.span(columns.id_at)
        eleven = (id_end - id_start) == 11
        safe, numeric = _digit_matrix(data, id_start, 11)
        valid_id = eleven & numeric & _luhn(safe)
        checks = valid_id.copy()
        for at, limit in zip(columns.values, columns.value_limits, strict=True):
            starts, ends = block.span(at)
            checks &= (ends - starts) <= limit
        # The street: its parts joined by one space, runs of spaces inside them made one.
        # (the positions of the spaces that follow a space)
        self.extra_spaces = extra = np.flatnonzero((data[1:] == SPACE) & (data[:-1] == SPACE)) + 1
        street_lengths = np.zeros(len(id_start), dtype=np.int64)
        street_parts = np.zeros(len(id_start), dtype=np.int64)
        for at in columns.street:
            starts, ends = block.span(at)
            checks &= _edges_clean(data, starts, ends)
            street_lengths += ends - starts
            if len(extra):
                street_lengths -= np.searchsorted(extra, ends) - np.searchsorted(extra, starts)
            street_parts += ends > starts
        checks &= street_lengths + np.maximum(street_parts - 1, 0) <= columns.street_limit
        for at, limit in zip(columns.person, columns.person_limits, strict=True):
            starts, ends = block.span(at)
            checks &= _edges_clean(data, starts, ends) & ((ends - starts) <= limit)
        skill_start, skill_end = block.span(columns.skill_type_at)
        checks &= _edges_clean(data, skill_start, skill_end)
        ok &= ignored | (rpps_line & checks)
        self.regular = block.lines_where(ok)  # by line number in the block
        self.rpps_line = rpps_line
        self.first_lineno = first_lineno
        self.id_start = id_start
        self.rpps = (safe * (10 ** np.arange(10, -1, -1, dtype=np.int64))).sum(axis=1)


@dataclass
class Outcome:
    """What a run of regular lines did, for the reader's counts."""

    staged: int = 0
    ignored: int = 0
    professionals: int = 0
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, first line)
    grouped: bool = True
    last_id: bytes | None = None
    first_rpps: bytes = b""


def read_run(
    run: Run,
    lines: np.ndarray,
    person: Person,
    grouped: bool,
    activities: Any,
    professionals: Any,
) -> Outcome:
    """Read the regular lines ``lines`` (numbers in the block, consecutive, all regular):
    write their activities and the professionals they complete, carry ``person`` on."""
    block, columns, data = run.block, run.columns, run.block.data
    outcome = Outcome(grouped=grouped)
    rows = run.block.position[lines]
    is_rpps = run.rpps_line[rows]
    outcome.ignored = int(len(rows) - is_rpps.sum())
    rows = rows[is_rpps]
    linenos = lines[is_rpps] + run.first_lineno
    if not len(rows):
        return outcome
    rpps = run.rpps[rows]
    line_starts = block.line_starts[rows]
    raw_ends = block.pipes[rows, block.fields - 1]  # the line without its final "|"
    sha1 = hashlib.sha1
    source = block.raw
    digests = b"".join(
        [
            sha1(source[s:e], usedforsecurity=False).digest()[:16]
            for s, e in zip(line_starts.tolist(), raw_ends.tolist(), strict=True)
        ]
    )
    digest_array = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 16)
    prefix = np.frombuffer(digests, dtype=">u8")[::2].astype(np.uint64)

    # Professionals: a new one wherever the RPPS changes.
    previous = np.empty_like(rpps)
    previous[1:] = rpps[:-1]
    incoming = int(person.row[0]) if person.row is not None else -1
    previous[0] = incoming
    new = rpps != previous
    if person.row is None:
        new[0] = True
    decreasing = new & (rpps < previous)
    if person.row is None:
        decreasing[0] = False
    if grouped and decreasing.any():
        grouped_until = int(np.argmax(decreasing))  # lines before it are checked for repeats
        outcome.grouped = False
    else:
        grouped_until = len(rows) if grouped else 0
    continuing = not new[0]
    group = np.cumsum(new) - (0 if continuing else 1)  # 0: the run's first professional

    # Repeated lines of one professional (while the file is grouped).
    duplicate = np.zeros(len(rows), dtype=bool)
    if grouped_until:
        checked = np.arange(grouped_until)
        high = prefix[:grouped_until]
        low = np.frombuffer(digests, dtype=">u8")[1::2][:grouped_until]
        order = np.lexsort((checked, low, high, group[:grouped_until]))
        same = (
            (group[order][1:] == group[order][:-1])
            & (high[order][1:] == high[order][:-1])
            & (low[order][1:] == low[order][:-1])
        )
        firsts: dict[int, int] = {}
        if same.any():
            for k in np.flatnonzero(same).tolist():
                later, earlier = int(order[k + 1]), int(order[k])
                first = firsts.get(earlier, int(linenos[earlier]))
                firsts[later] = first
                duplicate[later] = True
        if continuing and person.lines:
            for k in range(grouped_until):
                if group[k] != 0:
                    break
                seen = person.lines.get(digests[16 * k : 16 * k + 16])
                if seen is not None:
                    duplicate[k] = True
                    firsts[k] = seen
        for k in np.flatnonzero(duplicate).tolist():
            outcome.duplicates.append((int(linenos[k]), firsts[k]))
    kept = ~duplicate
    outcome.staged = int(kept.sum())
    last = int(rows[-1])
    outcome.last_id = source[int(run.id_start[last]) : int(run.id_start[last]) + 11]
    outcome.first_rpps = source[int(run.id_start[rows[0]]) : int(run.id_start[rows[0]]) + 11]
    if not outcome.staged:  # repeats of the professional's lines only
        return outcome

    # The activities, as COPY rows: id (the line number), key, RPPS, values, street.
    keep = np.flatnonzero(kept)
    k_rows = rows[keep]
    id_table, id_skip, id_width = _digits(linenos[keep])
    hex_table = np.empty((len(keep), 33), dtype=np.uint8)
    chosen = digest_array[keep]
    hex_table[:, 0:32:2] = _HEX[chosen >> 4]
    hex_table[:, 1:32:2] = _HEX[chosen & 15]
    hex_table[:, 32] = PIPE
    base = len(data)
    constants = np.frombuffer(b" \n", dtype=np.uint8)
    hex_base = base + 2
    id_base = hex_base + hex_table.size
    source_array = np.concatenate((data, constants, hex_table.ravel(), id_table.ravel()))
    count = len(keep)
    offsets: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    offsets.append(id_base + np.arange(count) * id_width + id_skip)
    lengths.append(id_width - id_skip)
    offsets.append(hex_base + np.arange(count) * 33)
    lengths.append(np.full(count, 33))
    id_start = run.id_start[k_rows]
    offsets.append(id_start)
    lengths.append(np.full(count, 12))  # the RPPS and its "|"
    for at in columns.values:
        starts, ends = block.span(at)
        if at is None:  # an absent column: an empty value, then "|" from the block
            offsets.append(block.pipes[k_rows, columns.id_at])
            lengths.append(np.ones(count, dtype=np.int64))
        else:
            offsets.append(starts[k_rows])
            lengths.append(ends[k_rows] - starts[k_rows] + 1)
    any_before = np.zeros(count, dtype=bool)
    street_segments = len(offsets)
    for at in columns.street:
        starts, ends = block.span(at)
        s, e = starts[k_rows], ends[k_rows]
        filled = e > s
        offsets.append(np.full(count, base))  # the space between two parts
        lengths.append((filled & any_before).astype(np.int64))
        offsets.append(s)
        lengths.append(e - s)
        any_before |= filled
    offsets.append(np.full(count, base + 1))
    lengths.append(np.ones(count, dtype=np.int64))
    segment_offsets = np.stack(offsets, axis=1)
    segment_lengths = np.stack([*map(_as_int, lengths)], axis=1)
    out = _gather(source_array, segment_offsets.ravel(), segment_lengths.ravel())
    extra = run.extra_spaces
    if len(extra):  # inside a street's parts, a space after a space is left out
        parts = slice(street_segments + 1, street_segments + 2 * len(columns.street), 2)
        flat_lengths = segment_lengths.ravel()
        out_starts = (np.cumsum(flat_lengths) - flat_lengths).reshape(segment_lengths.shape)
        part_starts = segment_offsets[:, parts].ravel()
        part_ends = part_starts + segment_lengths[:, parts].ravel()
        part_out = out_starts[:, parts].ravel()
        found = np.searchsorted(part_starts, extra, side="right") - 1
        inside = found >= 0
        inside[inside] &= extra[inside] < part_ends[found[inside]]
        if inside.any():
            hit = found[inside]
            out = np.delete(out, part_out[hit] + extra[inside] - part_starts[hit])
    activities.write_block(out.tobytes())

    # The professionals: each group's best line (quality, then digest), the first on ties.
    skill_start, skill_end = block.span(columns.skill_type_at)
    code_start, code_end = block.span(columns.skill_code_at)
    specialty = ((skill_end - skill_start) == 1) & (data[skill_start] == ord("S"))
    quality = np.where(
        specialty[rows], 0, np.where((code_end - code_start)[rows] > 0, 1, 2)
    ).astype(np.uint64)
    rank = (quality << np.uint64(61)) | (prefix >> np.uint64(3))
    candidates = np.flatnonzero(kept)
    order = np.lexsort((candidates, rank[candidates], group[candidates]))
    ordered_groups = group[candidates][order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = ordered_groups[1:] != ordered_groups[:-1]
    best = candidates[order[head]]  # one line per group, by group

    def person_row(k: int) -> list[Any]:
        r = int(rows[k])
        values = []
        for at in columns.person:
            if at is None:
                values.append(b"")
            else:
                s, e = block.span(at)
                values.append(source[int(s[r]) : int(e[r])])
        rpps_bytes = source[int(run.id_start[r]) : int(run.id_start[r]) + 11]
        return [rpps_bytes, int(rank[k]), *values]

    written = 0
    new_best = best
    if continuing:
        if group[best[0]] == 0:  # (unless all its lines here are repeats)
            if int(rank[best[0]]) < person.rank:
                person.row = person_row(int(best[0]))
                person.rank = int(rank[best[0]])
            new_best = best[1:]
        if len(new_best):
            professionals.write(person.row)
            written += 1
    elif person.row is not None:
        professionals.write(person.row)
        written += 1
    complete = new_best[:-1]
    if len(complete):
        written += len(complete)
        c_rows = rows[complete]
        offsets = [run.id_start[c_rows]]
        lengths = [np.full(len(c_rows), 12)]
        person_spans = [block.span(at) for at in columns.person]
        for number, (starts, ends) in enumerate(person_spans):
            s, e = starts[c_rows], ends[c_rows]
            last = number == len(person_spans) - 1
            offsets.append(s)
            lengths.append(e - s + (0 if last else 1))
        offsets.append(np.full(len(c_rows), base + 1))
        lengths.append(np.ones(len(c_rows), dtype=np.int64))
        professionals.write_block(
            _gather(
                source_array,
                np.stack(offsets, axis=1).ravel(),
                np.stack([*map(_as_int, lengths)], axis=1).ravel(),
            ).tobytes(),
            rank[complete].astype(np.int64),
        )
    if len(new_best):  # the last professional of the run is the one being read
        last_best = int(new_best[-1])
        person.row = person_row(last_best)
        person.rank = int(rank[last_best])
        person.lines = {}
    if outcome.grouped:
        for k in np.flatnonzero(kept & (group == group[-1])).tolist():
            person.lines.setdefault(digests[16 * k : 16 * k + 16], int(linenos[k]))
    outcome.professionals = written
    return outcome


def _as_int(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def columns_for(
    layout: Layout,
    value_names: Sequence[str],
    value_limits: Sequence[int],
    street_names: Sequence[str],
    street_limit: int,
    person_names: Sequence[str],
    person_limits: Sequence[int],
) -> Columns:
    at = layout.positions
    civility = at.get("civility", at.get("civility_code"))
    return Columns(
        type_at=at["id_type"],
        id_at=at["id"],
        values=tuple(at.get(name) for name in value_names),
        value_limits=tuple(value_limits),
        street=tuple(at.get(name) for name in street_names),
        street_limit=street_limit,
        person=(civility, *[at.get(name) for name in person_names]),
        person_limits=tuple(person_limits),
        skill_type_at=at.get("skill_type"),
        skill_code_at=at.get("skill_code"),
    )


# --- the MSSanté file --------------------------------------------------------------------

_KINDS = np.array([int.from_bytes(kind.encode(), "big") for kind in MAILBOX_KINDS])
_DOMAIN = np.frombuffer(b".mssante.fr", dtype=np.uint8)
_UPPER = (ord("A"), ord("Z"))


@dataclass(frozen=True)
class MailboxColumns:
    kind_at: int
    address_at: int
    type_at: int
    id_at: int
    national_at: int | None
    structure_at: int | None
    structure_limit: int
    max_address: int

    @property
    def used(self) -> int:
        """The fields read are all before this one."""
        at = (self.kind_at, self.address_at, self.type_at, self.id_at)
        more = (self.national_at, self.structure_at)
        return max(*at, *(column for column in more if column is not None)) + 1


class MailboxRun:
    """The regular lines of a block of the MSSanté file: a known type of mailbox, an
    address needing no trimming nor lower-casing, an RPPS to take as it is (or none), a
    structure's name within its column; what is left to judge line by line (the
    address's form, a repeat) is the reader's."""

    def __init__(self, block: Block, columns: MailboxColumns, first_lineno: int) -> None:
        data = block.data
        self.block, self.columns, self.first_lineno = block, columns, first_lineno
        rows = len(block.index)
        kind_start, kind_end = block.span(columns.kind_at)
        three = (kind_end - kind_start) == 3
        code = (
            data[kind_start].astype(np.int64) << 16
            | data[np.minimum(kind_start + 1, len(data) - 1)].astype(np.int64) << 8
            | data[np.minimum(kind_start + 2, len(data) - 1)]
        )
        ok = three & np.isin(code, _KINDS)
        start, end = block.span(columns.address_at)
        length = end - start
        ok &= (length > len(_DOMAIN)) & (length <= columns.max_address)
        ok &= _edges_clean(data, start, end)
        ok &= data[start] != ord("@")
        at_signs = np.flatnonzero(data == ord("@"))
        ok &= (np.searchsorted(at_signs, end) - np.searchsorted(at_signs, start)) == 1
        # Addresses are compared without case: lower-cased here, like ``bytes.lower``.
        capitals = np.flatnonzero((data >= _UPPER[0]) & (data <= _UPPER[1]))
        lowered = data
        if len(capitals):
            upper = (np.searchsorted(capitals, end) - np.searchsorted(capitals, start)) > 0
            if upper.any():
                lowered = data.copy()
                for s, e in zip(start[upper].tolist(), end[upper].tolist(), strict=True):
                    lowered[s:e] = np.frombuffer(block.raw[s:e].lower(), dtype=np.uint8)
        tail = lowered[np.maximum(end[:, None] - len(_DOMAIN) + np.arange(len(_DOMAIN)), 0)]
        ok &= np.all(tail == _DOMAIN, axis=1)
        self.source = lowered.tobytes() if lowered is not data else block.raw
        self.source_array = np.concatenate((lowered, np.frombuffer(b"|\n", dtype=np.uint8)))
        # The RPPS: the identifier of a type-8 line, else its national form, else none.
        type_start, type_end = block.span(columns.type_at)
        type_length = type_end - type_start
        eight = (type_length == 1) & (data[type_start] == ord("8"))
        ok &= (type_length == 0) | ((type_length == 1) & (data[type_start] != SPACE))
        id_start, id_end = block.span(columns.id_at)
        id_length = id_end - id_start
        id_digits, id_numeric = _digit_matrix(data, id_start, 11)
        from_id = eight & (id_length == 11) & id_numeric & _luhn(id_digits)
        rpps_start = id_start.copy()
        rpps_length = np.where(from_id, 11, 0)
        if columns.national_at is not None:
            national_start, national_end = block.span(columns.national_at)
            national_length = national_end - national_start
            national_digits, national_numeric = _digit_matrix(data, national_start, 12)
            from_national = (
                eight
                & (id_length == 0)
                & (national_length == 12)
                & national_numeric
                & (national_digits[:, 0] == 8)
                & _luhn(national_digits[:, 1:])
            )
            none = (id_length == 0) & (national_length == 0)
            rpps_start = np.where(from_national, national_start + 1, rpps_start)
            rpps_length = np.where(from_national, 11, rpps_length)
        else:
            from_national = np.zeros(rows, dtype=bool)
            none = id_length == 0
        # A type-8 line: an RPPS taken as it is, or no identifier at all. Another type: no
        # RPPS, whatever its identifier (no spaces around it to judge, then).
        ok &= np.where(eight, from_id | from_national | none, _edges_clean(data, id_start, id_end))
        structure_start, structure_end = block.span(columns.structure_at)
        ok &= _edges_clean(data, structure_start, structure_end)
        ok &= (structure_end - structure_start) <= columns.structure_limit
        self.regular = block.lines_where(ok)  # by line number in the block
        self.address = (start, end)
        self.kind = (kind_start, kind_end)
        self.rpps = (rpps_start, rpps_length)
        self.structure = (structure_start, structure_end)


@dataclass
class MailboxOutcome:
    staged: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, detail)


def read_mailbox_run(
    run: MailboxRun, lines: np.ndarray, first_line: dict[bytes, int], plain: Any, mailboxes: Any
) -> MailboxOutcome:
    """Write the mailboxes of the regular lines ``lines`` (a first import: the address
    first seen is kept, a repeat reported), in order."""
    outcome = MailboxOutcome()
    rows = run.block.position[lines]
    linenos = (lines + run.first_lineno).tolist()
    source = run.source
    start, end = run.address
    kept = np.ones(len(rows), dtype=bool)
    setdefault = first_line.setdefault
    for k, (s, e, lineno) in enumerate(
        zip(start[rows].tolist(), end[rows].tolist(), linenos, strict=True)
    ):
        address = source[s:e]
        if not plain(address):
            kept[k] = False
            outcome.rejected.append((lineno, "address", repr(address.decode()[:80])))
            continue
        first = setdefault(address, lineno)
        if first != lineno:
            kept[k] = False
            outcome.rejected.append((lineno, "duplicate", f"adresse déjà vue ligne {first}"))
    chosen = rows[kept]
    count = len(chosen)
    outcome.staged = count
    if not count:
        return outcome
    source_array = run.source_array
    base = len(run.block.data)
    pipe = np.full(count, base)
    one = np.ones(count, dtype=np.int64)
    kind_start, kind_end = run.kind
    rpps_start, rpps_length = run.rpps
    structure_start, structure_end = run.structure
    offsets = np.stack(
        [
            start[chosen],
            pipe,
            kind_start[chosen],
            pipe,
            rpps_start[chosen],
            pipe,
            structure_start[chosen],
            pipe + 1,
        ],
        axis=1,
    )
    lengths = np.stack(
        [
            end[chosen] - start[chosen],
            one,
            kind_end[chosen] - kind_start[chosen],
            one,
            rpps_length[chosen],
            one,
            structure_end[chosen] - structure_start[chosen],
            one,
        ],
        axis=1,
    )
    mailboxes.write_block(_gather(source_array, offsets.ravel(), lengths.ravel()).tobytes())
    return outcome
