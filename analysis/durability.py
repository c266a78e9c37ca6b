"""Survival summaries of the per-course outcomes: durability, time to response, boosters.

Each endpoint is a (duration, censored) pair of :func:`analysis.outcomes.per_course_outcomes`,
summarised with Kaplan–Meier (:func:`analysis.survival.kaplan_meier`) overall or per group, with a
log-rank test between groups. Durability is summarised over the courses **in response at
endpoint** (the responders counted by the response rate and the funnel), from their first
response; a course that responded early but relapsed before its endpoint is not a responder
there. Time to first booster is a property of the course, not of an
instrument: it is counted once per course.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.exceptions import InsufficientDataError
from analysis.settings import Settings
from analysis.survival import KaplanMeierResult, LogRankResult, kaplan_meier, logrank_test

__all__ = ["ENDPOINTS", "GroupCurve", "SurvivalSummary", "summarize_survival",
           "survival_subjects"]

Endpoint = Literal["durability", "time_to_response", "time_to_booster"]

#: endpoint -> (duration column, censored column, plain-words description)
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "durability": ("durability_days", "durability_censored",
                   "days from first response to confirmed relapse"),
    "time_to_response": ("days_to_response", "response_censored",
                         "days from the first dose to the first response"),
    "time_to_booster": ("days_to_first_booster", "booster_censored",
                        "days from induction end to the first booster"),
}


@dataclass(frozen=True, slots=True)
class GroupCurve:
    """One group's Kaplan–Meier estimate (``group`` is ``"all"`` without a breakdown)."""

    group: str
    km: KaplanMeierResult


@dataclass(frozen=True, slots=True)
class SurvivalSummary:
    """Result of :func:`summarize_survival`.

    ``curves`` holds one :class:`GroupCurve` per group with at least one subject; ``logrank`` is
    ``None`` with fewer than two groups.
    """

    endpoint: str
    instrument: str | None
    by: str | None
    curves: tuple[GroupCurve, ...]
    logrank: LogRankResult | None
    horizons: tuple[int, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``group``, ``n``, ``events``, ``median``, ``median_ci_low``,
        ``median_ci_high`` and ``s_<h>`` / ``s_<h>_low`` / ``s_<h>_high`` at each horizon."""
        rows = []
        for gc in self.curves:
            row: dict[str, object] = {"group": gc.group, "n": gc.km.n, "events": gc.km.n_events,
                                      "median": gc.km.median, "median_ci_low": gc.km.median_ci.low,
                                      "median_ci_high": gc.km.median_ci.high}
            for h in self.horizons:
                est, ci = gc.km.survival_at(h)
                row[f"s_{h}"], row[f"s_{h}_low"], row[f"s_{h}_high"] = est, ci.low, ci.high
            rows.append(row)
        return pd.DataFrame(rows)


def survival_subjects(outcomes: pd.DataFrame, *, endpoint: Endpoint, instrument: str | None,
                      attributes: pd.DataFrame | None = None, by: str | None = None
                      ) -> pd.DataFrame:
    """The courses one Kaplan–Meier curve is made of (the one home of who is in a curve).

    Time to first booster is counted once per course; durability over the courses in response
    at endpoint (the responders of the headline rate: one set for the card, the funnel and the
    curve; ``definitions.md``, denominators); courses with the endpoint undefined are left out.

    Returns
    -------
    DataFrame with ``patient_id``, ``course_id``, ``duration`` (days), ``censored`` (bool) and
    ``group`` (the ``by`` value as text, ``"all"`` without a breakdown).
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}")
    dur_col, cens_col, _ = ENDPOINTS[endpoint]
    o = outcomes
    if endpoint == "time_to_booster":
        o = o.drop_duplicates([S.PATIENT_ID, S.COURSE_ID])
    else:
        if instrument is None:
            raise ValueError(f"{endpoint} needs an instrument")
        o = o[o[S.INSTRUMENT] == instrument]
    if endpoint == "durability":
        o = o[o["endpoint_response"].fillna(False).astype(bool)]
    o = o[o[dur_col].notna() & o[cens_col].notna()]
    if by:
        if attributes is None:
            raise ValueError("attributes are needed for a breakdown")
        o = o.merge(attributes[[S.PATIENT_ID, S.COURSE_ID, by]], on=[S.PATIENT_ID, S.COURSE_ID])
        groups = o[by].astype(str).to_numpy()
    else:
        groups = np.full(len(o), "all", dtype=object)
    return pd.DataFrame({S.PATIENT_ID: o[S.PATIENT_ID].to_numpy(),
                         S.COURSE_ID: o[S.COURSE_ID].to_numpy(),
                         "duration": o[dur_col].to_numpy(dtype=float),
                         "censored": o[cens_col].to_numpy(dtype=bool), "group": groups})


def summarize_survival(outcomes: pd.DataFrame, *, endpoint: Endpoint, instrument: str | None,
                       attributes: pd.DataFrame | None = None, by: str | None = None,
                       settings: Settings | None = None,
                       horizons: Sequence[int] | None = None) -> SurvivalSummary:
    """Kaplan–Meier curves of one endpoint, overall or by group, with a log-rank test.

    Parameters
    ----------
    outcomes : DataFrame
        :func:`analysis.outcomes.per_course_outcomes`.
    endpoint : ``"durability"``, ``"time_to_response"`` or ``"time_to_booster"``, keyword-only
    instrument : str or None, keyword-only
        Instrument whose outcomes to use; ignored (may be None) for ``time_to_booster``.
    attributes, by : breakdown (a column of :func:`analysis.cohort.course_attributes`).
    horizons : days at which ``to_frame`` reports survival; defaults to
        ``settings.survival_horizons_days`` (or ``booster_need_horizons_days`` for boosters).

    Raises
    ------
    InsufficientDataError
        When no course has the endpoint defined.
    """
    settings = settings or Settings()
    subjects = survival_subjects(outcomes, endpoint=endpoint, instrument=instrument,
                                 attributes=attributes, by=by)
    default_h = (settings.booster_need_horizons_days if endpoint == "time_to_booster"
                 else settings.survival_horizons_days)
    if subjects.empty:
        raise InsufficientDataError(f"no course has {endpoint} defined")
    groups = subjects["group"].to_numpy()
    d = subjects["duration"].to_numpy(dtype=float)
    c = subjects["censored"].to_numpy(dtype=bool)
    curves = tuple(GroupCurve(str(g), kaplan_meier(d[groups == g], c[groups == g],
                                                   confidence_level=settings.confidence_level))
                   for g in sorted(set(groups)))
    lr = logrank_test(d, c, groups) if len(curves) > 1 and (~c).any() else None
    return SurvivalSummary(endpoint=endpoint, instrument=instrument, by=by, curves=curves,
                           logrank=lr, horizons=tuple(horizons or default_h))
