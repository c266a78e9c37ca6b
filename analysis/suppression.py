"""Small cells: pooled, withheld once, and protected minimally (``definitions.md``, small cells).

This module *decides*; every renderer (cards, charts, tables, exports, the report) only reads the
decision. Three steps, applied to a table of rates (or counts) by group:

1. **Pooling** (:func:`pool_small_groups`): groups with fewer than ``min_cell_size`` patients are
   merged into one ``Other (k groups)`` group before anything is withheld, so a small clinic
   still sees its routes and indications; if the pool itself is still small, the next smallest
   group joins it.
2. **Primary withholding**: a cell with fewer than ``min_cell_size`` patients (its ``n``, ``k``
   and rate are withheld), or a rate whose numerator ``k`` or complement ``n - k`` is below the
   threshold (the rate and ``k`` are withheld; ``n`` stays, it says nothing about the outcome).
   Marked ``primary`` and printed ``<11`` (the configured value).
3. **Protection** (secondary withholding): within one set of disjoint cells whose total is
   published (same instrument and outcome; the total is the overall figure on the card), a
   withheld count must not be recoverable. For every withheld count the feasible interval given
   the published total and margins (``0 <= k <= n``) is computed; while one is narrower than
   ``min_cell_size``, the *smallest* published cell that makes every interval wide enough is
   withheld too (the least information lost; the largest is added only when no single one is
   enough). Marked ``protecting`` and printed with :data:`PROTECTING_MARK`, explained in a
   footnote (a protecting cell is not small; it is withheld so that another one is not exposed).

The feasible intervals are exact here for the common case (withheld numerators with published
denominators: a box with one sum constraint); where denominators are withheld too they are
computed by linear programming (``scipy.optimize.linprog``). The tests audit every published view
with an independent linear program built from the rendered table.

Counts of courses stand in for patients for ``k`` and ``n``: a course count is never below the
number of distinct patients behind it, so the rule can only err towards withholding more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linprog

__all__ = ["PROTECTING_MARK", "primary_mark", "pool_small_groups", "withhold_rates",
           "withhold_counts", "feasible_intervals", "other_label", "WITHHELD_FOOTNOTE"]

#: Printed in a protecting cell (withheld only so that a small cell cannot be worked out).
PROTECTING_MARK = "‡"


def primary_mark(min_cell_size: int) -> str:
    """The mark printed in a small (primary) cell: ``<11`` for the default threshold.

    >>> primary_mark(11), primary_mark(5)
    ('<11', '<5')
    """
    return f"<{int(min_cell_size)}"


def WITHHELD_FOOTNOTE(min_cell_size: int) -> str:  # noqa: N802 - reads as a constant
    """The footnote every renderer prints under a table or chart with withheld cells."""
    m = int(min_cell_size)
    return (f"{primary_mark(m)}: withheld, fewer than {m} patients (or fewer than {m} with or "
            f"without the outcome). {PROTECTING_MARK}: withheld so that a small cell cannot be "
            "worked out from the totals; it is not itself small. Groups with fewer than "
            f"{m} patients are pooled into 'Other'.")


def other_label(n_groups: int) -> str:
    """Name of a pooled group.

    >>> other_label(3)
    'Other (3 groups)'
    """
    return f"Other ({n_groups} group{'s' if n_groups != 1 else ''})"


def pool_small_groups(groups: pd.Series, patients: pd.Series, *, min_cell_size: int
                      ) -> pd.Series:
    """Merge the groups with fewer than ``min_cell_size`` distinct patients into one ``Other``.

    Parameters
    ----------
    groups : Series
        The group of each row (one row per course, or per course and instrument).
    patients : Series
        The patient id of each row (same index).
    min_cell_size : int, keyword-only

    Returns
    -------
    Series of the same index with pooled group labels (str). When the pooled groups together
    still have fewer than ``min_cell_size`` patients, the next smallest group joins the pool
    (unless that would leave a single group: then the pool stays, to be withheld).

    Examples
    --------
    >>> g = pd.Series(["IV"] * 12 + ["IM"] * 3 + ["SL"] * 2 + ["PO"] * 8 + ["IN"] * 20)
    >>> p = pd.Series(range(len(g))).astype(str)
    >>> pool_small_groups(g, p, min_cell_size=11).value_counts().to_dict()
    {'IN': 20, 'Other (3 groups)': 13, 'IV': 12}
    """
    if min_cell_size < 1:
        raise ValueError("min_cell_size must be >= 1")
    g = groups.astype("string").fillna("unknown").astype(str)
    size = pd.DataFrame({"g": g.to_numpy(), "p": patients.to_numpy()}).groupby("g")["p"].nunique()
    size = size.sort_values(kind="stable")
    small = list(size[size < min_cell_size].index)
    if not small:
        return g
    pooled_patients = pd.Series(patients.to_numpy()[g.isin(small).to_numpy()]).nunique()
    rest = [x for x in size.index if x not in small]
    while pooled_patients < min_cell_size and len(rest) > 1:
        nxt = rest.pop(0)
        small.append(nxt)
        pooled_patients = pd.Series(patients.to_numpy()[g.isin(small).to_numpy()]).nunique()
    if len(small) == 1:  # a pool of one group is that group: nothing is gained by renaming it
        return g
    return g.where(~g.isin(small), other_label(len(small)))


def _rate_intervals(k: np.ndarray, n: np.ndarray, hide_k: np.ndarray, hide_n: np.ndarray,
                    total_k: float | None, total_n: float | None) -> np.ndarray:
    """Smallest width among the feasible intervals of every withheld ``k``, ``n - k`` and ``n``
    of one set of disjoint cells (inf when nothing is withheld)."""
    if not hide_k.any() and not hide_n.any():
        return np.inf
    if not hide_n.any():
        if total_k is None:  # nothing to subtract from: k in [0, n], n >= min_cell_size
            return float(n[hide_k].min())
        s = total_k - k[~hide_k].sum()
        u = n[hide_k]
        lo = np.maximum(0.0, s - (u.sum() - u))
        hi = np.minimum(u, s)
        return float((hi - lo).min())
    widths = feasible_intervals(k, n, hide_k, hide_n, total_k, total_n)
    return float(np.nanmin(widths[:, 1] - widths[:, 0])) if len(widths) else np.inf


def feasible_intervals(k: np.ndarray, n: np.ndarray, hide_k: np.ndarray, hide_n: np.ndarray,
                       total_k: float | None, total_n: float | None) -> np.ndarray:
    """Feasible ``[min, max]`` of every withheld quantity of one set of disjoint cells.

    Unknowns are the withheld ``k_i`` and ``n_i``; constraints are the published totals
    (``sum k = total_k``, ``sum n = total_n``, when given), ``0 <= k_i <= n_i`` and the published
    values. Returns one row per withheld quantity (each withheld ``k``, each ``n - k`` and each
    withheld ``n``) with its min and max, by linear programming.

    >>> feasible_intervals(np.array([3., 20.]), np.array([25., 30.]),
    ...                    np.array([True, True]), np.array([False, False]), 23.0, 55.0)
    array([[ 0., 23.],
           [ 2., 25.],
           [ 0., 23.],
           [ 7., 30.]])
    """
    m = len(k)
    # variables: k_0..k_{m-1}, n_0..n_{m-1}
    bounds = []
    for i in range(m):
        bounds.append((None, None) if hide_k[i] else (k[i], k[i]))
    for i in range(m):
        bounds.append((None, None) if hide_n[i] else (n[i], n[i]))
    a_ub = np.zeros((2 * m, 2 * m))
    b_ub = np.zeros(2 * m)
    for i in range(m):
        a_ub[i, i] = -1.0                      # -k_i <= 0
        a_ub[m + i, i], a_ub[m + i, m + i] = 1.0, -1.0   # k_i - n_i <= 0
    a_eq, b_eq = [], []
    if total_k is not None:
        a_eq.append(np.r_[np.ones(m), np.zeros(m)])
        b_eq.append(total_k)
    if total_n is not None:
        a_eq.append(np.r_[np.zeros(m), np.ones(m)])
        b_eq.append(total_n)
    targets = []
    for i in range(m):
        if hide_k[i]:
            e = np.zeros(2 * m)
            e[i] = 1
            targets.append(e)
            c = np.zeros(2 * m)
            c[m + i], c[i] = 1, -1
            targets.append(c)
    for i in range(m):
        if hide_n[i]:
            e = np.zeros(2 * m)
            e[m + i] = 1
            targets.append(e)
    out = np.empty((len(targets), 2))
    for j, obj in enumerate(targets):
        for col, sign in ((0, 1.0), (1, -1.0)):
            res = linprog(sign * obj, A_ub=a_ub, b_ub=b_ub, A_eq=np.array(a_eq) if a_eq else None,
                          b_eq=np.array(b_eq) if b_eq else None, bounds=bounds, method="highs")
            if res.status == 3:      # unbounded
                out[j, col] = -np.inf if sign > 0 else np.inf
            elif res.status != 0:    # infeasible cannot happen for real tables: be safe
                out[j, col] = np.nan
            else:
                out[j, col] = sign * res.fun
    return out


def _protect(values: np.ndarray, hidden: np.ndarray, width, min_cell_size: int,
             candidates_ok: np.ndarray) -> np.ndarray:
    """Greedy minimal protection: withhold the smallest published cell that lifts every
    withheld interval to ``min_cell_size`` (the largest when no single cell is enough)."""
    hidden = hidden.copy()
    added = np.zeros_like(hidden)
    while width(hidden) < min_cell_size:
        cands = np.nonzero(~hidden & candidates_ok)[0]
        if cands.size == 0:
            break
        cands = cands[np.argsort(values[cands], kind="stable")]
        chosen = None
        for c in cands:
            trial = hidden.copy()
            trial[c] = True
            if width(trial) >= min_cell_size:
                chosen = c
                break
        chosen = cands[-1] if chosen is None else chosen
        hidden[chosen] = True
        added[chosen] = True
    return added


def withhold_rates(rates: pd.DataFrame, *, by: Sequence[str], min_cell_size: int = 11,
                   set_keys: Sequence[str] = ("instrument", "outcome"),
                   overall: pd.DataFrame | None = None) -> pd.DataFrame:
    """Decide which cells of a rates table are withheld (see the module notes).

    Parameters
    ----------
    rates : DataFrame
        ``by`` columns, ``set_keys`` columns, ``k``, ``n``, ``n_patients``, ``rate``, ``ci_low``,
        ``ci_high`` (as :func:`analysis.cohort.summarize_rates` returns). Rates of units that
        are not patients (sessions) also give ``k_patients`` / ``nk_patients``, the patients
        with / without the outcome: either below the threshold withholds the rate. The groups of one set
        must be disjoint (each course in one group).
    by : group columns.
    min_cell_size : int, keyword-only
    overall : DataFrame, optional
        The overall (unbroken-down) rates with ``set_keys``, ``k``, ``n``, ``n_patients``; its
        totals count as published where they are not themselves withheld. When omitted the
        totals are taken as published (the cautious assumption).

    Returns
    -------
    A copy with ``k``, ``rate``, ``ci_low``, ``ci_high`` set to NaN where the rate is withheld and
    ``n``, ``n_patients`` NaN where the group's size is withheld; ``withheld`` (``""``,
    ``"primary"`` or ``"protecting"``) and ``n_withheld`` (bool).

    Examples
    --------
    >>> t = pd.DataFrame({"route": ["IV", "IM", "SL"], "instrument": "PHQ9",
    ...                   "outcome": "endpoint_response", "k": [30, 12, 3], "n": [60, 25, 12],
    ...                   "n_patients": [60, 25, 12], "rate": [.5, .48, .25],
    ...                   "ci_low": [.4, .3, .1], "ci_high": [.6, .66, .5]})
    >>> withhold_rates(t, by=["route"])["withheld"].tolist()
    ['', 'protecting', 'primary']
    """
    if min_cell_size < 1:
        raise ValueError("min_cell_size must be >= 1")
    m = min_cell_size
    out = rates.copy().reset_index(drop=True)
    k = out["k"].to_numpy(dtype=float)
    n = out["n"].to_numpy(dtype=float)
    pts = out["n_patients"].to_numpy(dtype=float)
    hide_n = pts < m
    hide_k = hide_n | (k < m) | (n - k < m)
    if "k_patients" in out.columns:  # rates of sessions: patients with and without the outcome
        hide_k |= (out["k_patients"].to_numpy(dtype=float) < m) | (
            out["nk_patients"].to_numpy(dtype=float) < m)
    status = np.where(hide_k, "primary", "").astype(object)
    keys = list(set_keys)
    totals: dict[tuple, tuple[float | None, float | None]] = {}
    if overall is not None and len(overall):
        ov = overall.assign(_all="all")
        for col in ("rate", "ci_low", "ci_high"):
            if col not in ov.columns:
                ov[col] = np.nan
        ov = withhold_rates(ov, by=["_all"], min_cell_size=m, set_keys=keys)
        for _, row in ov.iterrows():
            key = tuple(row[c] for c in keys)
            totals[key] = (None if pd.isna(row["k"]) else float(row["k"]),
                           None if pd.isna(row["n"]) else float(row["n"]))
    sets = out.groupby(keys, sort=False).indices if keys else {(): np.arange(len(out))}
    for key, idx in sets.items():
        idx = np.asarray(idx)
        key = key if isinstance(key, tuple) else (key,)
        tk, tn = totals.get(key, (k[idx].sum(), n[idx].sum())) if overall is None \
            else totals.get(key, (None, None))
        kk, nn = k[idx], n[idx]
        hk, hn = hide_k[idx].copy(), hide_n[idx].copy()
        # protect withheld group sizes first (a withheld n withholds its k too)
        add_n = _protect(nn, hn, lambda h, nn=nn, tn=tn: _n_width(nn, h, tn), m,
                         np.ones(len(idx), bool))
        hn |= add_n
        hk |= add_n
        add_k = _protect(np.minimum(kk, nn - kk), hk,
                         lambda h, kk=kk, nn=nn, hn=hn, tk=tk, tn=tn:
                         _rate_intervals(kk, nn, h, hn, tk, tn), m,
                         np.ones(len(idx), bool))
        hk |= add_k
        newly = (add_n | add_k) & (status[idx] == "")
        status[idx[newly]] = "protecting"
        hide_n[idx], hide_k[idx] = hn, hk
    for col in ("rate", "ci_low", "ci_high", "k"):
        out[col] = out[col].astype(float).mask(hide_k)
    for col in ("n", "n_patients"):
        out[col] = out[col].astype(float).mask(hide_n)
    for col in ("k_patients", "nk_patients"):
        if col in out.columns:
            out[col] = out[col].astype(float).mask(hide_k)
    out["withheld"] = status
    out["n_withheld"] = hide_n
    return out


def _n_width(n: np.ndarray, hidden: np.ndarray, total_n: float | None) -> float:
    """Width of the feasible interval of withheld group sizes given their published total."""
    if not hidden.any() or total_n is None:
        return np.inf
    s = total_n - n[~hidden].sum()
    return 0.0 if hidden.sum() == 1 else float(s)


def withhold_counts(table: pd.DataFrame, *, value: str, min_cell_size: int = 11,
                    set_keys: Sequence[str] = (), total_published: bool = True) -> pd.DataFrame:
    """Decide which counts of a table of disjoint cells are withheld.

    Primary: ``0 < count < min_cell_size``. Protection as for rates: within each set (rows with
    equal ``set_keys``, whose total is published when ``total_published``), withheld counts must
    sum to at least ``min_cell_size`` over at least two cells.

    Returns a copy with ``value`` NaN where withheld and ``withheld`` (``""``, ``"primary"``,
    ``"protecting"``).

    >>> t = pd.DataFrame({"reason": ["ok", "no baseline", "lost"], "courses": [120, 4, 30]})
    >>> withhold_counts(t, value="courses")["withheld"].tolist()
    ['', 'primary', 'protecting']
    """
    m = min_cell_size
    out = table.copy().reset_index(drop=True)
    v = out[value].to_numpy(dtype=float)
    hidden = (v > 0) & (v < m)
    status = np.where(hidden, "primary", "").astype(object)
    sets = out.groupby(list(set_keys), sort=False).indices if set_keys \
        else {(): np.arange(len(out))}
    for idx in sets.values():
        idx = np.asarray(idx)
        vv = v[idx]
        if not total_published:
            continue
        add = _protect(vv, hidden[idx], lambda h, vv=vv: _n_width(vv, h, vv.sum()), m, vv > 0)
        hidden[idx] |= add
        status[idx[add]] = "protecting"
    out[value] = out[value].astype(float).mask(hidden)
    out["withheld"] = status
    return out

