"""Reading clinic files: CSV (UTF-8 with or without BOM, comma or semicolon) and XLSX.

Everything is read as text; types are checked later, row by row, so that a bad cell becomes a
reported error with its line number rather than a silent coercion.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.importers.limits import TooLarge, limits

__all__ = ["FileError", "RawFile", "read_file", "normalize_header"]

_HEADER_RE = re.compile(r"[\s_\-.]")


class FileError(ValueError):
    """The file as a whole cannot be read (encoding, empty, duplicated headers, format)."""


@dataclass(frozen=True)
class RawFile:
    """A file's cells as text.

    ``frame`` has the original headers; ``lines`` gives the file line number of each row (the
    header is line 1 in a CSV; row 1 in a spreadsheet). ``sha256`` is of the raw bytes.
    """

    name: str
    sha256: str
    frame: pd.DataFrame
    lines: list[int]
    fmt: str


def normalize_header(name: object) -> str:
    """Header key: case, spaces, dashes, dots and underscores ignored (``PHQ-9 Total`` → ``phq9total``)."""
    return _HEADER_RE.sub("", str(name)).lower()


def read_file(source: str | Path | bytes, *, name: str | None = None,
              sheet: str | None = None) -> RawFile:
    """Read a CSV, XLSX or FHIR JSON/NDJSON file as text cells (FHIR: one cell per resource line).

    Raises
    ------
    FileError
        Not UTF-8, empty, no data rows, duplicated headers, unreadable spreadsheet.
    """
    if isinstance(source, bytes):
        data = source
        name = name or "upload"
    else:
        path = Path(source)
        data = path.read_bytes()
        name = name or path.name
    sha = hashlib.sha256(data).hexdigest()
    lower = name.lower()
    if lower.endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        frame, lines = _read_xlsx(data, sheet)
        fmt = "xlsx"
    else:
        frame, lines = _read_csv(data)
        fmt = "csv"
    return RawFile(name=name, sha256=sha, frame=frame, lines=lines, fmt=fmt)


def decode_utf8(data: bytes) -> str:
    """Text of ``data`` (UTF-8, BOM dropped) or a FileError naming the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"the file is not UTF-8 text (bad byte at position {exc.start}); "
                        "save it as CSV UTF-8") from None


def _read_csv(data: bytes) -> tuple[pd.DataFrame, list[int]]:
    text = decode_utf8(data)
    if "\x00" in text:
        raise FileError("the file contains NUL bytes: it is not a CSV text file")
    if not text.strip():
        raise FileError("the file is empty")
    first = text.partition("\n")[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    if '"' not in text and "\r" not in text:
        return _read_csv_fast(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        rows, lines = [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise FileError(f"line {reader.line_num}: {exc}") from None
    return _frame(header, rows), lines


def _read_csv_fast(text: str, delimiter: str) -> tuple[pd.DataFrame, list[int]]:
    """pandas' C parser for files without quotes (one record per line, so lines are exact).

    A blank line (spaces, tabs and delimiters only) is one whose cells are all blank once
    stripped of spaces and tabs: found on the parsed columns, not line by line in Python."""
    header_line, _, body = text.partition("\n")
    header = header_line.split(delimiter)
    physical = body.count("\n") + (1 if body and not body.endswith("\n") else 0)
    if physical > limits().max_rows:
        # the cap counts rows, not blank lines: count exactly only when it may be exceeded
        blank = " \t" + delimiter
        rows = sum(1 for line in body.split("\n") if line.strip(blank))
        if rows > limits().max_rows:
            raise TooLarge(f"the file has {rows:,} rows, over the cap of "
                           f"{limits().max_rows:,} (KAP_OUTCOMES_MAX_IMPORT_ROWS): split it")
    _frame(header, [[""]] if physical else [])  # header checks; no line: no data rows
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            na_filter=False, header=None, skiprows=1, engine="c",
                            names=range(len(header)), skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise FileError(f"cannot read the CSV: {str(exc).strip()}") from None
    if len(frame) != physical:
        raise FileError("cannot read the CSV: rows do not line up with the file's lines")
    frame = frame.fillna("")
    keep = np.zeros(len(frame), dtype=bool)
    for col in frame.columns:
        keep |= (frame[col].str.strip(" \t") != "").to_numpy(dtype=bool)
    if not keep.any():
        _frame(header, [])   # blank lines only: "no data rows"
    lines = (np.flatnonzero(keep) + 2).tolist()
    if not keep.all():
        frame = frame[keep]
    frame = frame.reset_index(drop=True)
    frame.columns = [h.strip() for h in header]
    return frame, lines


def _frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    header = [h.strip() for h in header]
    if not any(header):
        raise FileError("the first line holds no column names")
    lim = limits()
    if len(header) > lim.max_columns:
        raise TooLarge(f"the file has {len(header):,} columns, over the cap of "
                       f"{lim.max_columns}")
    if len(rows) > lim.max_rows:
        raise TooLarge(f"the file has {len(rows):,} rows, over the cap of {lim.max_rows:,} "
                       "(KAP_OUTCOMES_MAX_IMPORT_ROWS): split it")
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        key = normalize_header(h)
        if not key:
            continue
        if key in seen:
            raise FileError(f"column {h!r} appears twice (columns {seen[key]} and {i})")
        seen[key] = i
    if not rows:
        raise FileError("the file has a header but no data rows")
    width = len(header)
    fixed = [(r + [""] * width)[:width] if len(r) != width else r for r in rows]
    too_long = [i for i, r in enumerate(rows) if len(r) > width and any(c.strip() for c in r[width:])]
    if too_long:
        raise FileError(f"{len(too_long)} row(s) have more cells than the header "
                        f"(first at data row {too_long[0] + 1})")
    return pd.DataFrame(fixed, columns=header, dtype=object)


def _check_xlsx(data: bytes, sheet: str | None) -> None:
    """Refuse spreadsheet bombs before loading: the unpacked size, and the sheet's declared
    dimension (one cell at XFD1048576 would make pandas build a billion-cell frame)."""
    import zipfile

    import openpyxl

    lim = limits()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        raise FileError("cannot read the spreadsheet: not an XLSX file") from None
    if unpacked > lim.max_unpacked_bytes:
        raise TooLarge(f"the spreadsheet unpacks to {unpacked / 2**20:.0f} MB, over the cap of "
                       f"{lim.max_unpacked_bytes / 2**20:.0f} MB")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        ws = book[sheet] if sheet else book.worksheets[0]
        rows, cols = ws.max_row or 0, ws.max_column or 0
        book.close()
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise FileError(f"cannot read the spreadsheet ({type(exc).__name__})") from None
    if rows > lim.max_rows + 1 or cols > lim.max_columns:
        raise TooLarge(f"the sheet spans {rows:,} rows x {cols:,} columns, over the caps of "
                       f"{lim.max_rows:,} rows and {lim.max_columns} columns: remove stray "
                       "cells far from the data")


def _read_xlsx(data: bytes, sheet: str | None) -> tuple[pd.DataFrame, list[int]]:
    _check_xlsx(data, sheet)
    try:
        raw = pd.read_excel(io.BytesIO(data), sheet_name=sheet or 0, header=None, dtype=object,
                            engine="openpyxl")
    except ValueError as exc:
        raise FileError(f"cannot read the spreadsheet: {exc}") from None
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise FileError(f"cannot read the spreadsheet ({type(exc).__name__})") from None
    if raw.empty:
        raise FileError("the sheet is empty")
    cells = raw.map(_cell_text)
    header = cells.iloc[0].tolist()
    rows, lines = [], []
    for i in range(1, len(cells)):
        row = cells.iloc[i].tolist()
        if any(c.strip() for c in row):
            rows.append(row)
            lines.append(i + 1)
    return _frame(header, rows), lines


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:-9] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
