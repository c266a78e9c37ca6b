"""Kaplan–Meier estimates and log-rank tests, built on ``scipy.stats.ecdf`` / ``logrank``.

* The survival curve and its pointwise CI come from ``scipy.stats.ecdf(CensoredData)``; the CI
  uses the log-log ("exponential Greenwood") transform by default, which stays inside [0, 1]
  (Kalbfleisch & Prentice 2002; lifelines' default).
* The median is the smallest time with ``S(t) <= 0.5`` (``None`` when never reached). Its CI is
  read off the pointwise band where it crosses 0.5 (Brookmeyer & Crowley 1982 style, as R's
  ``survfit`` does): lower = first time the lower band is <= 0.5, upper = first time the upper
  band is <= 0.5 (``None`` when never).
* The log-rank test for two groups is ``scipy.stats.logrank``, whose statistic is a signed Z;
  the chi-square reported is ``Z**2`` with 1 df. For k > 2 groups the k-sample log-rank statistic
  ``(O - E)' V^- (O - E)`` with k - 1 df is computed here (Mantel 1966; Klein & Moeschberger
  2003 §7.3) and cross-checked against lifelines in the tests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from analysis.exceptions import InsufficientDataError

__all__ = ["ConfidenceInterval", "KaplanMeierResult", "LogRankResult", "kaplan_meier",
           "logrank_test"]


class ConfidenceInterval(NamedTuple):
    """A two-sided interval; ``None``/NaN bounds mean "not estimable"."""

    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class KaplanMeierResult:
    """Result of :func:`kaplan_meier`.

    Attributes
    ----------
    curve : DataFrame
        Step function at each distinct observed time: ``time`` (days), ``survival``, ``ci_low``,
        ``ci_high``, ``at_risk``, ``events``, ``censored``; starts with a row at time 0 (S = 1).
    n, n_events : number of subjects and of events.
    median : time where survival first reaches 0.5 or below (``None`` if never).
    median_ci : ConfidenceInterval of the median (see the module notes).
    confidence_level : level of the pointwise and median intervals.
    """

    curve: pd.DataFrame
    n: int
    n_events: int
    median: float | None
    median_ci: ConfidenceInterval
    confidence_level: float
    min_at_risk: int = 0

    def steps(self, resolution: float = 1.0) -> pd.DataFrame:
        """The curve's rows as a chart draws them: the last step within each ``resolution``
        (days) of time, plus the first row. Every value is the curve's own value at its own
        time (no interpolation); steps closer than ``resolution`` merge into the later one. At
        network scale a curve has a row per distinct event time (fractional days): a chart of
        100k patients drew 100k points for a few hundred pixels.

        >>> km = kaplan_meier([1.2, 1.7, 2.5, 3.0, 3.1, 6.0], [False] * 6)
        >>> km.steps()["time"].tolist()
        [0.0, 1.7, 3.0, 3.1, 6.0]
        """
        c = self.curve
        if len(c) < 3:
            return c
        cell = np.ceil(c["time"].to_numpy(dtype=float) / resolution)
        last = np.r_[cell[1:] != cell[:-1], True]
        last[0] = True
        return c[last].reset_index(drop=True)

    def truncated(self, min_at_risk: int) -> KaplanMeierResult:
        """The curve cut where fewer than ``min_at_risk`` subjects remain at risk
        (``definitions.md``: KM displays stop there), with the median and its interval read off
        the part that is kept: ``None`` where it is not reached (median, upper limit) while
        enough subjects are at risk.

        >>> km = kaplan_meier([3, 5, 5, 8, 12, 15, 6, 10, 20, 20], [False] * 6 + [True] * 4)
        >>> t = km.truncated(5)
        >>> float(t.curve["time"].iloc[-1]), t.median, km.median
        (10.0, None, 12.0)
        """
        c = self.curve[self.curve["at_risk"] >= min_at_risk].reset_index(drop=True)
        return KaplanMeierResult(
            curve=c, n=self.n, n_events=self.n_events,
            median=_first_at_or_below(c["time"], c["survival"]) if len(c) else None,
            median_ci=ConfidenceInterval(
                _first_at_or_below(c["time"], c["ci_low"]) if len(c) else None,
                _first_at_or_below(c["time"], c["ci_high"]) if len(c) else None),
            confidence_level=self.confidence_level, min_at_risk=min_at_risk)

    def at_risk_at(self, times: object) -> np.ndarray:
        """Number of subjects still at risk (event or censoring at or after ``t``) at each time.

        >>> kaplan_meier([3, 5, 5, 8], [False, False, True, False]).at_risk_at([0, 5, 6, 9])
        array([4, 3, 1, 0])
        """
        c = self.curve
        t = np.asarray(times, dtype=float)
        leaving = (c["events"] + c["censored"]).to_numpy()
        before = np.searchsorted(c["time"].to_numpy(), t, side="left")
        cum = np.concatenate([[0], np.cumsum(leaving)])
        return (self.n - cum[before]).astype(int)

    def survival_at(self, t: float) -> tuple[float, ConfidenceInterval]:
        """Estimated survival at ``t`` days with its pointwise CI (step function, right-continuous).

        Beyond the last observed time the estimate is not extrapolated: NaN is returned.
        """
        c = self.curve
        if t > c["time"].iloc[-1]:
            return float("nan"), ConfidenceInterval(float("nan"), float("nan"))
        i = int(np.searchsorted(c["time"].to_numpy(), t, side="right")) - 1
        row = c.iloc[max(i, 0)]
        return float(row["survival"]), ConfidenceInterval(float(row["ci_low"]),
                                                          float(row["ci_high"]))


class LogRankResult(NamedTuple):
    """Result of :func:`logrank_test`: chi-square, its degrees of freedom and p-value.

    ``z`` is scipy's signed statistic for two groups (negative when the first group survives
    longer), ``None`` for more groups. ``table`` has per-group ``n``, ``observed``, ``expected``.
    """

    chi2: float
    df: int
    pvalue: float
    z: float | None
    table: pd.DataFrame


def _validate(durations: object, censored: object) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if d.shape != c.shape or d.ndim != 1:
        raise ValueError(f"durations and censored must be 1-D of one length, got {d.shape}, {c.shape}")
    if np.isnan(d).any():
        raise ValueError("durations contain NaN: drop undefined rows before calling")
    if (d < 0).any():
        raise ValueError(f"durations must be >= 0; got minimum {d.min()}")
    return d, c


def kaplan_meier(durations: object, censored: object, *, confidence_level: float = 0.95,
                 ci_method: Literal["log-log", "linear"] = "log-log") -> KaplanMeierResult:
    """Kaplan–Meier survival estimate with pointwise CI and the median with its CI.

    Parameters
    ----------
    durations : array-like of float
        Time to event or to censoring (days), >= 0.
    censored : array-like of bool
        True where the subject was censored (no event seen).
    confidence_level : float, keyword-only
    ci_method : ``"log-log"`` (default) or ``"linear"`` (plain Greenwood), keyword-only.

    Returns
    -------
    KaplanMeierResult

    Raises
    ------
    InsufficientDataError
        When there are no subjects.

    Examples
    --------
    >>> km = kaplan_meier([3, 5, 5, 8, 12, 15, 6, 10, 20, 20],
    ...                   [False] * 6 + [True] * 4)
    >>> round(km.survival_at(8)[0], 4), km.median
    (0.5833, 12.0)
    """
    d, c = _validate(durations, censored)
    if d.size == 0:
        raise InsufficientDataError("no subjects for a Kaplan–Meier estimate")
    times = np.unique(d)
    at_risk = d.size - np.searchsorted(np.sort(d), times, side="left")
    ev_times, ev_counts = np.unique(d[~c], return_counts=True)
    events = np.zeros(times.size, dtype=int)
    events[np.searchsorted(times, ev_times)] = ev_counts
    cens_times, cens_counts = np.unique(d[c], return_counts=True)
    n_cens = np.zeros(times.size, dtype=int)
    n_cens[np.searchsorted(times, cens_times)] = cens_counts
    if events.sum() == 0:
        surv = np.ones(times.size)
        low = high = np.ones(times.size)
    else:
        data = stats.CensoredData.right_censored(d, c)
        sf = stats.ecdf(data).sf
        surv = sf.evaluate(times)
        with warnings.catch_warnings():
            # scipy warns where the log-log interval is undefined (S = 1 or S = 0); handled below.
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = sf.confidence_interval(confidence_level, method=ci_method)
            low = ci.low.evaluate(times)
            high = ci.high.evaluate(times)
        # Undefined where S = 1 (before the first event) or S = 0: the interval collapses onto
        # the estimate there, as in lifelines and R's survfit.
        low = np.where(np.isnan(low), surv, low)
        high = np.where(np.isnan(high), surv, high)
    curve = pd.DataFrame({"time": times, "survival": surv, "ci_low": low, "ci_high": high,
                          "at_risk": at_risk, "events": events, "censored": n_cens})
    if times[0] > 0:
        head = pd.DataFrame({"time": [0.0], "survival": [1.0], "ci_low": [1.0], "ci_high": [1.0],
                             "at_risk": [d.size], "events": [0], "censored": [0]})
        curve = pd.concat([head, curve], ignore_index=True)
    return KaplanMeierResult(
        curve=curve, n=int(d.size), n_events=int((~c).sum()),
        median=_first_at_or_below(curve["time"], curve["survival"]),
        median_ci=ConfidenceInterval(_first_at_or_below(curve["time"], curve["ci_low"]),
                                     _first_at_or_below(curve["time"], curve["ci_high"])),
        confidence_level=confidence_level)


def _first_at_or_below(times: pd.Series, values: pd.Series, level: float = 0.5) -> float | None:
    hit = np.nonzero(values.to_numpy() <= level + 1e-12)[0]
    return float(times.iloc[hit[0]]) if hit.size else None


def logrank_test(durations: object, censored: object, groups: object) -> LogRankResult:
    """Log-rank test of equal survival across two or more groups.

    Parameters
    ----------
    durations, censored : array-like
        As for :func:`kaplan_meier`.
    groups : array-like
        Group label of each subject (at least two distinct labels).

    Returns
    -------
    LogRankResult
        ``chi2`` (= Z**2 for two groups), ``df`` = groups - 1, ``pvalue``.

    Examples
    --------
    >>> res = logrank_test([3, 5, 5, 8, 12, 15, 6, 10, 20, 20, 1, 2, 2, 4, 5, 3, 6, 7],
    ...                    [False] * 6 + [True] * 4 + [False] * 5 + [True] * 3,
    ...                    ["a"] * 10 + ["b"] * 8)
    >>> round(res.chi2, 4), round(res.pvalue, 4)
    (3.4326, 0.0639)
    """
    d, c = _validate(durations, censored)
    g = pd.Series(np.asarray(groups, dtype=object)).astype(str).to_numpy()
    if g.shape != d.shape:
        raise ValueError("groups must have one label per subject")
    labels = np.unique(g)
    if labels.size < 2:
        raise InsufficientDataError("the log-rank test needs at least two groups")
    times = np.unique(d[~c])
    k = labels.size
    # n_j[t, g]: at risk in group g at event time t; d_j[t, g]: events (vectorised over subjects).
    n_j = np.empty((times.size, k))
    d_j = np.empty((times.size, k))
    for j, lab in enumerate(labels):
        dg, cg = d[g == lab], c[g == lab]
        n_j[:, j] = dg.size - np.searchsorted(np.sort(dg), times, side="left")
        ev_t, ev_n = np.unique(dg[~cg], return_counts=True)
        col = np.zeros(times.size)
        col[np.searchsorted(times, ev_t)] = ev_n
        d_j[:, j] = col
    n = n_j.sum(axis=1)
    ev = d_j.sum(axis=1)
    obs = d_j.sum(axis=0)
    exp = (ev[:, None] * n_j / n[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n > 1, ev * (n - ev) / (n * n * (n - 1)), 0.0)
    var = (np.einsum("t,tg->g", f * n, n_j)[:, None] * np.eye(k)
           - np.einsum("t,tg,th->gh", f, n_j, n_j))
    diff = (obs - exp)[:-1]
    v = var[:-1, :-1]
    chi2 = float(diff @ np.linalg.pinv(v) @ diff) if k > 1 else 0.0
    z = None
    if k == 2:
        res = stats.logrank(stats.CensoredData.right_censored(d[g == labels[0]], c[g == labels[0]]),
                            stats.CensoredData.right_censored(d[g == labels[1]], c[g == labels[1]]))
        z = float(res.statistic)
        chi2 = z * z
    table = pd.DataFrame({"group": labels, "n": [(g == lab).sum() for lab in labels],
                          "observed": obs, "expected": exp})
    return LogRankResult(chi2=chi2, df=k - 1, pvalue=float(stats.chi2.sf(chi2, k - 1)), z=z,
                         table=table)
