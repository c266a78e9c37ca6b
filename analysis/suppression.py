"""Small-cell suppression for aggregate tables (``definitions.md``: ``min_cell_size``, default 11).

Rules, applied to a table of rates by group (one row per group, with a total row or a published
overall figure alongside):

1. **Primary**: a group with fewer than ``min_cell_size`` patients has its count, rate and
   interval suppressed. A rate whose numerator ``k`` or complement ``n - k`` is below the
   threshold is suppressed too (with ``n`` shown, ``k`` would follow from the rate).
2. **Complementary**: within each set of groups that add up to a published total (same
   instrument and outcome), a single suppressed cell could be recovered by subtraction; the
   smallest remaining cell of that set is then suppressed as well (repeated until no set has
   exactly one suppressed cell).

Counts of courses stand in for patients for ``k``: a course count is never below the number of
distinct patients behind it, so the rule can only err towards suppressing more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["suppress_rates", "SUPPRESSED"]

#: Marker written in suppressed cells of exported tables.
SUPPRESSED = "<11"


def suppress_rates(rates: pd.DataFrame, *, by: Sequence[str], min_cell_size: int = 11,
                   set_keys: Sequence[str] = ("instrument", "outcome")) -> pd.DataFrame:
    """Suppress small cells of a rates table (see the module notes).

    Parameters
    ----------
    rates : DataFrame
        ``by`` columns, ``set_keys`` columns, ``k``, ``n``, ``n_patients``, ``rate``, ``ci_low``,
        ``ci_high`` (as :func:`analysis.cohort.summarize_rates` returns).
    by : group columns.
    min_cell_size : int, keyword-only

    Returns
    -------
    A copy with ``k``, ``n``, ``n_patients``, ``rate``, ``ci_low``, ``ci_high`` set to NaN where
    suppressed, and ``suppressed`` (``""``, ``"primary"`` or ``"complementary"``).

    Examples
    --------
    >>> t = pd.DataFrame({"route": ["IV", "IM", "SL"], "instrument": "PHQ9",
    ...                   "outcome": "endpoint_response", "k": [30, 12, 3], "n": [60, 25, 8],
    ...                   "n_patients": [60, 25, 8], "rate": [.5, .48, .375],
    ...                   "ci_low": [.4, .3, .1], "ci_high": [.6, .66, .7]})
    >>> suppress_rates(t, by=["route"])["suppressed"].tolist()
    ['', 'complementary', 'primary']
    """
    if min_cell_size < 1:
        raise ValueError("min_cell_size must be >= 1")
    out = rates.copy()
    k = out["k"].to_numpy(dtype=float)
    n = out["n"].to_numpy(dtype=float)
    pts = out["n_patients"].to_numpy(dtype=float)
    small_n = pts < min_cell_size
    small_rate = small_n | (k < min_cell_size) | (n - k < min_cell_size)
    status = np.where(small_rate, "primary", "").astype(object)
    hide_n = small_n.copy()
    sets = out.groupby(list(set_keys), sort=False).indices if set_keys else {(): np.arange(len(out))}
    changed = True
    while changed:
        changed = False
        for idx in sets.values():
            idx = np.asarray(idx)
            for hidden, value in ((hide_n, n), (small_rate, k)):
                h = hidden[idx]
                if h.sum() == 1 and len(idx) > 1:
                    candidates = idx[~h]
                    pick = candidates[np.argmin(value[candidates])]
                    hidden[pick] = True
                    if hidden is hide_n:
                        small_rate[pick] = True
                    status[pick] = status[pick] or "complementary"
                    changed = True
    for col in ("rate", "ci_low", "ci_high", "k"):
        out[col] = out[col].astype(float).mask(small_rate)
    for col in ("n", "n_patients"):
        out[col] = out[col].astype(float).mask(hide_n)
    out["suppressed"] = status
    return out
