"""What an import accepts at most, and which values are plausible: one home for every cap.

Caps keep a small hostile file from costing gigabytes or minutes; the plausible window keeps a
typo (2100, 1900) from silently moving a patient out of every current view. Each can be changed
by an environment variable (the name is given beside it).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Limits", "limits", "TooLarge", "printable_problem", "ASCII_NUMBER"]


class TooLarge(ValueError):
    """A file over one of the caps (the CLI exits 2, the page says so plainly)."""


def _env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """The caps and windows in force."""

    max_bytes: int              #: KAP_OUTCOMES_MAX_IMPORT_MB (default 200 MB)
    max_rows: int               #: KAP_OUTCOMES_MAX_IMPORT_ROWS (default 3,000,000)
    max_columns: int            #: KAP_OUTCOMES_MAX_IMPORT_COLUMNS (default 200)
    max_unpacked_bytes: int     #: an XLSX's unpacked size (default 10 x max_bytes)
    max_errors_listed: int      #: KAP_OUTCOMES_MAX_ERRORS_LISTED (default 1,000)
    max_cell_shown: int         #: characters of a bad cell echoed in a message (default 40)
    earliest: pd.Timestamp      #: KAP_OUTCOMES_EARLIEST_DATE (default 2000-01-01)
    future_days: float          #: how far past "now" a date may lie (default 1 day: time zones)
    max_dose_mg: float          #: KAP_OUTCOMES_MAX_DOSE_MG (default 1,000 mg)


def limits() -> Limits:
    """The limits in force (read from the environment each time: tests and admins may change
    them)."""
    mb = _env("KAP_OUTCOMES_MAX_IMPORT_MB", 200)
    return Limits(max_bytes=int(mb * 1024 * 1024),
                  max_rows=int(_env("KAP_OUTCOMES_MAX_IMPORT_ROWS", 3_000_000)),
                  max_columns=int(_env("KAP_OUTCOMES_MAX_IMPORT_COLUMNS", 200)),
                  max_unpacked_bytes=int(mb * 1024 * 1024 * 10),
                  max_errors_listed=int(_env("KAP_OUTCOMES_MAX_ERRORS_LISTED", 1000)),
                  max_cell_shown=40,
                  earliest=pd.Timestamp(os.environ.get("KAP_OUTCOMES_EARLIEST_DATE",
                                                       "2000-01-01")),
                  future_days=1.0,
                  max_dose_mg=_env("KAP_OUTCOMES_MAX_DOSE_MG", 1000))


#: A plain ASCII decimal number (a decimal comma is accepted; no digit separators, no other
#: scripts' digits, no inf or nan).
ASCII_NUMBER = re.compile(r"^\s*[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?\s*$",
                          re.ASCII)
_PLAIN_ASCII = re.compile(r"^[ -~]*$")


def printable_problem(values: pd.Series) -> np.ndarray:
    """True where an id holds a character that is not printable text: control and format
    characters (zero-width spaces, right-to-left marks, BOMs), line or paragraph separators, or
    any white space but a plain space — the makings of look-alike phantom patients."""
    text = values.astype(str)
    ascii_ok = text.str.match(_PLAIN_ASCII).to_numpy(dtype=bool)
    out = np.zeros(len(text), dtype=bool)
    for i in np.nonzero(~ascii_ok)[0]:
        out[i] = any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in text.iloc[i])
    return out
