"""Checks on the templates themselves (RGAA: a data table has a title)."""

from pathlib import Path

import concerto

TEMPLATES = sorted(Path(concerto.__file__).parent.rglob("templates/**/*.html"))


def test_every_table_has_a_caption():
    missing = [
        str(path.relative_to(Path(concerto.__file__).parent))
        for path in TEMPLATES
        if path.read_text().count("<table") != path.read_text().count("<caption")
    ]
    assert TEMPLATES and missing == []
