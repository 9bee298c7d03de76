"""Cells a spreadsheet will not run as formulas.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is taken as a formula by Excel, LibreOffice and Google Sheets, so a
milestone named ``=HYPERLINK("http://…")`` would run in the reader's
spreadsheet (CSV or formula injection). Every export of Cairn, the portal's
and the admin's, passes its text cells through :func:`neutralise`, which
prefixes such a value with an apostrophe: shown as typed, never evaluated.
Numbers, dates and empty cells stay what they are (a negative number is a
number, not text).
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value``, with a text that a spreadsheet would run made inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
