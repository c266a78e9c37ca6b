"""Booster effect and booster intervals (``definitions.md`` §Boosters).

* **Booster effect**: for each booster and instrument, the last usable score within
  ``booster_window_days`` before it (after any earlier booster) and the first 1 to
  ``booster_window_days`` days after it (before the next booster). The paired change is tested with
  the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided; zero differences dropped,
  the Wilcoxon 1945 convention), and the share regaining response is ``k / n`` among pairs not in
  response before the booster, with a Wilson interval.
* **Booster interval**: days between consecutive boosters of a course.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis import schemas as S
from analysis.alignment import Alignment
from analysis.cohort import wilson_interval
from analysis.survival import ConfidenceInterval

__all__ = ["BoosterEffectResult", "booster_effect", "booster_intervals"]


@dataclass(frozen=True, slots=True)
class BoosterEffectResult:
    """Result of :func:`booster_effect`.

    ``pairs`` columns: ``patient_id``, ``course_id``, ``booster_index`` (1-based), ``booster_day``,
    ``pre_day``, ``pre_total``, ``post_day``, ``post_total``, ``change`` (post − pre, points),
    ``pre_response``, ``post_response``.
    """

    instrument: str
    pairs: pd.DataFrame
    median_change: float | None
    wilcoxon_statistic: float | None
    pvalue: float | None
    n_regained: int
    n_not_in_response_before: int
    regain_ci: ConfidenceInterval

    @property
    def n_pairs(self) -> int:
        """Number of boosters with a score before and after."""
        return len(self.pairs)

    @property
    def regain_rate(self) -> float | None:
        """Share of pairs not in response before the booster that respond after it."""
        n = self.n_not_in_response_before
        return self.n_regained / n if n else None


def booster_effect(alignment: Alignment, *, instrument: str) -> BoosterEffectResult:
    """Paired scores around each booster (see the module notes).

    Parameters
    ----------
    alignment : Alignment
    instrument : str, keyword-only

    Returns
    -------
    BoosterEffectResult
    """
    settings = alignment.settings
    w = settings.booster_window_days
    b = alignment.sessions
    b = b[b["is_booster"]][[S.PATIENT_ID, S.COURSE_ID, S.DAY]].copy()
    b = b.sort_values([S.PATIENT_ID, S.COURSE_ID, S.DAY], kind="stable")
    b["booster_index"] = b.groupby([S.PATIENT_ID, S.COURSE_ID]).cumcount() + 1
    b = b.rename(columns={S.DAY: "booster_day"})
    a = alignment.assessments
    a = a[a["usable"] & (a[S.INSTRUMENT] == instrument)][
        [S.PATIENT_ID, S.COURSE_ID, S.DAY, S.TOTAL, S.IS_RESPONSE, "booster_number"]]
    m = b.merge(a, on=[S.PATIENT_ID, S.COURSE_ID])
    gap = m[S.DAY] - m["booster_day"]
    bn = m["booster_number"].astype(int)
    pre = m[(bn == m["booster_index"] - 1) & (gap >= -w)]
    post = m[(bn == m["booster_index"]) & (gap >= 1) & (gap <= w)]
    key = [S.PATIENT_ID, S.COURSE_ID, "booster_index"]
    pre = pre.sort_values(S.DAY).drop_duplicates(key, keep="last")
    post = post.sort_values(S.DAY).drop_duplicates(key, keep="first")
    pairs = pre[key + ["booster_day", S.DAY, S.TOTAL, S.IS_RESPONSE]].rename(
        columns={S.DAY: "pre_day", S.TOTAL: "pre_total", S.IS_RESPONSE: "pre_response"}).merge(
        post[key + [S.DAY, S.TOTAL, S.IS_RESPONSE]].rename(
            columns={S.DAY: "post_day", S.TOTAL: "post_total", S.IS_RESPONSE: "post_response"}),
        on=key)
    pairs["change"] = pairs["post_total"] - pairs["pre_total"]
    pairs = pairs[[S.PATIENT_ID, S.COURSE_ID, "booster_index", "booster_day", "pre_day",
                   "pre_total", "post_day", "post_total", "change", "pre_response",
                   "post_response"]].reset_index(drop=True)
    diffs = pairs["change"].to_numpy(dtype=float)
    stat = p = None
    if (diffs != 0).sum() >= 1:
        res = stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
    eligible = pairs["pre_response"].notna() & ~pairs["pre_response"].fillna(False).astype(bool)
    eligible &= pairs["post_response"].notna()
    n_el = int(eligible.sum())
    n_reg = int(pairs.loc[eligible, "post_response"].astype(bool).sum())
    low, high = wilson_interval(n_reg, n_el, confidence_level=settings.confidence_level)
    return BoosterEffectResult(
        instrument=instrument, pairs=pairs,
        median_change=float(np.median(diffs)) if diffs.size else None,
        wilcoxon_statistic=stat, pvalue=p, n_regained=n_reg, n_not_in_response_before=n_el,
        regain_ci=ConfidenceInterval(float(low), float(high)))


def booster_intervals(alignment: Alignment) -> pd.DataFrame:
    """Days between consecutive boosters of each course.

    Returns
    -------
    DataFrame with ``patient_id``, ``course_id``, ``booster_index`` (of the later booster, >= 2)
    and ``interval_days``.
    """
    b = alignment.sessions
    b = b[b["is_booster"]].sort_values([S.PATIENT_ID, S.COURSE_ID, S.DAY], kind="stable")
    b = b.assign(booster_index=b.groupby([S.PATIENT_ID, S.COURSE_ID]).cumcount() + 1,
                 interval_days=b.groupby([S.PATIENT_ID, S.COURSE_ID])[S.DAY].diff())
    out = b[b["booster_index"] >= 2]
    return out[[S.PATIENT_ID, S.COURSE_ID, "booster_index", "interval_days"]].reset_index(drop=True)
