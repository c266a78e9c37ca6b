"""Scoring from items: totals, the missing-item policy, severity, safety flags, PCL-5 clusters.

Rules (``clinical-reference.md`` §0, §1.2–§1.4):

* A total is the sum of the items. With missing items there is no total unless
  ``max_missing_items`` allows it; a prorated total is ``sum(answered) * n_items / n_answered``
  (unrounded, marked ``prorated``). PHQ-9 item 9 is never prorated: a PHQ-9 without item 9 has no
  total unless the source gave one.
* Items are integers in the instrument's item range; a given total must lie in ``0..total_max``
  and equal the item sum when every item is given (when some are missing, it must be reachable:
  between the answered sum and that sum plus the most the missing items could add).
* PHQ-9 item 9: ``>= 1`` review, ``>= 2`` high priority, missing = unknown, from the item alone.
* PCL-5 DSM-5 provisional diagnosis: every cluster has its minimum of items rated >= 2. A cluster
  with missing items counts as met only when its observed items already meet it; otherwise the
  diagnosis is unknown (``<NA>``) unless another, complete cluster already fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.exceptions import ScoringError
from analysis.instruments import INSTRUMENTS, PCL5, PCL5_CLUSTERS, PHQ9, Instrument

__all__ = ["find_score_problems", "score_items", "score_assessments", "severity_labels",
           "safety_flags", "pcl5_clusters", "SAFETY_LEVELS"]

#: Safety-flag values of PHQ-9 item 9, most urgent first.
SAFETY_LEVELS = ("high_priority", "review", "unknown", "none")


def _item_frame(frame: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    cols = instrument.item_columns
    present = [c for c in cols if c in frame.columns]
    items = frame.reindex(columns=list(cols))
    return items.apply(pd.to_numeric, errors="coerce") if present else items.astype(float)


def find_score_problems(frame: pd.DataFrame, instrument: Instrument) -> list[tuple[object, str, str]]:
    """Every bad item or total in ``frame``, as ``(row label, column, reason)``.

    Parameters
    ----------
    frame : DataFrame
        Rows of one instrument with optional columns ``total`` and ``item_1 … item_n``.
        Non-numeric values should already be NaN or numbers; this checks ranges and sums.
    instrument : Instrument

    Returns
    -------
    list of (row, column, reason); empty when everything is valid.

    Examples
    --------
    >>> df = pd.DataFrame({"item_1": [5], "total": [5]})
    >>> find_score_problems(df, PHQ9)[0]
    (0, 'item_1', '5 is outside 0–3 for PHQ9')
    """
    problems: list[tuple[object, str, str]] = []
    items = _item_frame(frame, instrument).to_numpy(dtype=float)
    lo, hi, code = instrument.item_min, instrument.item_max, instrument.code
    bad = ~np.isnan(items) & ((items < lo) | (items > hi) | (items != np.round(items)))
    for r, c in zip(*np.nonzero(bad), strict=True):
        value = items[r, c]
        shown = int(value) if value == round(value) else value
        reason = (f"{shown} is outside {lo}–{hi} for {code}" if not lo <= value <= hi
                  else f"{shown} is not a whole number")
        problems.append((frame.index[r], instrument.item_columns[c], reason))
    if S.TOTAL in frame.columns:
        total = pd.to_numeric(frame[S.TOTAL], errors="coerce").to_numpy(dtype=float)
        valid_items = np.where(bad, np.nan, items)
        answered = np.nansum(valid_items, axis=1)
        n_missing = np.isnan(items).sum(axis=1)
        has_total = ~np.isnan(total)
        out_of_range = has_total & ((total < 0) | (total > instrument.total_max))
        any_items = n_missing < instrument.n_items
        row_bad = bad.any(axis=1)
        mismatch = (has_total & ~out_of_range & any_items & ~row_bad & (
            ((n_missing == 0) & (total != answered))
            | (total < answered) | (total > answered + n_missing * hi)))
        for r in np.nonzero(out_of_range)[0]:
            problems.append((frame.index[r], S.TOTAL,
                             f"{total[r]:g} is outside 0–{instrument.total_max} for {code}"))
        for r in np.nonzero(mismatch)[0]:
            what = ("the item sum" if n_missing[r] == 0
                    else f"the answered items (sum {answered[r]:g}, {n_missing[r]} missing)")
            problems.append((frame.index[r], S.TOTAL,
                             f"total {total[r]:g} disagrees with {what}"
                             + (f" {answered[r]:g}" if n_missing[r] == 0 else "")))
    problems.sort(key=lambda p: (frame.index.get_loc(p[0]), p[1]))
    return problems


def score_items(frame: pd.DataFrame, instrument: Instrument, *,
                max_missing_items: int = 0) -> pd.DataFrame:
    """Totals from items under the missing-item policy.

    Parameters
    ----------
    frame : DataFrame
        Rows of one instrument; optional ``total`` and ``item_1 … item_n`` columns.
    instrument : Instrument
    max_missing_items : int, keyword-only
        Prorate when at most this many items are missing (default 0: never).

    Returns
    -------
    DataFrame indexed like ``frame`` with ``total`` (float; a given total wins over the items),
    ``n_missing_items`` (int) and ``prorated`` (bool).

    Raises
    ------
    ScoringError
        With every bad cell, when any item or total breaks the rules.

    Examples
    --------
    >>> df = pd.DataFrame({f"item_{i}": [2] for i in range(1, 8)})
    >>> df.loc[0, "item_3"] = None
    >>> score_items(df, INSTRUMENTS["GAD7"], max_missing_items=1)[["total", "prorated"]]
       total  prorated
    0   14.0      True
    """
    problems = find_score_problems(frame, instrument)
    if problems:
        raise ScoringError(problems)
    items = _item_frame(frame, instrument).to_numpy(dtype=float)
    n_missing = np.isnan(items).sum(axis=1)
    n_answered = instrument.n_items - n_missing
    answered_sum = np.nansum(items, axis=1)
    complete = n_missing == 0
    can_prorate = (n_missing > 0) & (n_missing <= max_missing_items) & (n_answered > 0)
    if instrument is PHQ9 or instrument.code == "PHQ9":
        can_prorate &= ~np.isnan(items[:, 8])  # item 9 is never prorated
    with np.errstate(invalid="ignore", divide="ignore"):
        prorated_total = answered_sum * instrument.n_items / n_answered
    from_items = np.where(complete, answered_sum, np.where(can_prorate, prorated_total, np.nan))
    given = (pd.to_numeric(frame[S.TOTAL], errors="coerce").to_numpy(dtype=float)
             if S.TOTAL in frame.columns else np.full(len(frame), np.nan))
    total = np.where(np.isnan(given), from_items, given)
    prorated = np.isnan(given) & ~complete & can_prorate
    return pd.DataFrame({S.TOTAL: total, S.N_MISSING_ITEMS: n_missing.astype(int),
                         S.PRORATED: prorated}, index=frame.index)


def severity_labels(totals: pd.Series, instrument: Instrument) -> pd.Series:
    """Severity band of each total (``<NA>`` for a missing total and for PCL-5, which has none).

    >>> severity_labels(pd.Series([0, 4.5, 10, 27]), PHQ9).tolist()
    ['minimal', 'minimal', 'moderate', 'severe']
    """
    if not instrument.severity_bands:
        return pd.Series(pd.NA, index=totals.index, dtype="string")
    edges = [b.low for b in instrument.severity_bands[1:]]
    labels = np.array([b.label for b in instrument.severity_bands], dtype=object)
    values = totals.to_numpy(dtype=float)
    idx = np.searchsorted(edges, values, side="right")
    out = pd.Series(labels[np.clip(idx, 0, len(labels) - 1)], index=totals.index, dtype="string")
    return out.mask(np.isnan(values))


def safety_flags(item9: pd.Series) -> pd.Series:
    """PHQ-9 item-9 safety flag: ``high_priority`` (>=2), ``review`` (1), ``none`` (0), ``unknown``.

    The flag comes from the item alone, whatever the total (Simon et al. 2013, 2016).

    >>> safety_flags(pd.Series([0, 1, 2, 3, None])).tolist()
    ['none', 'review', 'high_priority', 'high_priority', 'unknown']
    """
    v = pd.to_numeric(item9, errors="coerce").to_numpy(dtype=float)
    out = np.select([np.isnan(v), v >= 2, v >= 1], ["unknown", "high_priority", "review"], "none")
    return pd.Series(out, index=item9.index, dtype="string")


def pcl5_clusters(frame: pd.DataFrame) -> pd.DataFrame:
    """PCL-5 cluster scores B–E and the DSM-5 provisional diagnosis.

    Returns
    -------
    DataFrame with ``cluster_b … cluster_e`` (float; NaN when the cluster has a missing item) and
    ``provisional_ptsd`` (nullable boolean; see the module notes for missing items).

    >>> row = {f"item_{i}": 2 for i in range(1, 21)}
    >>> pcl5_clusters(pd.DataFrame([row]))[["cluster_b", "provisional_ptsd"]]
       cluster_b  provisional_ptsd
    0       10.0              True
    """
    items = _item_frame(frame, PCL5).to_numpy(dtype=float)
    out = pd.DataFrame(index=frame.index)
    all_met = np.ones(len(frame), dtype=bool)
    any_failed = np.zeros(len(frame), dtype=bool)
    for label, numbers, minimum in PCL5_CLUSTERS:
        block = items[:, [n - 1 for n in numbers]]
        missing = np.isnan(block).any(axis=1)
        endorsed = (block >= 2).sum(axis=1)  # NaN >= 2 is False
        met = endorsed >= minimum
        out[f"cluster_{label.lower()}"] = np.where(missing, np.nan, np.nansum(block, axis=1))
        all_met &= met
        any_failed |= ~met & ~missing
    dx = pd.array(np.where(all_met, True, False), dtype="boolean")
    dx[~all_met & ~any_failed] = pd.NA
    out["provisional_ptsd"] = dx
    return out


def score_assessments(assessments: pd.DataFrame, *, max_missing_items: int = 0) -> pd.DataFrame:
    """Score a long assessments frame holding any mix of instruments.

    Parameters
    ----------
    assessments : DataFrame
        Columns ``instrument`` (canonical code), optional ``total`` and ``item_1 … item_20``.
    max_missing_items : int, keyword-only

    Returns
    -------
    A copy with ``total``, ``n_missing_items``, ``prorated``, ``severity`` and, for PHQ-9 rows,
    ``safety_flag`` (``<NA>`` for other instruments) filled in.

    Raises
    ------
    ScoringError
        With every bad cell of every instrument (row labels are ``assessments``' index).
    """
    out = assessments.copy()
    if S.TOTAL not in out.columns:
        out[S.TOTAL] = np.nan
    out[S.TOTAL] = pd.to_numeric(out[S.TOTAL], errors="coerce").astype(float)
    out[S.N_MISSING_ITEMS] = 0
    out[S.PRORATED] = False
    out["severity"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["safety_flag"] = pd.Series(pd.NA, index=out.index, dtype="string")
    problems: list[tuple[object, str, str]] = []
    for code, rows in out.groupby(S.INSTRUMENT, sort=False).groups.items():
        spec = INSTRUMENTS[str(code)]
        part = out.loc[rows]
        bad = find_score_problems(part, spec)
        if bad:
            problems.extend(bad)
            continue
        scored = score_items(part, spec, max_missing_items=max_missing_items)
        out.loc[rows, [S.TOTAL, S.N_MISSING_ITEMS, S.PRORATED]] = scored.to_numpy()
        out.loc[rows, "severity"] = severity_labels(scored[S.TOTAL], spec)
        if spec.code == "PHQ9":
            item9 = part["item_9"] if "item_9" in part.columns else pd.Series(np.nan, index=rows)
            out.loc[rows, "safety_flag"] = safety_flags(item9)
    if problems:
        problems.sort(key=lambda p: (out.index.get_loc(p[0]), p[1]))
        raise ScoringError(problems)
    out[S.TOTAL] = out[S.TOTAL].astype(float)
    out[S.N_MISSING_ITEMS] = out[S.N_MISSING_ITEMS].astype(int)
    out[S.PRORATED] = out[S.PRORATED].astype(bool)
    return out
