"""The block reader (``concerto.directory.blocks``) gives the same rows as the line reader.

A first import reads the activity file's regular lines a block at a time, the others one
by one. Both readers are run here on the same files, full of the irregularities the line
reader handles (repeats, bad RPPS, stray spaces, over-long values, the national 12-digit
form, blank lines, missing fields, another encoding, an ungrouped file…), and must give
the same activity rows, the same professional candidates and ranks, the same counts and
the same report, byte for byte.
"""

from __future__ import annotations

import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from concerto.directory import blocks, importer
from concerto.directory.formats import canonical
from concerto.directory.sample import write_sample
from concerto.directory.sources import open_source


class Rows(importer.Writer):
    """The activity rows, as written (joined values, one a line)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.blocks = 0

    def write(self, row: list[bytes]) -> None:
        self.lines.append(b"|".join(row))

    def write_block(self, block: bytes) -> None:
        self.blocks += 1
        self.lines.extend(block.split(b"\n")[:-1])

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _Quiet:
    def tick(self, *args: Any, **kwargs: Any) -> None:
        pass


def _read(
    path: Path, by_block: bool, monkeypatch: pytest.MonkeyPatch, reader: Any, *writers: Any
) -> tuple[Any, Rows, str]:
    """``reader`` (read_activity or read_mssante) on ``path``, by blocks or line by line:
    its stats, the rows written, the report."""
    with monkeypatch.context() as patch:
        if not by_block:
            patch.setattr(blocks, "usable", lambda block, layout: False)
        rows, report = Rows(), StringIO()
        with open_source(path) as source:
            layout, _ = importer._read_header(source)
            stats = reader(
                source,
                layout,
                rows,
                *writers,
                importer.BadLines(report),
                _Quiet(),
                direct=True,
            )
    return stats, rows, report.getvalue()


def _outcome(stats: Any, rows: Rows, report: str, counts: tuple[str, ...]) -> dict[str, Any]:
    return {
        "rows": rows.lines,
        "blocks": rows.blocks,
        "report": report,
        "stats": {name: getattr(stats, name) for name in counts},
    }


def read(path: Path, *, by_block: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    candidates = importer.ProfessionalSpool()
    stats, rows, report = _read(path, by_block, monkeypatch, importer.read_activity, candidates)
    candidates.flush()
    candidates._spool.seek(0)
    professionals = candidates._spool.read()
    candidates.abort()
    counts = ("lines", "staged", "bad", "ignored", "professionals", "cp1252_lines")
    return {
        **_outcome(stats, rows, report, counts),
        "professionals": professionals,
        "ranks": candidates.ranks.tolist(),
        "order": (stats.grouped, stats.first_rpps, stats.last_rpps),
    }


def _mutate(line: str, kind: str, rng: random.Random, header: dict[str, int]) -> list[str]:
    """``line`` (with its final "|") turned into what a real file may hold instead."""
    fields = line.split("|")

    def at(published: str) -> int:
        return header[canonical(published)]

    if kind == "repeat":
        return [line, line]
    if kind == "bad luhn":
        rpps = fields[1]
        fields[1] = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    elif kind == "national form":
        fields[1] = "8" + fields[1]
    elif kind == "spaced type":
        fields[0] = " 8"
    elif kind == "spaced name":
        fields[at("Nom d'exercice")] = " " + fields[at("Nom d'exercice")] + "  "
    elif kind == "spaced skill":
        fields[at("Code type savoir-faire")] = "S "
    elif kind == "long name":
        fields[at("Raison sociale site")] = "CENTRE " + "É" * 250
    elif kind == "long ascii":
        fields[at("Enseigne commerciale site")] = "X" * 230
    elif kind == "long first name":
        fields[at("Prénom d'exercice")] = "Marie-" + "é" * 130
    elif kind == "street spaces":
        fields[at("Libellé Voie (coord. structure)")] = "DU   DOCTEUR  FICTIF"
        fields[at("Numéro Voie (coord. structure)")] = ""
    elif kind == "street edge":
        fields[at("Libellé Voie (coord. structure)")] = " RUE FICTIVE "
    elif kind == "long street":
        fields[at("Libellé Voie (coord. structure)")] = "ALLEE  " + "L" * 245
    elif kind == "missing field":
        del fields[5]
    elif kind == "no final pipe":
        return [line[:-1]]
    elif kind == "blank":
        return ["", line]
    elif kind == "adeli":
        fields[0] = "0"
    elif kind == "other type":
        fields[0] = "9"
    elif kind == "no specialty":
        fields[at("Code type savoir-faire")] = ""
        fields[at("Code savoir-faire")] = rng.choice(["", "CAPA12"])
    elif kind == "backslash":
        fields[at("Raison sociale site")] += "\\B"
    elif kind == "tab":
        fields[at("Raison sociale site")] += "\tB"
    return ["|".join(fields)]


KINDS = [
    "repeat",
    "bad luhn",
    "national form",
    "spaced type",
    "spaced name",
    "spaced skill",
    "long name",
    "long ascii",
    "long first name",
    "street spaces",
    "street edge",
    "long street",
    "missing field",
    "no final pipe",
    "blank",
    "adeli",
    "other type",
    "no specialty",
]
# (A block holding one of these is read line by line, whole.)
BLOCK_BREAKERS = ["backslash", "tab"]


def irregular_file(
    folder: Path,
    *,
    seed: int,
    columns: int = 56,
    shuffle: bool = False,
    share: float = 0.04,
    breakers: bool = True,
) -> Path:
    """A generated activity file, a share of its lines replaced by irregular ones."""
    sample = write_sample(folder, professionals=1200, seed=seed, activity_columns=columns)
    path = sample.activity_path
    header, *lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    positions = {canonical(name): n for n, name in enumerate(header.split("|")[:-1])}
    rng = random.Random(seed)
    kinds = KINDS + BLOCK_BREAKERS if breakers else KINDS
    out: list[str] = []
    mutated = 0
    for line in lines:
        if rng.random() < share:  # every kind in turn
            out.extend(_mutate(line, kinds[mutated % len(kinds)], rng, positions))
            mutated += 1
        else:
            out.append(line)
    if shuffle:  # two professionals out of RPPS order, halfway
        middle = len(out) // 2
        out[middle : middle + 40] = out[middle + 20 : middle + 40] + out[middle : middle + 20]
    path.write_text("\n".join([header, *out]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("seed", "columns", "shuffle", "flush", "share"),
    [
        (3, 56, False, 1 << 20, 0.04),
        (4, 56, False, 4096, 0.04),  # many blocks: runs cut at block ends, professionals across
        (5, 52, False, 8192, 0.04),
        (6, 56, True, 4096, 0.04),  # not grouped from the middle on
        (7, 56, False, 700, 0.04),  # blocks of one line or two
        (49, 56, False, 20000, 0.08),  # a run whose first professional's lines are repeats
    ],
)
def test_the_block_reader_gives_the_line_readers_rows(
    tmp_path, monkeypatch, seed, columns, shuffle, flush, share
):
    path = irregular_file(
        tmp_path,
        seed=seed,
        columns=columns,
        shuffle=shuffle,
        share=share,
        breakers=flush < 1 << 20,
    )
    monkeypatch.setattr(importer, "FLUSH_BYTES", flush)
    by_line = read(path, by_block=False, monkeypatch=monkeypatch)
    by_block = read(path, by_block=True, monkeypatch=monkeypatch)
    assert by_line["blocks"] == 0
    assert by_block["blocks"] > 0  # (the block reader did read most lines)
    assert len(by_block["rows"]) > 1000
    for name in ("stats", "order", "report", "ranks", "professionals", "rows"):
        assert by_block[name] == by_line[name], name
    assert by_line["stats"]["bad"] > 5 and "déjà vue" in by_line["report"]
    assert by_line["order"][0] is (not shuffle)


def test_a_block_with_another_encoding_is_read_line_by_line(tmp_path, monkeypatch):
    path = irregular_file(tmp_path, seed=8, share=0.0)
    text = path.read_bytes().split(b"\n")
    text[400] = text[400].replace(b"|", "|É".encode("cp1252"), 1)
    text[900] = text[900].replace(b"|", b"|\r", 1)[:-1] + b"\r"  # CR inside, and at the end
    path.write_bytes(b"\n".join(text))
    monkeypatch.setattr(importer, "FLUSH_BYTES", 16384)
    by_line = read(path, by_block=False, monkeypatch=monkeypatch)
    by_block = read(path, by_block=True, monkeypatch=monkeypatch)
    assert by_block == {**by_line, "blocks": by_block["blocks"]}
    assert by_block["blocks"] > 0


def test_only_a_first_import_reads_by_blocks(tmp_path, monkeypatch):
    """A refresh (digests of the lines already there) or a staged import read line by line."""
    path = irregular_file(tmp_path, seed=9, share=0.0)
    calls = []
    monkeypatch.setattr(blocks, "Run", lambda *a: calls.append(a) or pytest.fail("by blocks"))
    for direct, known in ((False, None), (True, set())):
        with open_source(path) as source:
            layout, _ = importer._read_header(source)
            importer.read_activity(
                source,
                layout,
                Rows(),
                importer.ProfessionalSpool() if direct else Rows(),
                importer.BadLines(None),
                _Quiet(),  # type: ignore[arg-type]
                direct=direct,
                known=known,
            )
    assert calls == []


# --- the MSSanté file ------------------------------------------------------------------


def read_mailboxes(path: Path, *, by_block: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    stats, rows, report = _read(path, by_block, monkeypatch, importer.read_mssante)
    return _outcome(stats, rows, report, ("lines", "staged", "bad", "cp1252_lines"))


MAILBOX_KINDS = [
    "lower kind",
    "spaced kind",
    "unknown kind",
    "capitals",
    "spaced address",
    "no at",
    "two ats",
    "other domain",
    "long address",
    "starts with at",
    "double dot",
    "space inside",
    "repeat",
    "repeat later",
    "spaced type",
    "other type",
    "bad luhn",
    "national only",
    "national bad",
    "no identifier",
    "spaced identifier",
    "spaced structure",
    "long structure",
    "final pipe",
    "missing field",
    "blank",
]


def _mutate_mailbox(line: str, kind: str, earlier: list[str]) -> list[str]:
    f = line.split("|")
    if kind == "lower kind":
        f[0] = f[0].lower()
    elif kind == "spaced kind":
        f[0] = f[0] + " "
    elif kind == "unknown kind":
        f[0] = "XYZ"
    elif kind == "capitals":
        f[1] = f[1].capitalize()
    elif kind == "spaced address":
        f[1] = " " + f[1]
    elif kind == "no at":
        f[1] = f[1].replace("@", ".")
    elif kind == "two ats":
        f[1] = "a@" + f[1]
    elif kind == "other domain":
        f[1] = f[1].replace(".mssante.fr", ".example.fr")
    elif kind == "long address":
        f[1] = "x" * 250 + f[1]
    elif kind == "starts with at":
        f[1] = "@" + f[1].split("@", 1)[1]
    elif kind == "double dot":
        f[1] = f[1].replace(".", "..", 1)
    elif kind == "space inside":
        f[1] = f[1].replace(".", " ", 1)
    elif kind == "repeat":
        return [line, line]
    elif kind == "repeat later" and any(earlier):
        f[1] = next(e for e in earlier[len(earlier) // 2 :] if e).split("|")[1]
    elif kind == "spaced type":
        f[2] = " 8"
    elif kind == "other type":
        f[2] = "0"
    elif kind == "bad luhn" and f[3]:
        f[3] = f[3][:-1] + str((int(f[3][-1]) + 1) % 10)
    elif kind == "national only":
        f[3] = ""
    elif kind == "national bad" and f[4]:
        f[3], f[4] = "", f[4][:-1] + str((int(f[4][-1]) + 3) % 10)
    elif kind == "no identifier":
        f[3] = f[4] = ""
    elif kind == "spaced identifier":
        f[3] = f[3] + " "
    elif kind == "spaced structure":
        f[18] = " " + f[18]
    elif kind == "long structure":
        f[18] = "CENTRE " + "É" * 210
    elif kind == "final pipe":
        return [line + "|"]
    elif kind == "missing field":
        del f[7]
    elif kind == "blank":
        return ["", line]
    return ["|".join(f)]


def irregular_mailboxes(folder: Path, *, seed: int, trailing: bool, share: float = 0.05) -> Path:
    sample = write_sample(folder, professionals=2500, seed=seed, mssante_trailing_pipe=trailing)
    path = sample.mssante_path
    header, *lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    rng = random.Random(seed)
    out: list[str] = []
    mutated = 0
    for line in lines:
        body = line[:-1] if trailing else line
        if rng.random() < share:
            changed = _mutate_mailbox(body, MAILBOX_KINDS[mutated % len(MAILBOX_KINDS)], out)
            out.extend(c + "|" if trailing and c else c for c in changed)
            mutated += 1
        else:
            out.append(line)
    path.write_text("\n".join([header, *out]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("seed", "trailing", "flush"),
    [(21, False, 1 << 20), (22, False, 2048), (23, True, 4096), (24, True, 600)],
)
def test_the_block_reader_gives_the_line_readers_mailboxes(
    tmp_path, monkeypatch, seed, trailing, flush
):
    path = irregular_mailboxes(tmp_path, seed=seed, trailing=trailing)
    monkeypatch.setattr(importer, "FLUSH_BYTES", flush)
    by_line = read_mailboxes(path, by_block=False, monkeypatch=monkeypatch)
    by_block = read_mailboxes(path, by_block=True, monkeypatch=monkeypatch)
    assert by_line["blocks"] == 0 and by_block["blocks"] > 0
    for name in ("stats", "report", "rows"):
        assert by_block[name] == by_line[name], name
    report = by_line["report"]
    for reason in ("déjà vue", "mal formée", "hors domaine", "RPPS invalide", "type de BAL"):
        assert reason in report, reason
