"""Clinical signals for current patients: safety, relapse, fading, non-response, off track.

Rules (``definitions.md``, "Current patients and signals"; thresholds from
:class:`analysis.settings.Settings`):

* **Current patients** — a patient is current when any contact (session or score) falls within
  ``active_days`` before ``as_of``. Signals of other patients are returned apart ("not seen
  since"), never mixed into a clinician's morning list.
* **Safety** — PHQ-9 item 9 read from the item itself on the patient's latest form that answers
  it, whatever the total (a form with other items missing still counts) and wherever the form
  falls (intake forms long before a course, forms outside any course): >= 2 ``high priority``,
  >= 1 ``review`` (Simon et al. 2013). Always listed first.
* Course signals, at the latest score of the patient's latest course and each instrument, in
  *episodes*: before the first booster, then after each booster.

  - **Relapsed** — a response followed by ``relapse_confirmations`` consecutive scores no longer
    in response (the definitions' relapse). It stays until a booster (a new episode), a new
    course or a regained response (the latest score is a response again).
  - **Fading** / **fading after a booster** — in an episode with a response and no relapse, the
    mean of the last two scores lies more than the instrument's reliable-change points above the
    best (lowest) mean of two consecutive scores since the response. Means of two halve the
    measurement noise and the best running mean is far less biased low than the best single
    score, so a stable responder is flagged in about 3% of courses over 8 scores whatever
    their level (simulated in the tests with the measurement error of ``clinical-reference``
    §2.5; the former rules — a reliable rise from the single best score, or one score out of
    response — flagged 46% and 74%).
  - **Not responding** — induction has ended (a score at or after induction end) with no
    response since the first dose; or two or more scores after a booster, none a response.
  - **Off track in induction** — the latest induction score is above the
    ``off_track_percentile`` of the scores of *other* patients with the same baseline at that
    point of induction (:func:`analysis.expected.expected_model`: linear quantile regression on
    the exact baseline per day bin, cross-fitted so the patient's own course is left out), where
    at least ``expected_min_courses`` courses give that history.

:func:`fading_history` evaluates the course rules at every score, as they would have fired that
day, for back-testing against known relapses and boosters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis._validation import group_codes, lookup
from analysis.alignment import Alignment
from analysis.expected import ExpectedModel, expected_model
from analysis.instruments import INSTRUMENTS
from analysis.settings import Settings

__all__ = ["SIGNAL_KINDS", "KIND_LABELS", "SAFETY_KINDS", "CANDIDATE_COLUMNS", "INPUT_COLUMNS",
           "assemble_signals", "current_signals", "days_since", "fading_history", "is_current",
           "last_contacts", "signal_inputs"]

#: Signal kinds, most urgent first.
SIGNAL_KINDS = ("safety_high_priority", "session_event", "safety_review", "relapsed", "fading",
                "fading_after_booster", "not_responding", "off_track", "missing_bp_check")
#: The kinds listed first, before every other signal (a patient's safety).
SAFETY_KINDS = ("safety_high_priority", "session_event", "safety_review")

#: What a person reads for each kind.
KIND_LABELS = {
    "safety_high_priority": "Safety: item 9 high priority",
    "safety_review": "Safety: item 9 review",
    "relapsed": "Relapsed",
    "fading": "Response fading",
    "fading_after_booster": "Fading after a booster",
    "not_responding": "Not responding",
    "off_track": "Off track in induction",
    "session_event": "Safety: severe or serious session event",
    "missing_bp_check": "Session record: blood pressure check missing",
}

_KEY = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]
_COLUMNS = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "kind", "label", "priority", "score_at",
            "day", "reason"]


def last_contacts(alignment: Alignment) -> pd.Series:
    """Each patient's latest contact (session or score, any kind), indexed by patient id."""
    parts = [alignment.assessments[[S.PATIENT_ID, S.ADMINISTERED_AT]].rename(
        columns={S.ADMINISTERED_AT: "t"})]
    if len(alignment.sessions):
        parts.append(alignment.sessions[[S.PATIENT_ID, S.SESSION_AT]].rename(
            columns={S.SESSION_AT: "t"}))
    both = pd.concat(parts, ignore_index=True)
    return both.groupby(S.PATIENT_ID)["t"].max()


def days_since(when, as_of) -> np.ndarray:
    """Whole calendar days from each time in ``when`` to ``as_of``'s day (float; NaN where
    ``when`` is missing; negative for a time after ``as_of``'s day).

    >>> days_since(pd.Series(pd.to_datetime(["2025-03-01 23:00", None])),
    ...            pd.Timestamp("2025-03-31 08:00")).tolist()
    [30.0, nan]
    """
    t = pd.to_datetime(pd.Series(when)).dt.normalize()
    return (pd.Timestamp(as_of).normalize() - t).dt.days.to_numpy(dtype=float, na_value=np.nan)


def is_current(last_contact, as_of, settings: Settings) -> np.ndarray:
    """The one rule for a **current** patient (``definitions.md`` § Current patients): the
    latest contact (session or score) no more than ``settings.active_days`` calendar days
    before ``as_of``'s day. Counted in calendar days so the answer holds for the whole of a day
    (a patient last seen 90 days ago is current all day, whatever the hour); a contact after
    ``as_of`` counts as current. The signals, the caseload and the overview's card all use it.

    >>> is_current(pd.to_datetime(["2025-01-01 10:00", "2024-12-31 08:00", None]),
    ...            pd.Timestamp("2025-04-01 23:59"), Settings()).tolist()
    [True, False, False]
    """
    days = days_since(last_contact, as_of)
    with np.errstate(invalid="ignore"):
        return days <= settings.active_days


def _consecutive(flag: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Length of the current run of True values within each group (0 where False)."""
    s = pd.Series(flag.astype(int))
    # one integer code per group (grouping on the id strings themselves was most of the time)
    code = pd.Series(group_codes(*groups) if groups else np.zeros(len(s), dtype=np.int64))
    breaks = (s == 0).groupby(code, sort=False).cumsum()
    return s.groupby([code, breaks], sort=False).cumsum().to_numpy()


def fading_history(alignment: Alignment) -> pd.DataFrame:
    """The course rules evaluated at every usable post-dose score of every course with a
    baseline.

    Returns
    -------
    DataFrame, one row per score: ``patient_id``, ``course_id``, ``instrument``, ``day``,
    ``total``, ``baseline_total``, ``episode`` (0 before the first booster, b after booster b), ``is_response``,
    ``responded`` (a response earlier in the episode, this score included), ``mean2`` (mean of
    this and the previous score of the episode), ``reference`` (lowest ``mean2`` since the
    episode's first response), ``fading`` (``mean2 - reference > reliable_change_points``, no
    relapse), ``relapsed`` (a confirmed relapse in the episode and this score not a response).

    Examples
    --------
    >>> from analysis.alignment import align
    >>> a = pd.DataFrame({"patient_id": "p", "instrument": "PHQ9",
    ...     "administered_at": pd.date_range("2025-01-01", periods=8, freq="7D"),
    ...     "total": [24.0, 6, 5, 5, 9, 12, 14, 15]})
    >>> s = pd.DataFrame({"patient_id": "p", "kind": "dosing", "session_at": ["2025-01-02"]})
    >>> h = fading_history(align(a, s))  # response: 12 or less; best two-score mean 5.0
    >>> h[["total", "mean2", "reference", "fading", "relapsed"]].values.tolist()[-3:]
    [[12.0, 10.5, 5.0, False, False], [14.0, 13.0, 5.0, True, False], [15.0, 14.5, 5.0, False, True]]
    """
    settings = alignment.settings
    a = alignment.assessments
    a = a[a["usable"] & (a[S.DAY] > 0) & a[S.BASELINE_TOTAL].notna()
          & a["course_index"].notna()]
    a = a.assign(episode=a[S.BOOSTER_NUMBER].fillna(0).astype(int))
    key = _KEY + ["episode"]
    a = a.sort_values(key + [S.DAY], kind="stable").reset_index(drop=True)
    # one integer per episode, made once: every step below groups by it (grouping on the
    # id strings again at each step was most of this function's time at network scale)
    episode = group_codes(*(a[c].to_numpy() for c in key))
    resp = a[S.IS_RESPONSE].fillna(False).to_numpy(dtype=bool)
    responded = pd.Series(resp).groupby(episode, sort=False).cummax().to_numpy()
    total = a[S.TOTAL].to_numpy(dtype=float)
    prev = pd.Series(total).groupby(episode, sort=False).shift(1).to_numpy(dtype=float)
    mean2 = (total + prev) / 2
    ref = pd.Series(np.where(responded, mean2, np.nan)).groupby(episode, sort=False).cummin()
    ref = ref.to_numpy()
    rc = lookup(a[S.INSTRUMENT], dict(settings.reliable_change_points))
    run = _consecutive(~resp & responded, [episode])
    confirmed = pd.Series(run >= settings.relapse_confirmations).groupby(
        episode, sort=False).cummax().to_numpy()
    relapsed = confirmed & ~resp
    fading = responded & ~confirmed & (mean2 - ref > rc)
    out = a[_KEY + [S.DAY, S.TOTAL, S.ADMINISTERED_AT, S.PHASE, "episode", S.PCT_CHANGE,
                    S.BASELINE_TOTAL]].copy()
    out["is_response"] = resp
    out["responded"] = responded
    out["mean2"] = mean2
    out["reference"] = ref
    out["fading"] = fading
    out["relapsed"] = relapsed
    return out


def _safety(alignment: Alignment) -> pd.DataFrame:
    a = alignment.assessments
    if "item_9" not in a.columns:
        return pd.DataFrame(columns=_COLUMNS)
    phq = a[(a[S.INSTRUMENT] == "PHQ9")]
    item9 = pd.to_numeric(phq["item_9"], errors="coerce")
    phq = phq.assign(_i9=item9.to_numpy())[item9.notna().to_numpy()]
    # the latest form that answers item 9; two forms at the same moment: the higher answer
    phq = phq.sort_values([S.ADMINISTERED_AT, "_i9"], kind="stable")
    latest = phq.drop_duplicates(S.PATIENT_ID, keep="last")
    latest = latest[latest["_i9"] >= 1]
    kind = np.where(latest["_i9"] >= 2, "safety_high_priority", "safety_review")
    where = np.where(latest["course_index"].isna(), " (a form outside any course)",
                     np.where(latest[S.PHASE] == "baseline", " (intake form)", ""))
    reasons = [f"PHQ-9 item 9 = {int(v)} on {t:%Y-%m-%d}{w} (thoughts of being better off dead "
               "or of self-harm)"
               for v, t, w in zip(latest["_i9"], latest[S.ADMINISTERED_AT], where, strict=True)]
    return pd.DataFrame({S.PATIENT_ID: latest[S.PATIENT_ID].to_numpy(),
                         S.COURSE_ID: latest[S.COURSE_ID].to_numpy(),
                         S.INSTRUMENT: "PHQ9", "kind": kind,
                         "score_at": latest[S.ADMINISTERED_AT].to_numpy(),
                         "day": latest[S.DAY].to_numpy(), "reason": reasons})


def _off_track(candidates: pd.DataFrame, models: dict[str, ExpectedModel],
               percentile: float) -> pd.DataFrame:
    parts = []
    col = f"q{round(percentile)}"
    for code, rows in candidates.groupby(S.INSTRUMENT, observed=True):
        model = models.get(str(code))
        if model is None or rows.empty:
            continue
        pred = model.predict(rows[S.PATIENT_ID], rows[S.BASELINE_TOTAL], rows[S.DAY])
        above = rows[S.TOTAL].to_numpy() > pred[col].to_numpy()
        m = rows[above]
        q = pred[col].to_numpy()[above]
        n = pred["n_courses"].to_numpy()[above]
        name = INSTRUMENTS[str(code)].name
        parts.append(pd.DataFrame({
            S.PATIENT_ID: m[S.PATIENT_ID].to_numpy(), S.COURSE_ID: m[S.COURSE_ID].to_numpy(),
            S.INSTRUMENT: code, "kind": "off_track", "score_at": m["score_at"].to_numpy(),
            "day": m[S.DAY].to_numpy(),
            "reason": [f"{name} {t:.0f} on day {d:.0f} of induction is above the "
                       f"{percentile:.0f}th percentile ({p:.1f}) of other patients who started "
                       f"at {b:.0f} ({int(k)} courses)"
                       for t, d, p, b, k in zip(m[S.TOTAL], m[S.DAY], q, m[S.BASELINE_TOTAL],
                                                n, strict=True)]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_COLUMNS)


#: The columns of a stored candidate for off-track (:func:`signal_inputs`).
CANDIDATE_COLUMNS = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "score_at", S.DAY, S.TOTAL,
                     S.BASELINE_TOTAL]
#: The columns of a patient's data-only signal rows (:func:`signal_inputs`).
INPUT_COLUMNS = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "kind", "score_at", "day", "reason"]


def signal_inputs(alignment: Alignment) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What each patient's own records raise, whatever the date and the other patients.

    Returns
    -------
    (rows, candidates): ``rows`` are the item-9 safety and course signals (relapsed, fading,
    not responding) with :data:`INPUT_COLUMNS`; ``candidates`` are the latest induction scores
    (before any booster) of the latest courses that raised none of those, with
    :data:`CANDIDATE_COLUMNS`: whether one is off track depends on the other patients' scores
    (:func:`assemble_signals` judges them against the expected-course models). Both depend on
    one patient's records only, so they are stored per patient at import
    (:mod:`analysis.derive`) and the whole clinic's signals are put together without lining
    up every score.
    """
    course, last = _course_signals(alignment)
    cand = last[(last["kind"] == "") & (last[S.PHASE] == "induction") & (last["episode"] == 0)]
    cand = cand.rename(columns={S.ADMINISTERED_AT: "score_at"})[CANDIDATE_COLUMNS]
    parts = [p for p in (_safety(alignment), course) if len(p)]
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=INPUT_COLUMNS)
    return rows[INPUT_COLUMNS].reset_index(drop=True), cand.reset_index(drop=True)


def current_signals(alignment: Alignment, *, as_of: pd.Timestamp,
                    models: dict[str, ExpectedModel] | None = None,
                    sessions: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The signals of current patients, and those of patients not seen recently:
    :func:`assemble_signals` of :func:`signal_inputs` and :func:`last_contacts`.

    Parameters
    ----------
    alignment : Alignment
    as_of : Timestamp, keyword-only
        "Now": the dashboard passes today; reports and tests fix it.
    models : instrument -> :class:`analysis.expected.ExpectedModel` for off-track (fitted here
        at the ``off_track_percentile`` when omitted).
    sessions : the session safety records (:func:`analysis.safety.session_safety`), for the
        session signals (:func:`analysis.safety.session_signals`).

    Returns
    -------
    See :func:`assemble_signals`.
    """
    settings = alignment.settings
    if models is None:
        tau = settings.off_track_percentile / 100
        models = {code: expected_model(alignment, instrument=code, quantiles=(tau,))
                  for code in alignment.assessments[S.INSTRUMENT].unique()}
    rows, candidates = signal_inputs(alignment)
    return assemble_signals(rows, candidates, last_contacts(alignment), models=models,
                            as_of=as_of, settings=settings, sessions=sessions)


def assemble_signals(rows: pd.DataFrame, candidates: pd.DataFrame, contacts: pd.Series, *,
                     models: dict[str, ExpectedModel], as_of: pd.Timestamp, settings: Settings,
                     sessions: pd.DataFrame | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clinic's signals on ``as_of``, split into current patients and patients not seen.

    Parameters
    ----------
    rows, candidates : :func:`signal_inputs` (of one alignment, or stored per patient)
    contacts : each patient's latest contact (:func:`last_contacts`), indexed by patient id
    models : instrument -> :class:`analysis.expected.ExpectedModel` at the
        ``off_track_percentile`` (candidates above it are off track)
    as_of : "Now": the dashboard passes today; reports and tests fix it.
    settings : ``active_days`` and the session signals' rules
    sessions : the session safety records (:func:`analysis.safety.session_safety`), for the
        session signals (:func:`analysis.safety.session_signals`): a severe or serious event,
        a required blood-pressure check missing. Their ``instrument`` is ``"session"`` and
        their ``score_at`` the session's time.

    Returns
    -------
    (current, not_seen): DataFrames with ``patient_id``, ``course_id`` (NA for a form outside any
    course), ``instrument``, ``kind`` (see :data:`SIGNAL_KINDS`), ``label`` (in words),
    ``priority`` (0 = most urgent), ``score_at`` (the score's date), ``day`` (of its course),
    ``days_ago`` (whole days from the score to ``as_of``), ``reason`` and ``last_contact``.
    ``current`` is sorted safety first, then by recency (newest score first); ``not_seen`` by
    last contact, newest first.
    """
    from analysis.safety import session_signals

    as_of = pd.Timestamp(as_of)
    off = _off_track(candidates, models, settings.off_track_percentile)
    session = (session_signals(sessions, as_of=as_of, settings=settings)
               if sessions is not None else pd.DataFrame(columns=_COLUMNS))
    # the stored kinds' order of rows is the patients' bucket order: sorted below, fully
    parts = [p for p in (rows, off, session) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_COLUMNS)
    out["label"] = out["kind"].map(KIND_LABELS)
    out["priority"] = out["kind"].map({k: i for i, k in enumerate(SIGNAL_KINDS)}).astype(int)
    out["score_at"] = pd.to_datetime(out["score_at"])
    out["days_ago"] = (as_of.normalize() - out["score_at"].dt.normalize()).dt.days
    out["last_contact"] = out[S.PATIENT_ID].map(contacts)
    current = is_current(out["last_contact"], as_of, settings) & \
        (out["score_at"] <= as_of + pd.Timedelta(days=1)).to_numpy()
    safety = out["kind"].isin(SAFETY_KINDS)
    out = out.assign(_safety=~safety)
    order = ["_safety", "priority", "score_at", S.PATIENT_ID, S.INSTRUMENT]
    cur = out[current].sort_values(order, ascending=[True, True, False, True, True],
                                   kind="stable")
    old = out[~current].sort_values(["last_contact", "priority", S.PATIENT_ID, S.INSTRUMENT],
                                    ascending=[False, True, True, True], kind="stable")
    cols = _COLUMNS + ["days_ago", "last_contact"]
    return cur[cols].reset_index(drop=True), old[cols].reset_index(drop=True)


def _course_signals(alignment: Alignment) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Course signals at the latest score of each patient's latest course and instrument, and
    those latest scores with the kind they raised (``""``: none)."""
    settings = alignment.settings
    courses = alignment.courses
    latest_course = courses.sort_values(S.COURSE_NUMBER).drop_duplicates(S.PATIENT_ID,
                                                                         keep="last")
    hist = fading_history(alignment)
    hist = hist.merge(latest_course[[S.PATIENT_ID, S.COURSE_ID, "induction_end_day"]],
                      on=[S.PATIENT_ID, S.COURSE_ID])
    if hist.empty:
        return pd.DataFrame(columns=_COLUMNS), hist.assign(kind="")
    last = hist.drop_duplicates(_KEY, keep="last")
    counts = hist.groupby(_KEY + ["episode"]).size().rename("n_in_episode").reset_index()
    last = last.merge(counts, on=_KEY + ["episode"])
    kind = np.select(
        [last["relapsed"].to_numpy(),
         last["fading"].to_numpy() & (last["episode"] == 0).to_numpy(),
         last["fading"].to_numpy() & (last["episode"] > 0).to_numpy(),
         (~last["responded"] & (last["episode"] == 0)
          & (last[S.DAY] >= last["induction_end_day"])).to_numpy(),
         (~last["responded"] & (last["episode"] > 0) & (last["n_in_episode"] >= 2)).to_numpy()],
        ["relapsed", "fading", "fading_after_booster", "not_responding", "not_responding"],
        "")
    rc = last[S.INSTRUMENT].map(dict(settings.reliable_change_points)).to_numpy()
    # a reason in words for the flagged rows only (most patients' latest state raises nothing)
    reasons = np.full(len(last), "", dtype=object)
    hit = np.flatnonzero(kind != "")
    reasons[hit] = [_course_reason(row, k, points, settings.relapse_confirmations)
                    for row, k, points in zip(last.iloc[hit].itertuples(index=False),
                                              kind[hit], rc[hit], strict=True)]
    out = pd.DataFrame({S.PATIENT_ID: last[S.PATIENT_ID].to_numpy(),
                        S.COURSE_ID: last[S.COURSE_ID].to_numpy(),
                        S.INSTRUMENT: last[S.INSTRUMENT].to_numpy(), "kind": kind,
                        "score_at": last[S.ADMINISTERED_AT].to_numpy(),
                        "day": last[S.DAY].to_numpy(), "reason": reasons})
    return out[out["kind"] != ""], last.assign(kind=kind)


def _course_reason(row, kind: str, points: float, confirmations: int) -> str:
    name = INSTRUMENTS[row.instrument].name
    after = f" after booster {row.episode}" if row.episode else ""
    if kind == "relapsed":
        return (f"{name} {row.total:.0f}: no longer in response on {confirmations} scores in a "
                f"row{after}")
    if kind in ("fading", "fading_after_booster"):
        return (f"{name} mean of the last two scores {row.mean2:.1f} is "
                f"{row.mean2 - row.reference:.1f} points above the best two-score mean since "
                f"the response{after} ({row.reference:.1f}; more than the reliable change of "
                f"{points:g})")
    if kind == "not_responding":
        pct = "" if pd.isna(row.pct_change) else f" ({row.pct_change:+.0%} from baseline)"
        return (f"{name} {row.total:.0f}{pct}: no response "
                + (f"since booster {row.episode}" if row.episode else "by the end of induction"))
    return ""
