"""Input validation shared by the public entry points (kept apart from the computation)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.exceptions import AnalysisError

__all__ = ["require_columns", "as_naive_timestamps", "group_codes", "category_codes", "lookup"]


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


def category_codes(values, categories) -> np.ndarray:
    """Position of each value in ``categories`` (-1 when absent or missing), as int64.

    The same as ``pd.Categorical(values, categories).codes`` and ``Series.isin`` /
    ``Series.map`` on its result, but the values are hashed once by :func:`pandas.factorize`
    and only their distinct values are looked up: on pandas 3's Arrow strings at 2.5M rows that
    is about 5x faster than ``Categorical`` and 15x faster than ``Series.map(dict)``.

    >>> category_codes(["GAD7", "PHQ9", None, "X", "GAD7"], ["PHQ9", "GAD7"]).tolist()
    [1, 0, -1, -1, 1]
    """
    codes, uniques = pd.factorize(pd.Series(values) if not isinstance(values, pd.Series)
                                  else values)
    lut = np.append(pd.Index(np.asarray(categories, dtype=object)).get_indexer(
        pd.Index(uniques, dtype=object)), -1)
    return lut[codes].astype(np.int64)


def lookup(values, mapping, default: float = np.nan) -> np.ndarray:
    """``mapping[value]`` for each value as float (``default`` where a value has none).

    >>> lookup(["PHQ9", "PCL5", "X"], {"PHQ9": 5.0, "PCL5": 33.0}).tolist()
    [5.0, 33.0, nan]
    """
    keys = list(mapping)
    table = np.append(np.array([mapping[k] for k in keys], dtype=float), default)
    codes = category_codes(values, keys)
    return table[np.where(codes >= 0, codes, len(keys))]
