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
  Every endpoint outcome needs a baseline. **Remission and clinically significant improvement
  are defined only for courses whose baseline is at or above the instrument's caseness
  cut-off** (``definitions.md``, denominators): a course that starts below it cannot "remit",
  and counting it made PCL-5 remission exceed response. Response needs a baseline above 0.
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
from analysis._validation import category_codes
from analysis.alignment import Alignment

__all__ = ["per_course_outcomes", "completeness", "COMPLETENESS_REASONS"]

_KEY = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]
_CODES = ("PHQ9", "GAD7", "PCL5")

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


def _starts(g: np.ndarray) -> np.ndarray:
    """True at the first element of each run of equal values (empty input gives empty output)."""
    m = np.ones(g.size, dtype=bool)
    m[1:] = g[1:] != g[:-1]
    return m


def _ends(g: np.ndarray) -> np.ndarray:
    """True at the last element of each run of equal values."""
    m = np.ones(g.size, dtype=bool)
    m[:-1] = g[1:] != g[:-1]
    return m


def _instrument_codes(values: pd.Series) -> np.ndarray:
    """0, 1, 2 for PHQ9, GAD7, PCL5 (-1 for anything else), as int64."""
    return category_codes(values, list(_CODES))


class _Rows:
    """The usable assessments as flat arrays keyed by ``group = course_index * 3 + instrument``."""

    def __init__(self, alignment: Alignment):
        a = alignment.assessments
        usable = a["usable"].to_numpy(dtype=bool)
        self.n_groups = len(alignment.courses) * 3
        ic = _instrument_codes(a[S.INSTRUMENT])
        cidx = a["course_index"].to_numpy(dtype="float64", na_value=np.nan)
        sel = np.nonzero(usable)[0]
        self.group = (cidx[sel].astype(np.int64) * 3 + ic[sel])
        self.day = a[S.DAY].to_numpy(dtype=float)[sel]
        self.total = a[S.TOTAL].to_numpy(dtype=float)[sel]
        self.change = a[S.CHANGE].to_numpy(dtype=float)[sel]
        self.pct = a[S.PCT_CHANGE].to_numpy(dtype=float)[sel]
        self.base = a[S.BASELINE_TOTAL].to_numpy(dtype=float)[sel]
        self.base_day = a[S.BASELINE_DAY].to_numpy(dtype=float)[sel]
        self.resp = a[S.IS_RESPONSE].to_numpy(dtype="float64", na_value=np.nan)[sel]
        self.rem = a[S.IS_REMISSION].to_numpy(dtype="float64", na_value=np.nan)[sel]
        self.boosters = a[S.BOOSTER_NUMBER].to_numpy(dtype="float64", na_value=np.nan)[sel]
        # sorted by (group, day) once; every "last" / "first" below relies on it
        order = np.lexsort((self.day, self.group))
        for name in ("group", "day", "total", "change", "pct", "base", "base_day", "resp",
                     "rem", "boosters"):
            setattr(self, name, getattr(self, name)[order])

    def _at(self, mask: np.ndarray, values: np.ndarray, edge) -> np.ndarray:
        out = np.full(self.n_groups, np.nan)
        idx = np.nonzero(mask)[0]
        if idx.size:
            g = self.group[idx]
            keep = edge(g)
            out[g[keep]] = values[idx[keep]]
        return out

    def last(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per group, the value at the last (latest-day) selected row; NaN where none."""
        return self._at(mask, values, _ends)

    def first(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per group, the value at the first (earliest-day) selected row; NaN where none."""
        return self._at(mask, values, _starts)

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.group[mask], minlength=self.n_groups)


def _grid(alignment: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """(course_index, instrument code) for every course and every instrument its patient had."""
    a = alignment.assessments
    used = pd.DataFrame({S.PATIENT_ID: a[S.PATIENT_ID].to_numpy(),
                         "_ic": _instrument_codes(a[S.INSTRUMENT])})
    used = used.drop_duplicates()
    c = alignment.courses[["course_index", S.PATIENT_ID]]
    grid = c.merge(used, on=S.PATIENT_ID, how="inner")
    grid = grid.sort_values(["course_index", "_ic"], kind="stable")
    return grid["course_index"].to_numpy(dtype=np.int64), grid["_ic"].to_numpy(dtype=np.int64)


def _nullable(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.where(defined, values, False).astype(bool), ~defined)


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
    patient was given, ordered by patient, course start and instrument. Booleans are nullable
    (``<NA>`` = undefined); ``*_day`` fields are days since day 0; ``durability_days`` and
    ``days_to_first_booster`` are durations in days.

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
    courses = alignment.courses
    r = _Rows(alignment)
    ci_of_row = r.group // 3
    ind_end_c = courses["induction_end_day"].to_numpy(dtype=float)
    booster_c = courses["first_booster_day"].to_numpy(dtype=float)
    ind_end = ind_end_c[ci_of_row]

    pre_booster_post = (r.day > 0) & (r.boosters == 0)
    post = pre_booster_post & ~np.isnan(r.base)
    is_resp = r.resp == 1

    base_total = r.last(~np.isnan(r.base), r.base)
    base_day = r.last(~np.isnan(r.base), r.base_day)

    rapid = post & (r.day <= settings.rapid_window_days)
    n_rapid = r.count(rapid)
    rapid_any = r.count(rapid & is_resp) > 0
    early = r.last(rapid, r.pct)

    first_resp = r.first(post & is_resp, r.day)
    last_post = r.last(post, r.day)
    last_post_resp = r.last(post, r.resp)

    ep = pre_booster_post & (r.day >= ind_end) & (r.day <= ind_end + settings.endpoint_window_days)
    ep_total, ep_day, ep_pct = r.last(ep, r.total), r.last(ep, r.day), r.last(ep, r.pct)
    ep_change, ep_resp, ep_rem = r.last(ep, r.change), r.last(ep, r.resp), r.last(ep, r.rem)

    relapse = _relapse_days(r, post, is_resp, first_resp, settings.relapse_confirmations)

    gi, gc = _grid(alignment)
    g = gi * 3 + gc
    codes = np.array(_CODES, dtype=object)[gc]
    rc = np.array([dict(settings.reliable_change_points)[c] for c in _CODES])[gc]
    case = np.array([dict(settings.caseness_at)[c] for c in _CODES])[gc]

    responded = ~np.isnan(first_resp[g])
    relapsed = ~np.isnan(relapse[g])
    fb = booster_c[gi]
    in_resp_at_booster = ~np.isnan(fb) & (last_post_resp[g] == 1)
    # An untimed score on a booster's date counts as before it but carries the whole calendar
    # day, which can exceed a timed booster's fractional day: censor at the later of the two.
    censor = np.where(in_resp_at_booster, np.fmax(fb, last_post[g]), last_post[g])
    end = np.where(relapsed, relapse[g], censor)
    change = ep_change[g]
    defined = ~np.isnan(change)
    cases = base_total[g] >= case  # False where no baseline (NaN)
    improved = change <= -rc
    has_booster = ~np.isnan(fb)
    ind_end_g = ind_end_c[gi]
    last_contact = courses["last_contact_day"].to_numpy(dtype=float)[gi]
    days_to_response = np.where(responded, first_resp[g], last_post[g])

    out = pd.DataFrame({
        S.PATIENT_ID: courses[S.PATIENT_ID].to_numpy()[gi],
        S.COURSE_ID: courses[S.COURSE_ID].to_numpy()[gi],
        S.INSTRUMENT: codes,
        "baseline_total": base_total[g],
        "baseline_day": base_day[g],
        "first_dose_at": courses["first_dose_at"].to_numpy()[gi],
        "induction_doses": courses["induction_doses"].to_numpy()[gi],
        "induction_end_day": ind_end_g,
        "rapid_response": _nullable(rapid_any[g], n_rapid[g] > 0),
        "early_pct_change": early[g],
        "days_to_response": days_to_response,
        "response_censored": _nullable(~responded, ~np.isnan(days_to_response)),
        "endpoint_total": ep_total[g],
        "endpoint_day": ep_day[g],
        "endpoint_pct_change": ep_pct[g],
        "endpoint_response": _nullable(ep_resp[g] == 1, ~np.isnan(ep_resp[g])),
        "endpoint_remission": _nullable(ep_rem[g] == 1, ~np.isnan(ep_rem[g]) & cases),
        "reliable_improvement": _nullable(improved, defined),
        "reliable_deterioration": _nullable(change >= rc, defined),
        "clinically_significant_improvement": _nullable(
            improved & (ep_total[g] < case), defined & cases),
        "first_response_day": first_resp[g],
        "relapse_day": relapse[g],
        "durability_days": np.where(responded, end - first_resp[g], np.nan),
        "durability_censored": _nullable(~relapsed, responded),
        "booster_count": courses["booster_count"].to_numpy()[gi],
        "days_to_first_booster": np.where(has_booster, fb - ind_end_g,
                                          np.maximum(last_contact - ind_end_g, 0.0)),
        "booster_censored": _nullable(~has_booster, np.ones(len(g), dtype=bool)),
    })
    out = out.sort_values([S.PATIENT_ID, "first_dose_at", S.INSTRUMENT], kind="stable")
    # the settings travel with the Alignment (one carrier), never in ``DataFrame.attrs``:
    # pandas deep-copies attrs on every operation and a copy can go stale
    return out[list(S.OUTCOME_FIELDS)].reset_index(drop=True)


def _relapse_days(r: _Rows, post: np.ndarray, is_resp: np.ndarray, first_resp: np.ndarray,
                  k: int) -> np.ndarray:
    """Day of the first of ``k`` consecutive non-responses after the first response, per group."""
    fr = first_resp[r.group]
    sel = np.nonzero(post & (r.day >= np.nan_to_num(fr, nan=np.inf)))[0]
    out = np.full(r.n_groups, np.nan)
    if sel.size == 0:
        return out
    group = r.group[sel]
    nonresp = ~is_resp[sel]
    day = r.day[sel]
    start = _starts(group) | _starts(nonresp)
    run = np.cumsum(start) - 1
    run_start = np.nonzero(start)[0]
    run_len = np.arange(sel.size) - run_start[run] + 1
    event = nonresp & (run_len == k)
    ev_groups = group[event]
    ev_days = day[run_start[run[event]]]
    first_ev = _starts(ev_groups)
    out[ev_groups[first_ev]] = ev_days[first_ev]
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
    courses = alignment.courses
    n_groups = len(courses) * 3
    a = alignment.assessments
    assigned = a["course_index"].notna().to_numpy()
    ic_all = _instrument_codes(a[S.INSTRUMENT])
    g_all = (a["course_index"].to_numpy(dtype="float64", na_value=0).astype(np.int64) * 3
             + ic_all)[assigned]
    n_assess = np.bincount(g_all, minlength=n_groups)
    n_unscored = np.bincount(g_all[a[S.TOTAL].isna().to_numpy()[assigned]], minlength=n_groups)
    n_superseded = np.bincount(g_all[a[S.SUPERSEDED].to_numpy(dtype=bool)[assigned]],
                               minlength=n_groups)
    r = _Rows(alignment)
    ind_end = courses["induction_end_day"].to_numpy(dtype=float)[r.group // 3]
    later = (r.day > 0) & (r.day >= ind_end)
    n_usable = r.count(np.ones(r.group.size, dtype=bool))
    n_later = r.count(later)
    n_after = r.count(later & (r.boosters == 0))

    key = courses.set_index([S.PATIENT_ID, S.COURSE_ID])["course_index"]
    ci = key.reindex(pd.MultiIndex.from_arrays([outcomes[S.PATIENT_ID],
                                                outcomes[S.COURSE_ID]])).to_numpy()
    ic = _instrument_codes(outcomes[S.INSTRUMENT])
    g = ci.astype(np.int64) * 3 + ic
    out = outcomes[_KEY + ["induction_doses", "booster_count"]].copy()
    out["n_assessments"] = n_assess[g]
    out["n_usable"] = n_usable[g]
    out["n_unscored"] = n_unscored[g]
    out["n_superseded"] = n_superseded[g]
    out["completed_induction"] = out["induction_doses"] >= settings.min_induction_doses_completed
    none = n_usable[g] == 0
    no_base = outcomes["baseline_total"].isna().to_numpy()
    has_ep = outcomes["endpoint_total"].notna().to_numpy()
    out["baseline_status"] = np.select([none, no_base], ["no_assessments", "no_baseline"], "ok")
    out["rapid_status"] = np.select(
        [none, no_base, outcomes["rapid_response"].isna().to_numpy()],
        ["no_assessments", "no_baseline", "no_rapid_assessment"], "ok")
    out["endpoint_status"] = np.select(
        [none, has_ep & no_base, has_ep, n_later[g] == 0,
         (out["booster_count"].to_numpy() > 0) & (n_after[g] == 0)],
        ["no_assessments", "no_baseline", "ok", "lost_to_follow_up", "booster_before_endpoint"],
        "no_endpoint_assessment")
    # courses of patients never assessed at all: one row each, instrument unknown
    silent = courses[category_codes(courses[S.PATIENT_ID], out[S.PATIENT_ID].unique()) < 0]
    if len(silent):
        extra = silent[[S.PATIENT_ID, S.COURSE_ID, "induction_doses", "booster_count"]].assign(
            instrument=pd.NA, n_assessments=0, n_usable=0, n_unscored=0, n_superseded=0,
            completed_induction=silent["induction_doses"] >= settings.min_induction_doses_completed,
            baseline_status="no_assessments", rapid_status="no_assessments",
            endpoint_status="no_assessments")
        out = pd.concat([out, extra[out.columns]], ignore_index=True)
    return out.reset_index(drop=True)
