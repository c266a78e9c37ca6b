"""Lining assessments up against treatment courses (``definitions.md`` §Courses, §Lining up).

The rules, with the readings this package takes where the spec is silent:

* **Dosing sessions** are sessions of kind ``dosing`` or ``booster``. Day 0 of a course is its first
  dosing session.
* **Courses.** When every dosing session of a patient carries a ``course_id``, those are the
  courses. Otherwise (any missing) the patient's courses are inferred: a ``dosing`` session more
  than ``new_course_gap_days`` after the previous dosing session starts a new course. *Reading:* a
  session imported as ``booster`` never opens a new course (unless it is the patient's first
  dosing session) — the clinic has told us it boosts an earlier course, however late it comes.
* **Induction** is the first dosing session and each following ``dosing`` session within
  ``induction_gap_days`` of the one before it, up to ``max_induction_doses``. The chain stops at the
  first larger gap or at the first session imported as ``booster``. Every later dosing session is
  a booster. *Reading:* a course's first session is always its first induction dose, even when it
  was imported as ``booster`` (day 0 must be a dose).
* **Windows.** A course's window opens ``baseline_window_days`` before day 0 (at midnight) and
  closes when the next course's window opens. An assessment or a non-dosing session belongs to the
  window holding it; earlier ones are unassigned with ``unassigned_reason="before_first_course"``,
  and those of patients with no dosing session get ``"no_dosing_sessions"``. Nothing is dropped.
* **Days.** ``day`` is fractional ``(t - t0) / 1 day`` when both times carry a time of day, and the
  calendar-day difference otherwise, so an untimed assessment on a dosing day counts as *before*
  that dose. A time of exactly midnight means "no time". The same rule orders assessments and
  doses for ``dose_number`` (dosing sessions of the course before the assessment) and
  ``booster_number`` (boosters before it).
* **Same-day repeats.** Two scored assessments of one instrument in one course on the same
  calendar day with the same ``dose_number`` and ``booster_number`` are repeats: the later one
  (by time, then by input order) counts; the others stay in the frame with ``superseded=True``.
  Assessments with no total (too many missing items) stay too, with ``usable=False``.
* **Baseline** of (course, instrument): the latest usable assessment with ``day <= 0`` in the
  window. ``change = total - baseline``; ``pct_change = change / baseline`` (undefined for a
  baseline of 0); ``is_response`` when ``pct_change <= -response_reduction``; ``is_remission``
  when the total is below the instrument's remission cut-off.
* **Phase**: ``maintenance`` from the first booster on, else ``baseline`` (day <= 0),
  ``induction`` (0 < day <= induction end), ``follow_up`` (after induction end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis._validation import as_naive_timestamps, require_columns
from analysis.exceptions import AnalysisError
from analysis.settings import Settings

__all__ = ["Alignment", "align", "COURSE_COLUMNS"]

_DAY_NS = 86_400 * 10**9

#: Columns of :attr:`Alignment.courses`.
COURSE_COLUMNS = (
    S.PATIENT_ID, S.COURSE_ID, S.COURSE_NUMBER, "course_id_inferred", "first_dose_at",
    "induction_doses", "induction_end_at", "induction_end_day", "booster_count",
    "first_booster_day", "last_contact_day", S.ROUTE, S.CLINICIAN_ID,
)


@dataclass(frozen=True, slots=True)
class Alignment:
    """Result of :func:`align`.

    Attributes
    ----------
    courses : DataFrame
        One row per (patient, course): ``COURSE_COLUMNS``. ``route`` and ``clinician_id`` are
        those of the first dose; ``*_day`` are days since day 0; ``first_booster_day`` is NaN
        without a booster; ``last_contact_day`` is the latest session or assessment of the course.
    sessions : DataFrame
        Every input session with ``course_id``, ``day``, ``is_dose``, ``is_induction``,
        ``is_booster``, ``dose_index`` (1-based among the course's doses) and
        ``unassigned_reason``.
    assessments : DataFrame
        Every input assessment with ``course_id``, ``course_number``, ``day``, ``phase``,
        ``dose_number``, ``booster_number``, ``superseded``, ``usable``, ``baseline_total``,
        ``baseline_day``, ``change``, ``pct_change``, ``is_response``, ``is_remission`` and
        ``unassigned_reason``.
    settings : Settings
        The settings used.
    """

    courses: pd.DataFrame
    sessions: pd.DataFrame
    assessments: pd.DataFrame
    settings: Settings


def _ns(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[ns]").view("i8")


def _has_time(ns: np.ndarray) -> np.ndarray:
    return ns % _DAY_NS != 0


def _days_between(t_ns: np.ndarray, t0_ns: np.ndarray) -> np.ndarray:
    """Days from t0 to t: exact when both carry a time of day, calendar days otherwise."""
    exact = (t_ns - t0_ns) / _DAY_NS
    calendar = (t_ns // _DAY_NS - t0_ns // _DAY_NS).astype(float)
    return np.where(_has_time(t_ns) & _has_time(t0_ns), exact, calendar)


def _order_key_of_session(ns: np.ndarray) -> np.ndarray:
    """An untimed session is placed at the end of its day, after untimed assessments."""
    return np.where(_has_time(ns), ns, ns + _DAY_NS - 1)


def _validate(assessments: pd.DataFrame, sessions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    require_columns(assessments, (S.PATIENT_ID, S.INSTRUMENT, S.ADMINISTERED_AT, S.TOTAL),
                    what="assessments")
    require_columns(sessions, (S.PATIENT_ID, S.SESSION_AT, S.KIND), what="sessions")
    a = assessments.copy()
    s = sessions.copy()
    a[S.PATIENT_ID] = a[S.PATIENT_ID].astype(str)
    s[S.PATIENT_ID] = s[S.PATIENT_ID].astype(str)
    a[S.ADMINISTERED_AT] = as_naive_timestamps(a[S.ADMINISTERED_AT], what="assessments.administered_at")
    s[S.SESSION_AT] = as_naive_timestamps(s[S.SESSION_AT], what="sessions.session_at")
    a[S.TOTAL] = pd.to_numeric(a[S.TOTAL], errors="coerce").astype(float)
    bad_kind = ~s[S.KIND].isin(S.SESSION_KINDS)
    if bad_kind.any():
        raise AnalysisError(f"sessions.kind must be one of {S.SESSION_KINDS}; got "
                            f"{sorted(set(map(str, s.loc[bad_kind, S.KIND])))[:5]}")
    from analysis.instruments import INSTRUMENTS
    bad_instr = ~a[S.INSTRUMENT].isin(list(INSTRUMENTS))
    if bad_instr.any():
        raise AnalysisError(f"assessments.instrument must be a canonical code {list(INSTRUMENTS)}; "
                            f"got {sorted(set(map(str, a.loc[bad_instr, S.INSTRUMENT])))[:5]}")
    for col in (S.COURSE_ID, S.ROUTE, S.CLINICIAN_ID, S.DOSE_MG):
        if col not in s.columns:
            s[col] = pd.NA
    return a, s


def _infer_courses(doses: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Give every dosing session a ``course_id`` (given or inferred); doses sorted by time."""
    pid = doses[S.PATIENT_ID].to_numpy()
    first_of_patient = np.r_[True, pid[1:] != pid[:-1]]
    day_no = _ns(doses[S.SESSION_AT]) // _DAY_NS
    gap = np.r_[0, np.diff(day_no)]
    opens = first_of_patient | ((doses[S.KIND].to_numpy() == "dosing")
                                & (gap > settings.new_course_gap_days))
    inferred_no = pd.Series(opens).groupby(pid).cumsum().to_numpy()
    given = doses[S.COURSE_ID]
    all_given = given.notna().groupby(doses[S.PATIENT_ID]).transform("all").to_numpy()
    out = doses.copy()
    out[S.COURSE_ID] = np.where(all_given, given.astype("string").to_numpy(dtype=object),
                                np.char.add("course-", inferred_no.astype(str)).astype(object))
    out["course_id_inferred"] = ~all_given
    return out


def _assign_windows(frame: pd.DataFrame, time_col: str, starts: pd.DataFrame) -> pd.DataFrame:
    """Attach the course whose window holds each row (merge_asof backward on window start)."""
    left = frame.assign(_t=frame[time_col].to_numpy(dtype="datetime64[ns]"),
                        _row=np.arange(len(frame)))
    left = left.sort_values("_t", kind="stable")
    right = starts[[S.PATIENT_ID, "window_start", "_course"]].sort_values("window_start")
    merged = pd.merge_asof(left, right, left_on="_t", right_on="window_start",
                           by=S.PATIENT_ID, direction="backward")
    return merged.sort_values("_row").drop(columns=["_t", "_row", "window_start"])


def align(assessments: pd.DataFrame, sessions: pd.DataFrame, *,
          settings: Settings | None = None) -> Alignment:
    """Line assessments up against each patient's treatment courses.

    Parameters
    ----------
    assessments : DataFrame
        ``patient_id``, ``instrument`` (canonical code), ``administered_at``, ``total`` (float,
        NaN when it could not be scored); any other columns are kept.
    sessions : DataFrame
        ``patient_id``, ``session_at``, ``kind``; optional ``route``, ``dose_mg``, ``course_id``,
        ``clinician_id``.
    settings : Settings, keyword-only
        Defaults of ``definitions.md`` when omitted.

    Returns
    -------
    Alignment
        Courses, sessions and assessments with the derived columns (see :class:`Alignment`).

    Raises
    ------
    AnalysisError
        Missing columns, unknown kinds or instruments, unparseable timestamps.

    Examples
    --------
    >>> a = pd.DataFrame({"patient_id": ["p"] * 3, "instrument": ["PHQ9"] * 3,
    ...                   "administered_at": ["2025-01-01", "2025-01-03", "2025-01-20"],
    ...                   "total": [20.0, 9.0, 12.0]})
    >>> s = pd.DataFrame({"patient_id": ["p", "p"], "kind": ["dosing", "dosing"],
    ...                   "session_at": ["2025-01-01 10:00", "2025-01-08 10:00"]})
    >>> out = align(a, s).assessments
    >>> out[["day", "phase", "dose_number", "pct_change", "is_response"]]
        day      phase  dose_number  pct_change  is_response
    0   0.0   baseline            0        0.00        False
    1   2.0  induction            1       -0.55         True
    2  19.0  follow_up            2       -0.40        False
    """
    settings = settings or Settings()
    a, s = _validate(assessments, sessions)

    s["_order"] = np.arange(len(s))
    # ties at one timestamp: a dosing session before a booster, so input order never matters
    s["_kind_rank"] = s[S.KIND].map({k: i for i, k in enumerate(S.SESSION_KINDS)})
    s = s.sort_values([S.PATIENT_ID, S.SESSION_AT, "_kind_rank", "_order"], kind="stable")
    is_dose = s[S.KIND].isin(S.DOSING_KINDS).to_numpy()
    doses = _infer_courses(s[is_dose], settings)

    # --- per-course dose structure -------------------------------------------------------
    key = [S.PATIENT_ID, S.COURSE_ID]
    doses = doses.sort_values([S.PATIENT_ID, S.COURSE_ID, S.SESSION_AT, "_kind_rank", "_order"],
                              kind="stable")
    grp = doses.groupby(key, sort=False)
    idx = grp.cumcount().to_numpy()
    dose_ns = _ns(doses[S.SESSION_AT])
    day0_ns = grp[S.SESSION_AT].transform("first").pipe(_ns)
    prev_day_no = np.r_[0, dose_ns[:-1] // _DAY_NS]
    gap = dose_ns // _DAY_NS - prev_day_no
    breaks = (idx > 0) & ((doses[S.KIND].to_numpy() != "dosing")
                          | (gap > settings.induction_gap_days))
    broken = pd.Series(breaks, index=doses.index).groupby(
        [doses[S.PATIENT_ID], doses[S.COURSE_ID]], sort=False).cummax().to_numpy()
    is_induction = ~broken & (idx < settings.max_induction_doses)
    doses["is_induction"] = is_induction
    doses["is_booster"] = ~is_induction
    doses["dose_index"] = idx + 1
    doses[S.DAY] = _days_between(dose_ns, day0_ns)
    doses["_key"] = _order_key_of_session(dose_ns)
    doses["_day0_ns"] = day0_ns
    doses["_booster_index"] = doses["is_booster"].groupby(
        [doses[S.PATIENT_ID], doses[S.COURSE_ID]], sort=False).cumsum()

    ind = doses[is_induction]
    courses = grp.agg(first_dose_at=(S.SESSION_AT, "first"), route=(S.ROUTE, "first"),
                      clinician_id=(S.CLINICIAN_ID, "first"),
                      course_id_inferred=("course_id_inferred", "first")).reset_index()
    ind_agg = ind.groupby(key, sort=False).agg(induction_doses=(S.DAY, "size"),
                                               induction_end_at=(S.SESSION_AT, "last"),
                                               induction_end_day=(S.DAY, "last"))
    boo = doses[~is_induction].groupby(key, sort=False).agg(
        booster_count=(S.DAY, "size"), first_booster_day=(S.DAY, "first"))
    courses = courses.merge(ind_agg, on=key, how="left").merge(boo, on=key, how="left")
    courses["booster_count"] = courses["booster_count"].fillna(0).astype(int)
    courses = courses.sort_values([S.PATIENT_ID, "first_dose_at"], kind="stable")
    courses[S.COURSE_NUMBER] = courses.groupby(S.PATIENT_ID).cumcount() + 1
    courses["_course"] = np.arange(len(courses))
    win = pd.Timedelta(days=settings.baseline_window_days)
    courses["window_start"] = courses["first_dose_at"].dt.normalize() - win
    courses["_day0_ns"] = pd.array(_ns(courses["first_dose_at"]), dtype="Int64")

    # --- sessions: course, day ------------------------------------------------------------
    other = s[~is_dose].copy()
    other = _assign_windows(other, S.SESSION_AT, courses)
    # A non-dosing session imported with a course_id of a known course keeps that course.
    given = other[[S.PATIENT_ID, S.COURSE_ID]].astype({S.COURSE_ID: "string"}).merge(
        courses[key + ["_course"]].astype({S.COURSE_ID: "string"}), on=key, how="left")
    given_course = given["_course"].to_numpy(dtype=float)
    other["_course"] = np.where(np.isnan(given_course), other["_course"].to_numpy(dtype=float),
                                given_course)
    doses = doses.merge(courses[key + ["_course"]], on=key, how="left")
    sess = pd.concat([doses, other], ignore_index=True, sort=False)
    sess = _attach_course(sess, courses)
    sess["is_dose"] = sess[S.KIND].isin(S.DOSING_KINDS)
    sess[S.DAY] = np.where(sess["_course"].notna(),
                           _days_between(_ns(sess[S.SESSION_AT]), sess["_day0_ns"].fillna(0)
                                         .to_numpy(dtype="int64")), np.nan)
    for col in ("is_induction", "is_booster"):
        sess[col] = sess[col].astype("boolean").fillna(False).astype(bool)
    sess["unassigned_reason"] = _unassigned(sess, courses)

    # --- assessments ---------------------------------------------------------------------
    a["_order"] = np.arange(len(a))
    a = _assign_windows(a, S.ADMINISTERED_AT, courses)
    a = _attach_course(a, courses)
    a["unassigned_reason"] = _unassigned(a, courses)
    assigned = a["_course"].notna().to_numpy()
    a_ns = _ns(a[S.ADMINISTERED_AT])
    a[S.DAY] = np.where(assigned, _days_between(a_ns, a["_day0_ns"].fillna(0).to_numpy("int64")),
                        np.nan)
    a = _count_doses_before(a, doses)
    ind_end = a["induction_end_day"].to_numpy(dtype=float)
    day = a[S.DAY].to_numpy(dtype=float)
    phase = np.select(
        [~assigned, a["booster_number"].to_numpy() > 0, day <= 0, day <= ind_end],
        [None, "maintenance", "baseline", "induction"], "follow_up")
    a[S.PHASE] = pd.Series(phase, index=a.index, dtype="string")
    a = _mark_superseded(a)
    a = _baseline_and_change(a, settings)

    courses_out = courses.drop(columns=["window_start", "_day0_ns"])
    courses_out = _last_contact(courses_out, sess, a)
    courses_out = courses_out.drop(columns=["_course"]).reset_index(drop=True)
    courses_out = courses_out[list(COURSE_COLUMNS)]
    sess_out = (sess.sort_values("_order").drop(
        columns=[c for c in sess.columns if c.startswith("_") or c in (
            "first_dose_at", "induction_end_day", "course_id_inferred")])
        .reset_index(drop=True))
    a_out = a.sort_values("_order").drop(
        columns=[c for c in a.columns if c.startswith("_") or c == "induction_end_day"])
    a_out = a_out.reset_index(drop=True)
    return Alignment(courses=courses_out, sessions=sess_out, assessments=a_out, settings=settings)


def _attach_course(frame: pd.DataFrame, courses: pd.DataFrame) -> pd.DataFrame:
    """Fill ``course_id``, ``course_number``, day-0 and induction end from the ``_course`` index."""
    info = courses[["_course", S.COURSE_ID, S.COURSE_NUMBER, "_day0_ns", "induction_end_day"]]
    frame = frame.drop(columns=[c for c in (S.COURSE_ID, S.COURSE_NUMBER, "_day0_ns",
                                            "induction_end_day") if c in frame.columns])
    out = frame.merge(info, on="_course", how="left")
    out.index = frame.index
    out[S.COURSE_NUMBER] = out[S.COURSE_NUMBER].astype("Int64")
    return out


def _unassigned(frame: pd.DataFrame, courses: pd.DataFrame) -> pd.Series:
    has_course = frame["_course"].notna().to_numpy()
    patient_has = frame[S.PATIENT_ID].isin(courses[S.PATIENT_ID].unique()).to_numpy()
    reason = np.select([has_course, patient_has], [None, "before_first_course"],
                       "no_dosing_sessions")
    return pd.Series(reason, index=frame.index, dtype="string")


def _count_doses_before(a: pd.DataFrame, doses: pd.DataFrame) -> pd.DataFrame:
    """``dose_number`` / ``booster_number``: doses of the course strictly before the assessment."""
    d = doses[["_course", "_key", "dose_index", "_booster_index"]].dropna(subset=["_course"])
    d = d.assign(_course=d["_course"].astype("int64")).sort_values("_key")
    left = a.assign(_c=a["_course"].fillna(-1).astype("int64"), _t=_ns(a[S.ADMINISTERED_AT]))
    left = left.sort_values("_t", kind="stable")
    merged = pd.merge_asof(left, d.rename(columns={"_course": "_c", "_key": "_t"}),
                           on="_t", by="_c", direction="backward", allow_exact_matches=False)
    merged.index = left.index
    merged = merged.loc[a.index]
    a[S.DOSE_NUMBER] = merged["dose_index"].fillna(0).astype(int).to_numpy()
    a["booster_number"] = merged["_booster_index"].fillna(0).astype(int).to_numpy()
    unassigned = a["_course"].isna().to_numpy()
    a[S.DOSE_NUMBER] = a[S.DOSE_NUMBER].astype("Int64").mask(unassigned)
    a["booster_number"] = a["booster_number"].astype("Int64").mask(unassigned)
    return a


def _mark_superseded(a: pd.DataFrame) -> pd.DataFrame:
    scored = a["_course"].notna() & a[S.TOTAL].notna()
    sub = a.loc[scored, ["_course", S.INSTRUMENT, S.ADMINISTERED_AT, S.DOSE_NUMBER,
                         "booster_number", "_order"]]
    sub = sub.assign(_date=_ns(sub[S.ADMINISTERED_AT]) // _DAY_NS)
    sub = sub.sort_values(["_course", S.INSTRUMENT, "_date", S.DOSE_NUMBER, "booster_number",
                           S.ADMINISTERED_AT, "_order"], kind="stable")
    later_same = sub.duplicated(["_course", S.INSTRUMENT, "_date", S.DOSE_NUMBER,
                                 "booster_number"], keep="last")
    a[S.SUPERSEDED] = False
    a.loc[later_same[later_same].index, S.SUPERSEDED] = True
    a["usable"] = scored & ~a[S.SUPERSEDED]
    return a


def _baseline_and_change(a: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    base = a[a["usable"] & (a[S.DAY] <= 0)]
    base = base.sort_values([S.ADMINISTERED_AT, "_order"], kind="stable")
    base = base.groupby(["_course", S.INSTRUMENT], sort=False).agg(
        baseline_total=(S.TOTAL, "last"), baseline_day=(S.DAY, "last")).reset_index()
    a = a.drop(columns=[c for c in (S.BASELINE_TOTAL, S.BASELINE_DAY) if c in a.columns])
    idx = a.index
    a = a.merge(base, on=["_course", S.INSTRUMENT], how="left")
    a.index = idx
    a[S.CHANGE] = a[S.TOTAL] - a[S.BASELINE_TOTAL]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = a[S.CHANGE] / a[S.BASELINE_TOTAL].where(a[S.BASELINE_TOTAL] > 0)
    a[S.PCT_CHANGE] = pct
    usable = a["usable"].to_numpy()
    known = usable & pct.notna().to_numpy()
    # A tiny tolerance keeps exact halves (e.g. 18 -> 9) a response despite float rounding.
    resp = pct.to_numpy() <= -settings.response_reduction + 1e-12
    a[S.IS_RESPONSE] = pd.array(np.where(known, resp, False), dtype="boolean")
    a.loc[~known, S.IS_RESPONSE] = pd.NA
    cut = a[S.INSTRUMENT].map(dict(settings.remission_below)).to_numpy(dtype=float)
    rem = a[S.TOTAL].to_numpy() < cut
    a[S.IS_REMISSION] = pd.array(rem, dtype="boolean")
    a.loc[~usable, S.IS_REMISSION] = pd.NA
    return a


def _last_contact(courses: pd.DataFrame, sess: pd.DataFrame, a: pd.DataFrame) -> pd.DataFrame:
    s_last = sess.groupby("_course")[S.DAY].max()
    a_last = a[a["_course"].notna()].groupby("_course")[S.DAY].max()
    last = pd.concat([s_last, a_last], axis=1).max(axis=1)
    courses["last_contact_day"] = courses["_course"].map(last).astype(float)
    return courses
