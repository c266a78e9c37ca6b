"""Tables for sharing: suppressed small cells, neutralised formulas, metadata rows."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import Settings
from analysis.suppression import SUPPRESSED, suppress_rates

__all__ = ["neutralize", "rates_for_export", "suppress_counts", "to_csv_bytes", "to_xlsx_bytes",
           "research_extract", "FORMULA_PREFIXES"]

#: Cell beginnings a spreadsheet may execute as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers and
    other text are returned unchanged.

    >>> neutralize("=HYPERLINK(\\"x\\")"), neutralize("-1"), neutralize(-1), neutralize("IV")
    ('\\'=HYPERLINK("x")', "'-1", -1, 'IV')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutral_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [neutralize(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralize)
    return out


def rates_for_export(rates: pd.DataFrame, *, by: Sequence[str], settings: Settings) -> pd.DataFrame:
    """A rates table ready to share: suppressed cells shown as ``<11``, rates as percentages."""
    s = suppress_rates(rates, by=by, min_cell_size=settings.min_cell_size)
    out = s[list(by) + ["instrument", "outcome"]].copy()
    marker = SUPPRESSED.replace("11", str(settings.min_cell_size))
    for col in ("k", "n", "n_patients"):
        out[col] = s[col].map(lambda v: marker if pd.isna(v) else int(v)).astype(object)
    for col in ("rate", "ci_low", "ci_high"):
        out[col] = s[col].map(lambda v: marker if pd.isna(v) else round(float(v) * 100, 1))
    out = out.rename(columns={"rate": "rate_%", "ci_low": "ci95_low_%", "ci_high": "ci95_high_%"})
    return out


def suppress_counts(table: pd.DataFrame, columns: Sequence[str], *,
                    min_cell_size: int = 11) -> pd.DataFrame:
    """Counts below ``min_cell_size`` (but above 0) shown as ``<N``; other columns unchanged.

    For count tables without a published total over disjoint cells (a funnel's stages are
    nested, completeness reasons are listed per instrument with no total shown), so no
    complementary cell is needed.

    >>> suppress_counts(pd.DataFrame({"courses": [40, 7, 0]}), ["courses"])["courses"].tolist()
    [40, '<11', 0]
    """
    out = table.copy()
    marker = f"<{min_cell_size}"
    for col in columns:
        if col in out.columns:
            out[col] = [marker if 0 < v < min_cell_size else int(v) for v in out[col]]
    return out


def _notes(meta: Sequence[str], settings: Settings) -> list[str]:
    return [*meta, f"Cells built from fewer than {settings.min_cell_size} patients are shown as "
            f"<{settings.min_cell_size}, and so is the next smallest cell wherever one hidden cell "
            "could be recovered from a total.", "Rates are per treatment course with Wilson 95% "
            "confidence intervals. Definitions: " + "; ".join(
                f"{name} = {value}" for name, value, _ in settings.as_rows())]


def to_csv_bytes(frame: pd.DataFrame, *, meta: Sequence[str], settings: Settings) -> bytes:
    """UTF-8 CSV (with BOM, for spreadsheets) followed by note rows, formulas neutralised."""
    out = _neutral_frame(frame)
    notes = pd.DataFrame({out.columns[0]: [neutralize(f"note: {m}") for m in
                                           _notes(meta, settings)]})
    buf = io.StringIO()
    pd.concat([out, notes], ignore_index=True).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, *, meta: Sequence[str], settings: Settings,
                  sheet: str = "table") -> bytes:
    """XLSX with the table and an ``about`` sheet of notes; text cells neutralised."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        _neutral_frame(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
        pd.DataFrame({"about this table": [neutralize(m) for m in _notes(meta, settings)]}
                     ).to_excel(writer, sheet_name="about", index=False)
    return buf.getvalue()


def research_extract(outcomes: pd.DataFrame, attributes: pd.DataFrame, *,
                     rng: np.random.Generator | int | None = None) -> pd.DataFrame:
    """Patient-level outcomes with a random id per patient for this export and no dates.

    Patient ids, course ids and ``first_dose_at`` are dropped; days from day 0 are kept; clinic,
    route, indication and course type are kept for analysis. A new call gives new ids.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    o = outcomes.merge(attributes[["patient_id", "course_id", "clinic_id", "route", "indication",
                                   "course_type"]], on=["patient_id", "course_id"], how="left")
    patients = o["patient_id"].unique()
    tokens = rng.permutation(len(patients))
    mapping = dict(zip(patients, (f"R{t + 1:06d}" for t in tokens), strict=True))
    o.insert(0, "research_id", o["patient_id"].map(mapping))
    o["course_number"] = o.groupby("patient_id")["first_dose_at"].rank(method="dense").astype(int)
    return o.drop(columns=["patient_id", "course_id", "first_dose_at"]).sort_values(
        ["research_id", "course_number", "instrument"]).reset_index(drop=True)
