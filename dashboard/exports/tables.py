"""Tables for sharing: suppressed small cells, neutralised formulas, metadata rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import Settings
from analysis.suppression import PROTECTING_MARK, WITHHELD_FOOTNOTE, primary_mark
from dashboard.labels import rate_cell_text
from dashboard.views import FunnelView, RateTable, SafetyView

__all__ = ["neutralize", "rates_table", "safety_table", "benefit_risk_table", "counts_table", "funnel_table", "to_csv_bytes",
           "to_xlsx_bytes", "research_extract", "FORMULA_PREFIXES"]

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


def _mark(status: str, min_cell_size: int) -> str:
    return PROTECTING_MARK if status == "protecting" else primary_mark(min_cell_size)


def rates_table(rates: RateTable) -> pd.DataFrame:
    """A decided rates table ready to share: withheld cells printed with their mark (``<11``
    small, ``‡`` protecting), rates as percentages, counts as whole numbers."""
    t = rates.table
    by = rates.by or "scope"
    out = pd.DataFrame({by: t["group"].astype(str).to_numpy(),
                        "instrument": t["instrument"].to_numpy(),
                        "outcome": t["outcome"].to_numpy()})
    m = rates.min_cell_size
    marks = [_mark(w, m) for w in t["withheld"]]
    for col in ("k", "n", "n_patients"):
        out[col] = [mk if pd.isna(v) else int(v)
                    for v, mk in zip(t[col], marks, strict=True)]
    for col, name in (("rate", "rate_%"), ("ci_low", "ci_low_%"), ("ci_high", "ci_high_%")):
        out[name] = [mk if pd.isna(v) else round(float(v) * 100, 1)
                     for v, mk in zip(t[col], marks, strict=True)]
    return out


def safety_table(view: SafetyView, by: str | None = None) -> pd.DataFrame:
    """The session safety rates ready to share: per session and per course overall, or per
    session by ``by`` (route, dose band, session number, quarter), with the same withheld cells
    and marks as the Safety page; plus the count of severe or serious events (withheld below the
    threshold: the page lists them for the clinic's own review, a shared table counts them)."""
    periods = {"month": view.monthly, "quarter": view.quarterly}
    parts = [view.by[by]] if by in view.by else (
        [periods[by]] if by in periods else [view.headline, view.courses])
    frames = []
    for rt in parts:
        t = rates_table(rt).rename(columns={"instrument": "unit", "k": "with_flag",
                                            "n": "assessed"})
        t["unit"] = f"per {rt.unit}"
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    if by is None:
        m = view.min_cell_size
        shown = primary_mark(m) if view.n_serious_shared is None else view.n_serious_shared
        row = dict.fromkeys(out.columns, "")
        row.update({"scope": "all", "unit": "events", "outcome": "severe_or_serious_events",
                    "with_flag": shown})
        out = pd.concat([out.astype(object), pd.DataFrame([row], dtype=object)],
                        ignore_index=True)
    return out


def benefit_risk_table(br: pd.DataFrame, *, group: str, response: str,
                       outcomes: dict[str, str]) -> pd.DataFrame:
    """:func:`dashboard.views.benefit_risk_view` as text cells: the group column named
    ``group``, the response column named ``response``, one column per safety outcome (the
    ``outcomes`` mapping gives each its header)."""
    def cells(prefix: str) -> list[str]:
        cols = [prefix, f"{prefix}_low", f"{prefix}_high", f"{prefix}_n", f"{prefix}_withheld"]
        return [rate_cell_text(*r) for r in br[cols].itertuples(index=False)]

    return pd.DataFrame({group: br["group"], response: cells("response"),
                         **{header: cells(o) for o, header in outcomes.items()}})


def counts_table(decided: pd.DataFrame, *, value: str, min_cell_size: int,
                 percent: Sequence[str] = ()) -> pd.DataFrame:
    """A decided count table (``withheld`` column) with marks in withheld cells; ``percent``
    columns (shares 0–1) printed as percentages and withheld with their count."""
    out = decided.drop(columns=["withheld"]).copy()
    marks = [_mark(w, min_cell_size) if w else "" for w in decided["withheld"]]
    out[value] = [mk if mk else ("" if pd.isna(v) else int(v))
                  for v, mk in zip(decided[value], marks, strict=True)]
    for col in percent:
        out[col] = [mk if mk else ("" if pd.isna(v) else round(float(v) * 100, 1))
                    for v, mk in zip(decided[col], marks, strict=True)]
        out = out.rename(columns={col: f"{col}_%"})
    return out


def funnel_table(view: FunnelView) -> pd.DataFrame:
    """The funnel as a table: stage, courses (marked where withheld), share of started, and the
    90-day Kaplan–Meier estimate with its interval."""
    f = view.stages
    out = counts_table(f[["stage", "n_courses", "share_of_started", "withheld"]],
                       value="n_courses", min_cell_size=view.min_cell_size,
                       percent=["share_of_started"])
    for col in ("estimate", "ci_low", "ci_high"):
        out[f"km_{col}_%"] = [("" if pd.isna(v) else round(float(v) * 100, 1))
                              for v in f[col]]
    km = f["stage"] == "in_response_at_90_days"
    out.loc[km & f["estimate"].isna(), "km_estimate_%"] = "not estimable"
    out = out.rename(columns={"n_courses": "courses"})
    out["nested"] = f["nested"].to_numpy()
    return out


def _notes(meta: Sequence[str], settings: Settings) -> list[str]:
    return [*meta, WITHHELD_FOOTNOTE(settings.min_cell_size),
            f"Rates are per treatment course with Wilson {settings.confidence_level:.0%} "
            "confidence intervals. Definitions: " + "; ".join(
                f"{name} = {value}" for name, value, _ in settings.as_rows())]


def to_csv_bytes(frame: pd.DataFrame, *, meta: Sequence[str], settings: Settings) -> bytes:
    """UTF-8 CSV (with BOM, for spreadsheets) followed by note rows, formulas neutralised."""
    out = _neutral_frame(frame)
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    # note rows are appended after the table (a concat would turn whole-number columns into
    # floats: "36.0")
    writer = csv.writer(buf, lineterminator="\n")
    for m in _notes(meta, settings):
        writer.writerow([neutralize(f"note: {m}")] + [""] * (len(out.columns) - 1))
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


#: Day numbers and durations of the per-course outcomes (whole days in the research extract).
_DAY_COLUMNS = ("baseline_day", "induction_end_day", "days_to_response", "endpoint_day",
                "first_response_day", "relapse_day", "durability_days", "days_to_first_booster")


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
    # whole days only: a fraction of a day would give away the time of day of a visit
    for col in _DAY_COLUMNS:
        if col in o.columns:
            o[col] = pd.array(np.floor(o[col].to_numpy(dtype=float)), dtype="Int64")
    return o.drop(columns=["patient_id", "course_id", "first_dose_at"]).sort_values(
        ["research_id", "course_number", "instrument"]).reset_index(drop=True)
