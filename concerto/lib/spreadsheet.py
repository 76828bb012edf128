"""CSV exports opened in a spreadsheet: no cell may start a formula."""

from __future__ import annotations

from typing import Any

# What starts a formula (or, after a tab or a carriage return, may) in common spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as text, with a leading apostrophe if it would start a formula
    (CSV injection): the spreadsheet then shows it as text."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text
