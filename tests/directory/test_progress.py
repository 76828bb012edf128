"""Progress: a bar with rows/s on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

from io import StringIO

from concerto.directory.progress import Progress, thousands


def test_terminal_gets_a_redrawn_bar_with_rows_per_second():
    out = StringIO()
    progress = Progress(out, tty=True)
    progress.start("fichier.txt", 1000)
    progress.tick(500, 123456, force=True)
    progress.phase("Validation…")
    text = out.getvalue()
    assert "\r[###############---------------]  50%" in text
    assert "123\u202f456 lignes" in text and "lignes/s" in text
    assert text.endswith("Validation…\n")  # the bar's line is ended before a phase line


def test_plain_output_gets_whole_lines_at_most_every_interval():
    out = StringIO()
    progress = Progress(out, tty=False, every=3600)
    progress.start("fichier.txt", 1000)
    progress.tick(100, 10)  # within the interval: nothing
    progress.tick(1000, 100, force=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Lecture de fichier.txt"
    assert lines[1].startswith("fichier.txt : 100% (100 lignes, ")
    assert "\r" not in out.getvalue()
    assert len(lines) == 2


def test_thousands_uses_french_grouping():
    assert thousands(2041827) == "2\u202f041\u202f827"
