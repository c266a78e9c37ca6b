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
from analysis._validation import as_naive_timestamps, category_codes, lookup, require_columns
from analysis.exceptions import AnalysisError
from analysis.settings import Settings

__all__ = ["Alignment", "align", "COURSE_COLUMNS"]

_DAY_NS = 86_400 * 10**9

#: Columns of :attr:`Alignment.courses`.
COURSE_COLUMNS = (
    "course_index", S.PATIENT_ID, S.COURSE_ID, S.COURSE_NUMBER, "course_id_inferred", "first_dose_at",
    "induction_doses", "induction_end_at", "induction_end_day", "booster_count",
    "first_booster_day", "last_contact_day", S.ROUTE, S.CLINICIAN_ID,
)


@dataclass(frozen=True, slots=True)
class Alignment:
    """Result of :func:`align`.

    Attributes
    ----------
    courses : DataFrame
        One row per (patient, course): ``COURSE_COLUMNS``; ``course_index`` is the row number,
        which the other two frames carry to refer to their course. ``route`` and ``clinician_id`` are
        those of the first dose; ``*_day`` are days since day 0; ``first_booster_day`` is NaN
        without a booster; ``last_contact_day`` is the latest session or assessment of the course.
    sessions : DataFrame
        Every input session with ``course_id``, ``course_index``, ``day``, ``is_dose``, ``is_induction``,
        ``is_booster``, ``dose_index`` (1-based among the course's doses) and
        ``unassigned_reason``.
    assessments : DataFrame
        Every input assessment with ``course_id``, ``course_index``, ``course_number``, ``day``, ``phase``,
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
    # shallow: columns are only ever replaced, never written into (copy-on-write in pandas 3)
    a = assessments.copy(deep=False)
    a.index = pd.RangeIndex(len(a))
    s = sessions.copy(deep=False)
    a[S.PATIENT_ID] = a[S.PATIENT_ID].astype(str)
    s[S.PATIENT_ID] = s[S.PATIENT_ID].astype(str)
    a[S.ADMINISTERED_AT] = as_naive_timestamps(a[S.ADMINISTERED_AT], what="assessments.administered_at")
    s[S.SESSION_AT] = as_naive_timestamps(s[S.SESSION_AT], what="sessions.session_at")
    a[S.TOTAL] = pd.to_numeric(a[S.TOTAL], errors="coerce").astype(float)
    bad_kind = category_codes(s[S.KIND], S.SESSION_KINDS) < 0
    if bad_kind.any():
        raise AnalysisError(f"sessions.kind must be one of {S.SESSION_KINDS}; got "
                            f"{sorted(set(map(str, s.loc[bad_kind, S.KIND])))[:5]}")
    from analysis.instruments import INSTRUMENTS
    bad_instr = category_codes(a[S.INSTRUMENT], list(INSTRUMENTS)) < 0
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
    s["_kind_rank"] = category_codes(s[S.KIND], S.SESSION_KINDS)
    s = s.sort_values([S.PATIENT_ID, S.SESSION_AT, "_kind_rank", "_order"], kind="stable")
    is_dose = category_codes(s[S.KIND], S.DOSING_KINDS) >= 0
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
    codes, _ = pd.factorize(pd.concat([courses[S.PATIENT_ID], s[S.PATIENT_ID],
                                       a[S.PATIENT_ID]], ignore_index=True), sort=True)
    n_c, n_s = len(courses), len(s)
    c_pc = codes[:n_c]
    c_ws_ns = _ns(courses["window_start"])
    other = s[~is_dose].copy()
    other["_course"] = _locate(codes[n_c:n_c + n_s][~is_dose], _ns(other[S.SESSION_AT]),
                               c_pc, c_ws_ns)
    # A non-dosing session imported with a course_id of a known course keeps that course.
    given = other[[S.PATIENT_ID, S.COURSE_ID]].astype({S.COURSE_ID: "string"}).merge(
        courses[key + ["_course"]].astype({S.COURSE_ID: "string"}), on=key, how="left")
    given_course = given["_course"].to_numpy(dtype=float)
    other["_course"] = np.where(np.isnan(given_course), other["_course"].to_numpy(dtype=float),
                                given_course)
    doses = doses.merge(courses[key + ["_course"]], on=key, how="left")
    sess = pd.concat([doses, other], ignore_index=True, sort=False)
    sess = _attach_course(sess, courses)
    sess["is_dose"] = category_codes(sess[S.KIND], S.DOSING_KINDS) >= 0
    sess[S.DAY] = np.where(sess["_course"].notna(),
                           _days_between(_ns(sess[S.SESSION_AT]), sess["_day0_ns"].fillna(0)
                                         .to_numpy(dtype="int64")), np.nan)
    for col in ("is_induction", "is_booster"):
        sess[col] = sess[col].astype("boolean").fillna(False).astype(bool)
    sess[S.UNASSIGNED_REASON] = _unassigned(
        sess["_course"].notna().to_numpy(),
        category_codes(sess[S.PATIENT_ID], courses[S.PATIENT_ID].unique()) >= 0)

    # --- assessments (numpy on the rows' arrays; the wide frame is never merged) ----------
    a = _align_assessments(a, codes[n_c + n_s:], courses, doses, c_pc, c_ws_ns, settings)

    courses_out = courses.drop(columns=["window_start", "_day0_ns"])
    courses_out = _last_contact(courses_out, sess, a)
    courses_out = courses_out.rename(columns={"_course": "course_index"}).reset_index(drop=True)
    courses_out = courses_out[list(COURSE_COLUMNS)]
    sess["course_index"] = pd.array(sess["_course"], dtype="Int64")
    sess_out = (sess.sort_values("_order").drop(
        columns=[c for c in sess.columns if c.startswith("_") or c in (
            "first_dose_at", "induction_end_day", "course_id_inferred")])
        .reset_index(drop=True))
    a["course_index"] = pd.arrays.IntegerArray(np.nan_to_num(a.pop("_course").to_numpy(),
                                                             nan=0).astype(np.int64),
                                               a[S.COURSE_ID].isna().to_numpy())
    return Alignment(courses=courses_out, sessions=sess_out, assessments=a, settings=settings)


_KEY_DAYS = 1 << 24   # room for day numbers (days since 1970, offset by half)
_KEY_SECONDS = 1 << 31  # room for seconds since a course's window opened (68 years)


def _locate(pc: np.ndarray, t_ns: np.ndarray, c_pc: np.ndarray, c_ws_ns: np.ndarray) -> np.ndarray:
    """Index of the course whose window holds each time (NaN for none).

    Courses are sorted by (patient code, window start); a window runs until the next one opens.
    """
    day = t_ns // _DAY_NS + _KEY_DAYS // 2
    c_day = c_ws_ns // _DAY_NS + _KEY_DAYS // 2
    ckey = c_pc.astype(np.int64) * _KEY_DAYS + c_day
    akey = pc.astype(np.int64) * _KEY_DAYS + day
    pos = np.searchsorted(ckey, akey, side="right") - 1
    ok = pos >= 0
    ok[ok] = c_pc[pos[ok]] == pc[ok]
    return np.where(ok, pos, np.nan)


def _count_before(ci: np.ndarray, t_ns: np.ndarray, d_ci: np.ndarray, d_key_ns: np.ndarray,
                  c_ws_ns: np.ndarray) -> np.ndarray:
    """For each (course, time), how many of the course's events have a key strictly earlier."""
    if c_ws_ns.size == 0:  # no course at all: nothing came before anything
        return np.zeros(ci.size, dtype=np.int64)
    d_key = np.sort(d_ci * _KEY_SECONDS + (d_key_ns - c_ws_ns[d_ci]) // 10**9)
    a_key = ci * _KEY_SECONDS + (t_ns - c_ws_ns[ci]) // 10**9
    return (np.searchsorted(d_key, a_key, side="left")
            - np.searchsorted(d_key, ci * _KEY_SECONDS, side="left"))


def _take(values: np.ndarray, idx: np.ndarray, fill: object) -> np.ndarray:
    """``values[idx]``, or ``fill`` everywhere when there is nothing to index (no course)."""
    return values[idx] if values.size else np.full(idx.size, fill, dtype=values.dtype)


def _align_assessments(a: pd.DataFrame, pc: np.ndarray, courses: pd.DataFrame,
                       doses: pd.DataFrame, c_pc: np.ndarray, c_ws_ns: np.ndarray,
                       settings: Settings) -> pd.DataFrame:
    """Course, day, dose counts, phase, repeats, baseline and change of every assessment."""
    n = len(a)
    t_ns = _ns(a[S.ADMINISTERED_AT])
    course = _locate(pc, t_ns, c_pc, c_ws_ns)
    assigned = ~np.isnan(course)
    ci = np.where(assigned, course, 0).astype(np.int64)
    c_day0 = courses["_day0_ns"].to_numpy(dtype="int64")
    # a patient with scores and no sessions has no course: every row is unassigned
    day = np.where(assigned, _days_between(t_ns, _take(c_day0, ci, 0)), np.nan)

    d_ci = doses["_course"].to_numpy(dtype="int64")
    d_key = doses["_key"].to_numpy(dtype="int64")
    boost = doses["is_booster"].to_numpy(dtype=bool)
    dose_number = _count_before(ci, t_ns, d_ci, d_key, c_ws_ns)
    booster_number = _count_before(ci, t_ns, d_ci[boost], d_key[boost], c_ws_ns)
    ind_end = _take(courses["induction_end_day"].to_numpy(dtype=float), ci, np.nan)
    with np.errstate(invalid="ignore"):
        phase_code = np.select([~assigned, booster_number > 0, day <= 0, day <= ind_end],
                               [-1, 3, 0, 1], 2)

    # same-day repeats: the later (by time, then input order) of equal keys counts
    total = a[S.TOTAL].to_numpy(dtype=float)
    ic = category_codes(a[S.INSTRUMENT], ["PHQ9", "GAD7", "PCL5"])
    group = ci * 3 + ic
    scored = assigned & ~np.isnan(total)
    date = t_ns // _DAY_NS
    idx = np.nonzero(scored)[0]
    # Within a (course, instrument), date, dose and booster numbers never decrease with time, so
    # sorting by (group, time) with a stable sort (input order breaks ties) orders the rows by
    # every key of the repeat rule at once.
    srt = idx[np.lexsort((t_ns[idx], group[idx]))]
    same_next = np.ones(srt.size, dtype=bool)
    same_next[-1:] = False
    for k in (ci, ic, date, dose_number, booster_number):
        same_next[:-1] &= k[srt[:-1]] == k[srt[1:]]
    superseded = np.zeros(n, dtype=bool)
    superseded[srt[same_next]] = True
    usable = scored & ~superseded

    # baseline: the latest usable score with day <= 0 of each (course, instrument)
    cand = np.nonzero(usable & (np.nan_to_num(day, nan=1.0) <= 0))[0]
    srt = cand[np.lexsort((t_ns[cand], group[cand]))]   # stable: input order breaks ties
    last = np.r_[group[srt][1:] != group[srt][:-1], True] if srt.size else np.zeros(0, bool)
    base_total = np.full(len(courses) * 3, np.nan)
    base_day = np.full(len(courses) * 3, np.nan)
    base_total[group[srt[last]]] = total[srt[last]]
    base_day[group[srt[last]]] = day[srt[last]]
    baseline_total = np.where(assigned, _take(base_total, group, np.nan), np.nan)
    baseline_day = np.where(assigned, _take(base_day, group, np.nan), np.nan)
    change = total - baseline_total
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(baseline_total > 0, change / baseline_total, np.nan)
    known = usable & ~np.isnan(pct)
    # A tiny tolerance keeps exact halves (e.g. 18 -> 9) a response despite float rounding.
    resp = pd.array(pct <= -settings.response_reduction + 1e-12, dtype="boolean")
    resp[~known] = pd.NA
    cut = lookup(a[S.INSTRUMENT], dict(settings.remission_below))
    rem = pd.array(total < cut, dtype="boolean")
    rem[~usable] = pd.NA

    out = a
    # a take on the courses' own string array: no 2.5M-object array to infer a dtype from
    out[S.COURSE_ID] = courses[S.COURSE_ID].array.take(np.where(assigned, ci, -1),
                                                       allow_fill=True)
    unassigned = ~assigned
    out[S.COURSE_NUMBER] = pd.arrays.IntegerArray(
        _take(courses[S.COURSE_NUMBER].to_numpy(dtype=np.int64), ci, 0), unassigned)
    out[S.DAY] = day
    out[S.PHASE] = pd.Categorical.from_codes(phase_code, categories=list(S.PHASES))
    out[S.DOSE_NUMBER] = pd.arrays.IntegerArray(dose_number.astype(np.int64), unassigned.copy())
    out[S.BOOSTER_NUMBER] = pd.arrays.IntegerArray(booster_number.astype(np.int64),
                                                   unassigned.copy())
    out[S.SUPERSEDED] = superseded
    out["usable"] = usable
    out[S.BASELINE_TOTAL] = baseline_total
    out[S.BASELINE_DAY] = baseline_day
    out[S.CHANGE] = change
    out[S.PCT_CHANGE] = pct
    out[S.IS_RESPONSE] = resp
    out[S.IS_REMISSION] = rem
    out[S.UNASSIGNED_REASON] = _unassigned(assigned, np.isin(pc, c_pc))
    out["_course"] = course
    return out


def _attach_course(frame: pd.DataFrame, courses: pd.DataFrame) -> pd.DataFrame:
    """Fill ``course_id``, ``course_number``, day-0 and induction end from the ``_course`` index."""
    info = courses[["_course", S.COURSE_ID, S.COURSE_NUMBER, "_day0_ns", "induction_end_day"]]
    frame = frame.drop(columns=[c for c in (S.COURSE_ID, S.COURSE_NUMBER, "_day0_ns",
                                            "induction_end_day") if c in frame.columns])
    out = frame.merge(info, on="_course", how="left")
    out.index = frame.index
    out[S.COURSE_NUMBER] = out[S.COURSE_NUMBER].astype("Int64")
    return out


def _unassigned(assigned: np.ndarray, patient_has_course: np.ndarray) -> pd.Categorical:
    """Why a row has no course: ``before_first_course`` or ``no_dosing_sessions`` (NA if it has)."""
    return pd.Categorical.from_codes(np.select([assigned, patient_has_course], [-1, 0], 1),
                                     categories=["before_first_course", "no_dosing_sessions"])


def _last_contact(courses: pd.DataFrame, sess: pd.DataFrame, a: pd.DataFrame) -> pd.DataFrame:
    s_last = sess.groupby("_course")[S.DAY].max()
    a_last = a[a["_course"].notna()].groupby("_course")[S.DAY].max()
    last = pd.concat([s_last, a_last], axis=1).max(axis=1)
    courses["last_contact_day"] = courses["_course"].map(last).astype(float)
    return courses
