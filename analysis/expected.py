"""Expected course: percentile bands of scores by day for patients of similar baseline severity.

The percentile-band method of ``clinical-reference.md`` §5 (an empirical alternative to the
Finch, Lambert & Schaalje 2001 mixed model): courses are grouped by the severity band of their
baseline (the instrument's bands; PCL-5, which has none, by baseline thirds of its range), and
for each day bin the 10th, 50th and 90th percentiles of the scores are computed over courses (one
value per course per bin, its mean in the bin). Bins with fewer than ``min_courses`` courses are
not reported, so a band is never drawn from a handful of patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.alignment import Alignment
from analysis.cohort import bin_days
from analysis.instruments import INSTRUMENTS

__all__ = ["baseline_band", "expected_course"]


def baseline_band(baseline: pd.Series, instrument: str) -> pd.Series:
    """Label of the severity band each baseline falls in (PCL-5: thirds of 0–80).

    >>> baseline_band(pd.Series([3, 12, 22]), "PHQ9").tolist()
    ['minimal', 'moderate', 'severe']
    """
    spec = INSTRUMENTS[instrument]
    if spec.severity_bands:
        lows = [b.low for b in spec.severity_bands]
        labels = np.array([b.label for b in spec.severity_bands], dtype=object)
    else:
        lows = [0, 27, 54]
        labels = np.array(["0–26", "27–53", "54–80"], dtype=object)
    values = baseline.to_numpy(dtype=float)
    idx = np.clip(np.searchsorted(lows, values, side="right") - 1, 0, len(labels) - 1)
    return pd.Series(np.where(np.isnan(values), None, labels[idx]), index=baseline.index,
                     dtype=object)


def expected_course(alignment: Alignment, *, instrument: str,
                    bins: Sequence[tuple[float, float, str]] | None = None,
                    min_courses: int = 20,
                    percentiles: tuple[float, float, float] = (10, 50, 90)) -> pd.DataFrame:
    """Percentile bands of the total by day bin, per baseline severity band.

    Parameters
    ----------
    alignment : Alignment
    instrument : str, keyword-only
    bins : day bins ``(low, high, label)`` (default ``settings.trajectory_bins``)
    min_courses : int, keyword-only
        Minimum courses in a (band, bin) cell for it to be reported (default 20).
    percentiles : the lower, middle and upper percentiles (default 10, 50, 90).

    Returns
    -------
    DataFrame with ``baseline_band``, ``bin``, ``bin_order``, ``day_low``, ``day_high``,
    ``n_courses``, ``p_low``, ``p_mid``, ``p_high`` (points).
    """
    settings = alignment.settings
    bins = list(bins or settings.trajectory_bins)
    a = alignment.assessments
    base = a[a["usable"] & (a[S.INSTRUMENT] == instrument) & a[S.BASELINE_TOTAL].notna()]
    base = base.drop_duplicates([S.PATIENT_ID, S.COURSE_ID])
    attrs = base[[S.PATIENT_ID, S.COURSE_ID]].assign(
        baseline_band=baseline_band(base[S.BASELINE_TOTAL], instrument).to_numpy())
    rows = a[a["usable"] & (a[S.INSTRUMENT] == instrument)]
    rows = rows.merge(attrs, on=[S.PATIENT_ID, S.COURSE_ID])
    rows = rows[(rows[S.DAY] > 0) | (rows[S.DAY] == rows[S.BASELINE_DAY])]
    idx, inside = bin_days(rows[S.DAY].to_numpy(dtype=float), bins)
    rows = rows[inside].assign(bin_order=idx[inside])
    highs = np.array([b[1] for b in bins], dtype=float)
    lows = np.array([b[0] for b in bins], dtype=float)
    per_course = rows.groupby(["baseline_band", S.PATIENT_ID, S.COURSE_ID, "bin_order"],
                              sort=False)[S.TOTAL].mean().reset_index()
    lo_p, mid_p, hi_p = percentiles
    g = per_course.groupby(["baseline_band", "bin_order"], sort=True)[S.TOTAL]
    out = g.agg(n_courses="size",
                p_low=lambda v: float(np.percentile(v, lo_p)),
                p_mid=lambda v: float(np.percentile(v, mid_p)),
                p_high=lambda v: float(np.percentile(v, hi_p))).reset_index()
    out = out[out["n_courses"] >= min_courses]
    labels = np.array([b[2] for b in bins], dtype=object)
    out["bin"] = labels[out["bin_order"].to_numpy()]
    out["day_low"] = np.where(np.isinf(lows), 0, lows)[out["bin_order"].to_numpy()]
    out["day_high"] = highs[out["bin_order"].to_numpy()]
    return out[["baseline_band", "bin", "bin_order", "day_low", "day_high", "n_courses",
                "p_low", "p_mid", "p_high"]].reset_index(drop=True)
