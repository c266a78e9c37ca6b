"""Input validation shared by the public entry points (kept apart from the computation)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.exceptions import AnalysisError

__all__ = ["require_columns", "as_naive_timestamps", "group_codes"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise :class:`AnalysisError` naming every required column missing from ``frame``."""
    if not isinstance(frame, pd.DataFrame):
        raise AnalysisError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalysisError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")


def as_naive_timestamps(values: pd.Series, *, what: str) -> pd.Series:
    """Timestamps as naive ``datetime64[ns]`` wall-clock times.

    Time-zone aware values keep their local wall-clock time (the clinic's calendar day is what
    the definitions count in). Unparseable or missing values raise, naming the first few rows.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        values = parsed
    values = values.astype("datetime64[ns]")
    bad = values.isna().to_numpy()
    if bad.any():
        rows = list(values.index[np.nonzero(bad)[0][:5]])
        raise AnalysisError(f"{what}: {int(bad.sum())} missing or unparseable timestamp(s), "
                            f"e.g. at rows {rows}")
    return values


def group_codes(*keys) -> np.ndarray:
    """One integer per distinct combination of the key arrays (first-seen order), for grouping
    on integers instead of id strings (at network scale grouping on strings, or on a
    MultiIndex of them, dominated the signal and model computations).

    >>> group_codes(["P1", "P1", "P2", "P1"], ["a", "b", "a", "a"]).tolist()
    [0, 1, 2, 0]
    """
    if not keys:
        return np.zeros(0, dtype=np.int64)
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(pd.Series(key), use_na_sentinel=False)
        combined = combined * (len(uniques) + 1) + codes
        combined = pd.factorize(combined)[0]   # stay small: re-code after each key
    return combined
