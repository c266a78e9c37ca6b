"""Per-course outcomes: one row per (patient, course, instrument) (``definitions.md``).

All outcomes are computed from the *usable* assessments of :func:`analysis.alignment.align`
(scored, not superseded), in vectorised group operations: no per-patient Python loop.

Definitions (defaults in :class:`analysis.settings.Settings`):

* **Rapid response**: a response at any assessment with ``0 < day <= rapid_window_days`` before any
  booster; ``<NA>`` (unknown, not false) without such an assessment or without a baseline.
  **Early change**: ``pct_change`` at the last of those assessments.
* **Time to response**: the first response day (after day 0, before the first booster); otherwise
  right-censored at the last assessment before the first booster. Undefined (null) without a
  baseline or without any post-dose assessment.
* **Endpoint**: the last assessment with ``induction_end_day <= day <= induction_end_day +
  endpoint_window_days``, after the first dose and before any booster. Endpoint response, remission,
  reliable improvement / deterioration (``|change| >= reliable_change_points``, Jacobson & Truax
  1991) and clinically significant improvement (reliable improvement, baseline at or above
  caseness, endpoint below it: J&T criterion c / NHS Talking Therapies "reliable recovery").
  Remission needs no baseline; every change-based outcome does.
* **Durability**: from the first response to relapse, the first of ``relapse_confirmations``
  consecutive assessments no longer in response, all before the first booster. Without relapse it
  is censored at the last assessment before the first booster — or at the booster itself when the
  patient was still in response at their last assessment before it (the booster, not the drug, may
  be sustaining the response).
* **Boosters**: ``booster_count`` (all boosters of the course); time to first booster from
  induction end, censored at the course's last contact (session or assessment).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.alignment import Alignment

__all__ = ["per_course_outcomes", "completeness", "COMPLETENESS_REASONS"]

_KEY = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]

#: Why an outcome is missing, in the order they are checked.
COMPLETENESS_REASONS = {
    "ok": "outcome available",
    "no_assessments": "the instrument was never given during this course",
    "no_baseline": "no score in the baseline window (30 days before the first dose)",
    "no_rapid_assessment": "no score within the rapid-response window after the first dose",
    "booster_before_endpoint": "a booster came before any endpoint score",
    "lost_to_follow_up": "no score after induction ended",
    "no_endpoint_assessment": "scored after induction, but not within the endpoint window",
}


def _universe(alignment: Alignment) -> pd.DataFrame:
    """(patient, course, instrument) for every course and every instrument the patient was given."""
    a = alignment.assessments
    used = a[[S.PATIENT_ID, S.INSTRUMENT]].drop_duplicates()
    grid = alignment.courses.merge(used, on=S.PATIENT_ID, how="inner")
    return grid


def _last_by(frame: pd.DataFrame, cols: dict[str, str]) -> pd.DataFrame:
    """Last row (by day) of each (patient, course, instrument) group, renamed."""
    last = frame.sort_values(S.DAY, kind="stable").drop_duplicates(_KEY, keep="last")
    return last[_KEY + list(cols)].rename(columns=cols)


def per_course_outcomes(alignment: Alignment) -> pd.DataFrame:
    """The per-course outcome fields of ``data-formats.md`` § Outputs.

    Parameters
    ----------
    alignment : Alignment
        The output of :func:`analysis.alignment.align`.

    Returns
    -------
    DataFrame with exactly :data:`analysis.schemas.OUTCOME_FIELDS` as columns, one row per
    (patient, course, instrument) for every course of a patient and every instrument that
    patient was given. Booleans are nullable (``<NA>`` = undefined); ``*_day`` fields are days
    since day 0; ``durability_days`` and ``days_to_first_booster`` are durations.

    Examples
    --------
    >>> from analysis.alignment import align
    >>> a = pd.DataFrame({"patient_id": "p", "instrument": "PHQ9",
    ...     "administered_at": ["2025-01-01", "2025-01-03", "2025-01-10", "2025-01-17",
    ...                         "2025-01-24"], "total": [20.0, 8, 9, 14, 15]})
    >>> s = pd.DataFrame({"patient_id": "p", "kind": "dosing",
    ...     "session_at": ["2025-01-01 10:00", "2025-01-08 10:00"]})
    >>> row = per_course_outcomes(align(a, s)).iloc[0]
    >>> [float(row[c]) for c in ("first_response_day", "relapse_day", "durability_days",
    ...                          "endpoint_day", "endpoint_total")]
    [2.0, 16.0, 14.0, 16.0, 14.0]
    """
    settings = alignment.settings
    a = alignment.assessments
    a = a[a["usable"]]
    grid = _universe(alignment)
    a = a.merge(grid[[S.PATIENT_ID, S.COURSE_ID, "induction_end_day", "first_booster_day"]]
                .drop_duplicates([S.PATIENT_ID, S.COURSE_ID]),
                on=[S.PATIENT_ID, S.COURSE_ID], how="inner")
    pre_booster_post = a[(a[S.DAY] > 0) & (a["booster_number"] == 0)]
    has_base = pre_booster_post[S.BASELINE_TOTAL].notna()
    post = pre_booster_post[has_base]

    out = grid[[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "first_dose_at", "induction_doses",
                "induction_end_day", "booster_count", "first_booster_day", "last_contact_day"]]
    baseline = a.drop_duplicates(_KEY)[_KEY + [S.BASELINE_TOTAL, S.BASELINE_DAY]]
    out = out.merge(baseline, on=_KEY, how="left")

    # rapid onset
    rapid = post[post[S.DAY] <= settings.rapid_window_days]
    r_any = rapid.groupby(_KEY, sort=False)[S.IS_RESPONSE].any().rename("rapid_response")
    r_last = _last_by(rapid, {S.PCT_CHANGE: "early_pct_change"})
    out = out.merge(r_any.reset_index(), on=_KEY, how="left").merge(r_last, on=_KEY, how="left")

    # time to response
    first_resp = (post[post[S.IS_RESPONSE].fillna(False).astype(bool)].groupby(_KEY, sort=False)
                  [S.DAY].min().rename("first_response_day"))
    last_post = post.groupby(_KEY, sort=False)[S.DAY].max().rename("_last_post_day")
    out = out.merge(first_resp.reset_index(), on=_KEY, how="left")
    out = out.merge(last_post.reset_index(), on=_KEY, how="left")
    responded = out["first_response_day"].notna()
    out["days_to_response"] = out["first_response_day"].fillna(out["_last_post_day"])
    out["response_censored"] = pd.array(~responded, dtype="boolean")
    out.loc[out["days_to_response"].isna(), "response_censored"] = pd.NA

    # endpoint (usable scores after the first dose, before any booster, in the window)
    ep_rows = pre_booster_post[
        (pre_booster_post[S.DAY] >= pre_booster_post["induction_end_day"])
        & (pre_booster_post[S.DAY] <= pre_booster_post["induction_end_day"]
           + settings.endpoint_window_days)]
    ep = _last_by(ep_rows, {S.TOTAL: "endpoint_total", S.DAY: "endpoint_day",
                            S.PCT_CHANGE: "endpoint_pct_change", S.CHANGE: "_ep_change",
                            S.IS_RESPONSE: "endpoint_response",
                            S.IS_REMISSION: "endpoint_remission"})
    out = out.merge(ep, on=_KEY, how="left")
    for col in ("rapid_response", "endpoint_response", "endpoint_remission"):
        out[col] = out[col].astype("boolean")
    rc = out[S.INSTRUMENT].map(dict(settings.reliable_change_points)).to_numpy(dtype=float)
    case = out[S.INSTRUMENT].map(dict(settings.caseness_at)).to_numpy(dtype=float)
    change = out["_ep_change"].to_numpy(dtype=float)
    defined = ~np.isnan(change)
    improved = change <= -rc
    out["reliable_improvement"] = _nullable(improved, defined)
    out["reliable_deterioration"] = _nullable(change >= rc, defined)
    csi = (improved & (out[S.BASELINE_TOTAL].to_numpy(dtype=float) >= case)
           & (out["endpoint_total"].to_numpy(dtype=float) < case))
    out["clinically_significant_improvement"] = _nullable(csi, defined)

    # durability
    out = _durability(out, post, settings.relapse_confirmations)

    # boosters
    has_booster = out["first_booster_day"].notna()
    ind_end = out["induction_end_day"]
    out["days_to_first_booster"] = np.where(
        has_booster, out["first_booster_day"] - ind_end,
        np.maximum(out["last_contact_day"] - ind_end, 0.0))
    out["booster_censored"] = pd.array(~has_booster.to_numpy(), dtype="boolean")

    out = out.sort_values([S.PATIENT_ID, "first_dose_at", S.INSTRUMENT], kind="stable")
    return out[list(S.OUTCOME_FIELDS)].reset_index(drop=True)


def _nullable(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    arr = pd.array(values.astype(bool), dtype="boolean")
    arr[~defined] = pd.NA
    return arr


def _durability(out: pd.DataFrame, post: pd.DataFrame, k: int) -> pd.DataFrame:
    """Relapse day and durability (see the module notes); vectorised run-length detection."""
    r = post.merge(out[_KEY + ["first_response_day"]], on=_KEY, how="inner")
    r = r[r[S.DAY] >= r["first_response_day"]]
    r = r.sort_values(_KEY + [S.DAY], kind="stable")
    group = r.groupby(_KEY, sort=False).ngroup().to_numpy()
    nonresp = ~r[S.IS_RESPONSE].fillna(False).to_numpy(dtype=bool)
    start = np.r_[True, (group[1:] != group[:-1]) | (nonresp[1:] != nonresp[:-1])][:len(r)]
    run = np.cumsum(start)
    run_len = pd.Series(run).groupby(run).cumcount().to_numpy() + 1
    run_first_day = r[S.DAY].groupby(run).transform("first").to_numpy()
    event = nonresp & (run_len == k)
    ev = r.loc[event, _KEY].assign(relapse_day=run_first_day[event])
    ev = ev.drop_duplicates(_KEY, keep="first")
    last_resp = r.drop_duplicates(_KEY, keep="last")[_KEY + [S.IS_RESPONSE]].rename(
        columns={S.IS_RESPONSE: "_last_is_response"})
    out = out.merge(ev, on=_KEY, how="left").merge(last_resp, on=_KEY, how="left")
    responded = out["first_response_day"].notna()
    relapsed = out["relapse_day"].notna()
    booster_in_response = (out["first_booster_day"].notna()
                           & out["_last_is_response"].fillna(False).astype(bool))
    # An untimed score on a booster's date counts as before it but carries the whole calendar
    # day, which can exceed a timed booster's fractional day: censor at the later of the two.
    censor_day = np.where(booster_in_response,
                          np.fmax(out["first_booster_day"], out["_last_post_day"]),
                          out["_last_post_day"])
    end = np.where(relapsed, out["relapse_day"], censor_day)
    out["durability_days"] = np.where(responded, end - out["first_response_day"], np.nan)
    out["durability_censored"] = _nullable(~relapsed.to_numpy(), responded.to_numpy())
    return out


def completeness(alignment: Alignment, outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Why each course's outcomes are missing: attrition is part of the result.

    Parameters
    ----------
    alignment : Alignment
    outcomes : DataFrame, optional
        :func:`per_course_outcomes` of the same alignment (computed when omitted).

    Returns
    -------
    DataFrame, one row per (patient, course, instrument) like the outcomes, plus one row with
    instrument ``<NA>`` for each course of a patient never assessed at all, with
    ``n_assessments`` (assigned to the course), ``n_usable``, ``n_unscored`` (no total: missing
    items), ``n_superseded`` (same-day repeats), ``completed_induction`` (at least
    ``min_induction_doses_completed`` induction doses), ``baseline_status``, ``rapid_status``,
    ``endpoint_status`` (each a key of :data:`COMPLETENESS_REASONS`).
    """
    settings = alignment.settings
    if outcomes is None:
        outcomes = per_course_outcomes(alignment)
    a = alignment.assessments[alignment.assessments[S.COURSE_ID].notna()]
    counts = a.assign(_unscored=a[S.TOTAL].isna()).groupby(_KEY, sort=False).agg(
        n_assessments=(S.TOTAL, "size"), n_usable=("usable", "sum"),
        n_unscored=("_unscored", "sum"),
        n_superseded=(S.SUPERSEDED, "sum")).reset_index()
    usable = a[a["usable"]]
    post = usable[(usable[S.DAY] > 0) & (usable["booster_number"] == 0)]
    post = post.merge(alignment.courses[[S.PATIENT_ID, S.COURSE_ID, "induction_end_day"]],
                      on=[S.PATIENT_ID, S.COURSE_ID], how="left")
    after_ind = post[post[S.DAY] >= post["induction_end_day"]]
    any_after = after_ind.groupby(_KEY, sort=False).size().rename("_n_after").reset_index()
    any_later = (usable[usable[S.DAY] > 0].merge(
        alignment.courses[[S.PATIENT_ID, S.COURSE_ID, "induction_end_day"]],
        on=[S.PATIENT_ID, S.COURSE_ID]).query("day >= induction_end_day")
        .groupby(_KEY, sort=False).size().rename("_n_later").reset_index())
    out = outcomes[_KEY + ["induction_doses", "baseline_total", "rapid_response",
                           "endpoint_total", "booster_count"]]
    out = (out.merge(counts, on=_KEY, how="left").merge(any_after, on=_KEY, how="left")
           .merge(any_later, on=_KEY, how="left"))
    for col in ("n_assessments", "n_usable", "n_unscored", "n_superseded", "_n_after", "_n_later"):
        out[col] = out[col].fillna(0).astype(int)
    out["completed_induction"] = out["induction_doses"] >= settings.min_induction_doses_completed
    none = out["n_usable"] == 0
    no_base = out["baseline_total"].isna()
    out["baseline_status"] = np.select([none, no_base], ["no_assessments", "no_baseline"], "ok")
    out["rapid_status"] = np.select(
        [none, no_base, out["rapid_response"].isna()],
        ["no_assessments", "no_baseline", "no_rapid_assessment"], "ok")
    has_ep = out["endpoint_total"].notna()
    out["endpoint_status"] = np.select(
        [none, has_ep & no_base, has_ep, out["_n_later"] == 0,
         (out["booster_count"] > 0) & (out["_n_after"] == 0)],
        ["no_assessments", "no_baseline", "ok", "lost_to_follow_up", "booster_before_endpoint"],
        "no_endpoint_assessment")
    out = out.drop(columns=["_n_after", "_n_later", "baseline_total", "rapid_response",
                            "endpoint_total"])
    # courses of patients never assessed at all: one row each, instrument unknown
    silent = alignment.courses[~alignment.courses[S.PATIENT_ID].isin(out[S.PATIENT_ID])]
    if len(silent):
        extra = silent[[S.PATIENT_ID, S.COURSE_ID, "induction_doses", "booster_count"]].assign(
            instrument=pd.NA, n_assessments=0, n_usable=0, n_unscored=0, n_superseded=0,
            completed_induction=silent["induction_doses"] >= settings.min_induction_doses_completed,
            baseline_status="no_assessments", rapid_status="no_assessments",
            endpoint_status="no_assessments")
        out = pd.concat([out, extra[out.columns]], ignore_index=True)
    return out
