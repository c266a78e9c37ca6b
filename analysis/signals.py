"""Clinical signals from scores alone: safety, off-track in induction, fading response.

Rules (issue "Clinical signals"; thresholds from :class:`analysis.settings.Settings` and
:func:`analysis.expected.expected_course`):

* **Safety** — PHQ-9 item 9 at the patient's latest PHQ-9: >= 1 ``review``, >= 2
  ``high_priority`` (Simon et al. 2013). Always listed first.
* **Off-track** — the latest score of a course still in induction lies above the upper percentile
  (default 90th) of the clinic's expected course for patients who started in the same severity
  band, at that day bin (Finch, Lambert & Schaalje 2001 style, percentile-band method of
  ``clinical-reference.md`` §5). Not raised where the clinic's history is too small (the band
  needs ``min_courses`` courses).
* **Fading** — in a course that has responded and has no confirmed relapse yet, the latest
  score (before any booster) is either a reliable deterioration from the best score since the
  first dose (``total - best >= reliable_change_points``, Jacobson & Truax 1991) or the first
  score no longer in response after a response (one non-response: a relapse needs
  ``relapse_confirmations``).

:func:`fading_history` evaluates the fading rule at every score, as it would have fired on that
day, for back-testing against known relapses and boosters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.alignment import Alignment
from analysis.cohort import bin_days
from analysis.expected import baseline_band, expected_course

__all__ = ["SIGNAL_KINDS", "current_signals", "fading_history"]

#: Signal kinds, most urgent first.
SIGNAL_KINDS = ("safety_high_priority", "safety_review", "fading", "off_track")


def fading_history(alignment: Alignment) -> pd.DataFrame:
    """The fading rule evaluated at every usable score of every responding course.

    Returns
    -------
    DataFrame, one row per score after the first response and before the first booster:
    ``patient_id``, ``course_id``, ``instrument``, ``day``, ``total``, ``best`` (lowest total since
    the first dose, up to this score), ``deteriorated`` (reliable deterioration from best),
    ``lost_response`` (not a response, the previous score was), ``fading`` (either), ``relapsed``
    (a confirmed relapse has happened by this score).
    """
    settings = alignment.settings
    a = alignment.assessments
    a = a[a["usable"] & (a[S.DAY] > 0) & (a["booster_number"] == 0)
          & a[S.BASELINE_TOTAL].notna()]
    key = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]
    a = a.sort_values(key + [S.DAY], kind="stable")
    g = a.groupby(key, sort=False)
    resp = a[S.IS_RESPONSE].fillna(False).to_numpy(dtype=bool)
    responded_so_far = pd.Series(resp, index=a.index).groupby(
        [a[c] for c in key], sort=False).cummax().to_numpy()
    best = g[S.TOTAL].cummin().to_numpy()
    prev_resp = g[S.IS_RESPONSE].shift(1).fillna(False).to_numpy(dtype=bool)
    rc = a[S.INSTRUMENT].map(dict(settings.reliable_change_points)).to_numpy(dtype=float)
    total = a[S.TOTAL].to_numpy(dtype=float)
    deteriorated = total - best >= rc
    lost = ~resp & prev_resp
    # confirmed relapse: k consecutive non-responses after a response
    k = settings.relapse_confirmations
    nonresp_after = (~resp & responded_so_far).astype(int)
    run = pd.Series(nonresp_after, index=a.index).groupby(
        [a[c] for c in key] + [(pd.Series(nonresp_after, index=a.index) == 0).groupby(
            [a[c] for c in key], sort=False).cumsum()], sort=False).cumsum().to_numpy()
    relapsed = pd.Series(run >= k, index=a.index).groupby(
        [a[c] for c in key], sort=False).cummax().to_numpy()
    out = a[key + [S.DAY, S.TOTAL]].assign(best=best, deteriorated=deteriorated,
                                           lost_response=lost)
    out["fading"] = (deteriorated | lost) & responded_so_far & ~relapsed
    out["relapsed"] = relapsed
    return out[responded_so_far].reset_index(drop=True)


def current_signals(alignment: Alignment, *, upper_percentile: float = 90,
                    min_courses: int = 20) -> pd.DataFrame:
    """Signals at each patient's latest scores (the data's present).

    Returns
    -------
    DataFrame with ``patient_id``, ``course_id``, ``instrument``, ``kind`` (see
    :data:`SIGNAL_KINDS`), ``priority`` (0 = most urgent), ``day`` and ``reason`` (in words),
    sorted by priority then patient.
    """
    a = alignment.assessments
    rows: list[pd.DataFrame] = []
    # safety: the latest PHQ-9 of each patient
    phq = a[(a[S.INSTRUMENT] == "PHQ9") & a["usable"]].sort_values(S.ADMINISTERED_AT)
    latest = phq.drop_duplicates(S.PATIENT_ID, keep="last")
    if "item_9" in latest.columns:
        item9 = pd.to_numeric(latest["item_9"], errors="coerce").astype(float)
        for level, mask in (("safety_high_priority", item9 >= 2),
                            ("safety_review", (item9 >= 1) & (item9 < 2))):
            part = latest[mask.to_numpy()]
            rows.append(pd.DataFrame({
                S.PATIENT_ID: part[S.PATIENT_ID], S.COURSE_ID: part[S.COURSE_ID],
                S.INSTRUMENT: "PHQ9", "kind": level, "day": part[S.DAY],
                "reason": [f"PHQ-9 item 9 = {int(v)} on {d:%Y-%m-%d} (thoughts of being better "
                           "off dead or of self-harm)" for v, d in
                           zip(item9[mask.to_numpy()], part[S.ADMINISTERED_AT], strict=True)]}))
    # fading: the latest pre-booster score of each responding course
    hist = fading_history(alignment)
    last_any = a[a["usable"]].sort_values(S.DAY).drop_duplicates(
        [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT], keep="last")
    last_hist = hist.drop_duplicates([S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT], keep="last")
    last_hist = last_hist.merge(last_any[[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, S.DAY]]
                                .rename(columns={S.DAY: "_latest"}),
                                on=[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT])
    fading = last_hist[last_hist["fading"] & (last_hist[S.DAY] == last_hist["_latest"])]
    rows.append(pd.DataFrame({
        S.PATIENT_ID: fading[S.PATIENT_ID], S.COURSE_ID: fading[S.COURSE_ID],
        S.INSTRUMENT: fading[S.INSTRUMENT], "kind": "fading", "day": fading[S.DAY],
        "reason": [(f"{i} {t:.0f} is {t - b:.0f} points above the best score since the first "
                    f"dose ({b:.0f})" if det else f"{i} {t:.0f} is no longer a response "
                    "(one score; a relapse needs two)")
                   for i, t, b, det in zip(fading[S.INSTRUMENT], fading[S.TOTAL],
                                           fading["best"], fading["deteriorated"], strict=True)]}))
    # off-track: courses whose latest score is in induction and above the upper band
    rows.append(_off_track(alignment, last_any, upper_percentile, min_courses))
    out = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(
        len(r) for r in rows) else pd.DataFrame(
        columns=[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "kind", "day", "reason"])
    out["priority"] = out["kind"].map({k: i for i, k in enumerate(SIGNAL_KINDS)}).astype(int)
    return out.sort_values(["priority", S.PATIENT_ID], kind="stable").reset_index(drop=True)


def _off_track(alignment: Alignment, last_any: pd.DataFrame, upper: float,
               min_courses: int) -> pd.DataFrame:
    parts = []
    induction = last_any[last_any[S.PHASE] == "induction"]
    for code in induction[S.INSTRUMENT].unique():
        bands = expected_course(alignment, instrument=str(code), min_courses=min_courses,
                                percentiles=(10, 50, upper))
        if bands.empty:
            continue
        rows = induction[induction[S.INSTRUMENT] == code].copy()
        rows["baseline_band"] = baseline_band(rows[S.BASELINE_TOTAL], str(code)).to_numpy()
        day = rows[S.DAY].to_numpy(dtype=float)
        idx, inside = bin_days(day, alignment.settings.trajectory_bins)
        rows["bin_order"] = np.where(inside, idx, -1)  # outside every bin: no band matches
        m = rows.merge(bands, on=["baseline_band", "bin_order"], how="inner")
        m = m[m[S.TOTAL] > m["p_high"]]
        parts.append(pd.DataFrame({
            S.PATIENT_ID: m[S.PATIENT_ID], S.COURSE_ID: m[S.COURSE_ID], S.INSTRUMENT: code,
            "kind": "off_track", "day": m[S.DAY],
            "reason": [f"{code} {t:.0f} on day {d:.0f} is above the {upper:.0f}th percentile "
                       f"({p:.0f}) of patients who started {band}" for t, d, p, band in
                       zip(m[S.TOTAL], m[S.DAY], m["p_high"], m["baseline_band"], strict=True)]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
