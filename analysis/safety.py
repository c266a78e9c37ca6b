"""Session safety and tolerability: per session, per course and per cohort (pure, no I/O).

``safety-reference.md`` is the spec. Every threshold is a :class:`analysis.Settings` field
(``pre_dose_systolic_above`` …). Inputs are tidy frames:

* ``sessions``: the dosing sessions (kind ``dosing`` or ``booster``) with ``patient_id``,
  ``session_at``, ``route``, ``dose_mg`` and optionally ``weight_kg``, ``course_id``,
  ``dose_index`` and ``kind`` (as :attr:`analysis.Alignment.sessions` carries them);
* ``monitoring``: one row per measurement, ``patient_id``, ``session_at``, ``point`` (``pre`` |
  ``post`` | ``discharge``), ``minutes_after_dose``, ``systolic``, ``diastolic`` (mmHg),
  ``heart_rate`` (bpm), ``spo2`` (%), ``sedation_moaas`` (0–5), ``dissociation`` and
  ``dissociation_scale`` (``CADSS`` 0–92 | ``0-10``); any measure may be missing;
* ``events``: ``patient_id``, ``session_at``, ``event``, ``severity``, ``serious``,
  ``resolved_before_discharge``.

Rules (per session)
-------------------
* **Pre-dose blood pressure elevated**: the latest pre-dose systolic above 140 or diastolic above
  90 mmHg. Missing (None) without a pre-dose value.
* **Excursion**: after the dose (``post`` and ``discharge`` rows), systolic ≥ 180 or diastolic
  ≥ 110, or a rise from the latest pre-dose value of ≥ 40 systolic or ≥ 25 diastolic. True as
  soon as any part is met; False only when all four values (pre and post, systolic and
  diastolic) are known; None otherwise ("the record cannot tell").
* **Tachycardia** (heart rate > 110), **desaturation** (SpO2 < 92), **sedated** (MOAA/S ≤ 3):
  after the dose; None without a post-dose value of that measure.
* **Marked dissociation**: the session's peak on the CADSS above 4; a 0–10 rating has no
  validated cut, so the flag stays None for it unless the clinic sets
  ``marked_dissociation_0_10_above``.
* **Monitoring complete**: a pre-dose systolic and diastolic, a blood pressure at least
  ``post_dose_check_minutes`` (30) after the dose, and discharge no earlier than the route's
  ``discharge_minutes`` (esketamine: 120). Never None: a missing record is an incomplete one,
  and ``incomplete_reason`` says which part is missing.
* ``minutes_to_discharge``: the latest ``discharge`` row's minutes after the dose.
* Adverse events are counted as reported (no events row: none reported); ``serious_event`` and
  ``severe_event`` are True when any event of the session is serious / severe.

Cohort rates
------------
:func:`safety_rates` gives the share of sessions (or courses) with each flag, with a Wilson
interval. Sessions of one patient are not independent (a patient who becomes hypertensive does
so at most sessions), so the interval is computed on the **effective sample size**
``n / deff``, where the design effect ``deff`` is the ratio of the cluster-robust variance of
the proportion (patients as clusters, the ratio estimator's linearisation; Kish 1965,
Cochran 1977 §6.11) to the binomial one, ``sum((k_i - p n_i)^2) / (n p (1 - p))``, floored
at 1. With one session per patient it is the
plain Wilson interval. Small cells are decided by :func:`analysis.suppression.withhold_rates`
on ``k_patients`` / ``nk_patients`` (patients with and without the flag) as well as on counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis import schemas as S
from analysis.cohort import dose_band, wilson_interval
from analysis.settings import Settings

__all__ = ["SESSION_FIELDS", "SAFETY_OUTCOMES", "SAFETY_BREAKDOWNS", "session_safety",
           "dose_band", "course_tolerance", "safety_rates", "serious_events",
           "discharge_summary", "clustered_wilson", "session_number_label", "session_signals",
           "flag_values"]

#: Fields of one session's safety record (``kap-outcomes safety --json``), in order.
SESSION_FIELDS = ("patient_id", "session_at", "pre_bp_elevated", "bp_excursion",
                  "max_systolic_rise", "tachycardia", "desaturation", "sedated",
                  "marked_dissociation", "monitoring_complete", "minutes_to_discharge",
                  "adverse_events", "serious_event")

#: Session flags rated by :func:`safety_rates`, in the order pages show them.
SAFETY_OUTCOMES = ("bp_excursion", "any_adverse_event", "sedated", "marked_dissociation",
                   "tachycardia", "desaturation", "pre_bp_elevated", "severe_or_serious",
                   "monitoring_complete")

#: Breakdowns of the cohort rates (periods, ``month`` and ``quarter``, are asked for apart).
SAFETY_BREAKDOWNS = ("route", "dose_band", "session_number")

_POST = ("post", "discharge")


def _latest(frame: pd.DataFrame, col: str, key: list[str]) -> pd.Series:
    """The value of ``col`` at the largest ``minutes_after_dose`` with a value, per key."""
    f = frame[frame[col].notna()].sort_values("minutes_after_dose", kind="stable")
    return f.groupby(key, sort=False)[col].last()


def session_number_label(number: pd.Series, *, top: int = 6) -> pd.Series:
    """``"1"`` … ``"5"``, ``"6+"``: a session's place among its course's doses.

    >>> session_number_label(pd.Series([1, 6, 9, None])).tolist()
    ['1', '6+', '6+', None]
    """
    n = pd.to_numeric(number, errors="coerce")
    out = np.where(n >= top, f"{top}+", n.astype("Int64").astype(str))
    return pd.Series(np.where(n.isna(), None, out), index=number.index, dtype=object)


def session_safety(sessions: pd.DataFrame, monitoring: pd.DataFrame, events: pd.DataFrame,
                   *, settings: Settings | None = None) -> pd.DataFrame:
    """One safety record per dosing session (see the module notes for every rule).

    Returns the :data:`SESSION_FIELDS` plus ``course_id``, ``session_number``, ``kind``,
    ``route``, ``dose_mg``, ``weight_kg``, ``mg_per_kg``, ``dose_band``, ``pre_systolic``,
    ``pre_diastolic``, ``peak_systolic``, ``peak_diastolic``, ``max_diastolic_rise``,
    ``peak_heart_rate``, ``min_spo2``, ``min_moaas``, ``peak_dissociation``,
    ``dissociation_scale``, ``has_monitoring``, ``incomplete_reason``, ``severe_event``,
    ``any_adverse_event``, ``severe_or_serious``, ``grave_events`` (the severe or serious events
    in words, or None). Flags are nullable booleans (None: the record
    cannot tell); measures are floats (NaN: not recorded).

    >>> s = pd.DataFrame({"patient_id": ["A"], "session_at": [pd.Timestamp("2025-01-06 10:00")],
    ...                   "kind": ["dosing"], "route": ["IN"], "dose_mg": [56.0]})
    >>> m = pd.DataFrame({"patient_id": "A", "session_at": pd.Timestamp("2025-01-06 10:00"),
    ...                   "point": ["pre", "post", "discharge"],
    ...                   "minutes_after_dose": [-5.0, 40.0, 125.0],
    ...                   "systolic": [128.0, 171.0, 130.0], "diastolic": [80.0, 96.0, 82.0]})
    >>> r = session_safety(s, m, pd.DataFrame()).iloc[0]
    >>> bool(r.bp_excursion), float(r.max_systolic_rise), bool(r.monitoring_complete)
    (True, 43.0, True)
    """
    settings = settings or Settings()
    key = [S.PATIENT_ID, S.SESSION_AT]
    s = sessions
    if S.KIND in s.columns:
        s = s[s[S.KIND].isin(S.DOSING_KINDS)]
    out = s.reset_index(drop=True).copy()
    for col in (S.ROUTE, S.DOSE_MG, S.WEIGHT_KG, S.COURSE_ID, "dose_index", S.KIND):
        if col not in out.columns:
            out[col] = np.nan if col in (S.DOSE_MG, S.WEIGHT_KG, "dose_index") else None
    out = out[key + [S.COURSE_ID, "dose_index", S.KIND, S.ROUTE, S.DOSE_MG, S.WEIGHT_KG]].rename(
        columns={"dose_index": "session_number"})
    out[S.WEIGHT_KG] = pd.to_numeric(out[S.WEIGHT_KG], errors="coerce").astype(float)
    out[S.DOSE_MG] = pd.to_numeric(out[S.DOSE_MG], errors="coerce").astype(float)
    out["mg_per_kg"] = out[S.DOSE_MG] / out[S.WEIGHT_KG].where(out[S.WEIGHT_KG] > 0)
    out["dose_band"] = dose_band(out[S.ROUTE], out[S.DOSE_MG], out[S.WEIGHT_KG],
                                 settings=settings)
    idx = pd.MultiIndex.from_frame(out[key])

    m = _monitoring_frame(monitoring)
    pre = m[m["point"] == "pre"]
    post = m[m["point"].isin(_POST)]

    def per_session(series: pd.Series) -> np.ndarray:
        return series.reindex(idx).to_numpy(dtype=float)

    pre_sys = per_session(_latest(pre, "systolic", key))
    pre_dia = per_session(_latest(pre, "diastolic", key))
    grp = post.groupby(key, sort=False)
    peak_sys = per_session(grp["systolic"].max())
    peak_dia = per_session(grp["diastolic"].max())
    peak_hr = per_session(grp["heart_rate"].max())
    min_spo2 = per_session(grp["spo2"].min())
    min_moaas = per_session(grp["sedation_moaas"].min())
    bp_late = post[(post["systolic"].notna() | post["diastolic"].notna())
                   & (post["minutes_after_dose"] >= settings.post_dose_check_minutes)]
    has_late_bp = per_session(bp_late.groupby(key, sort=False).size()) > 0
    discharge = per_session(m[m["point"] == "discharge"].groupby(key, sort=False)[
        "minutes_after_dose"].max())
    recorded = per_session(m.groupby(key, sort=False).size()) > 0

    out["pre_systolic"], out["pre_diastolic"] = pre_sys, pre_dia
    out["peak_systolic"], out["peak_diastolic"] = peak_sys, peak_dia
    out["max_systolic_rise"] = peak_sys - pre_sys
    out["max_diastolic_rise"] = peak_dia - pre_dia
    out["peak_heart_rate"], out["min_spo2"], out["min_moaas"] = peak_hr, min_spo2, min_moaas

    t = settings
    out["pre_bp_elevated"] = _flag_any([(pre_sys, pre_sys > t.pre_dose_systolic_above),
                                        (pre_dia, pre_dia > t.pre_dose_diastolic_above)],
                                       all_known=True)
    rise_s, rise_d = out["max_systolic_rise"].to_numpy(), out["max_diastolic_rise"].to_numpy()
    out["bp_excursion"] = _flag_any([
        (peak_sys, peak_sys >= t.excursion_systolic_at),
        (peak_dia, peak_dia >= t.excursion_diastolic_at),
        (rise_s, rise_s >= t.excursion_systolic_rise),
        (rise_d, rise_d >= t.excursion_diastolic_rise)], all_known=True)
    out["tachycardia"] = _flag_any([(peak_hr, peak_hr > t.tachycardia_above)])
    out["desaturation"] = _flag_any([(min_spo2, min_spo2 < t.desaturation_below)])
    out["sedated"] = _flag_any([(min_moaas, min_moaas <= t.sedated_moaas_at_most)])
    out = _dissociation(out, m, idx, settings)

    # the route's minimum observation, looked up once per distinct route
    route_code, routes = pd.factorize(out[S.ROUTE])
    minimum = np.array([settings.discharge_minimum(r if isinstance(r, str) else None)
                        for r in routes] + [settings.discharge_minimum(None)],
                       dtype=float)[route_code]
    has_pre_bp = ~np.isnan(pre_sys) & ~np.isnan(pre_dia)
    long_enough = discharge >= minimum
    out["minutes_to_discharge"] = discharge
    out["has_monitoring"] = recorded
    out["monitoring_complete"] = pd.array(has_pre_bp & has_late_bp & long_enough,
                                          dtype="boolean")
    reasons = np.select(
        [~recorded, ~has_pre_bp, ~has_late_bp, np.isnan(discharge), ~long_enough],
        ["no monitoring record", "no pre-dose blood pressure",
         f"no blood pressure {settings.post_dose_check_minutes:g}+ min after the dose",
         "no discharge time", "discharged before the minimum observation"], default="")
    out["incomplete_reason"] = reasons

    ev = _events_frame(events)
    ev["_severe"] = ev["severity"].eq("severe").to_numpy(dtype=bool)
    counts = ev.groupby(key, sort=False).agg(
        n=("event", "size"), serious=("serious", "any"), severe=("_severe", "any"))
    counts = counts.reindex(idx)
    out["adverse_events"] = counts["n"].fillna(0).astype(int).to_numpy()
    out["serious_event"] = pd.array(counts["serious"].fillna(False).astype(bool).to_numpy(),
                                    dtype="boolean")
    out["severe_event"] = pd.array(counts["severe"].fillna(False).astype(bool).to_numpy(),
                                   dtype="boolean")
    grave = ev[ev["serious"] | ev["_severe"]]
    if len(grave):
        words = (grave["event"].astype(str).str.replace("_", " ", regex=False) + " ("
                 + grave["severity"].astype(str)
                 + np.where(grave["serious"], ", serious", "")
                 + grave["resolved_before_discharge"].map(
                     {True: ", resolved before discharge",
                      False: ", not resolved before discharge"}).fillna("").astype(str)
                 + ")") if "resolved_before_discharge" in grave.columns else grave["event"]
        said = words.groupby([grave[S.PATIENT_ID], grave[S.SESSION_AT]], sort=False).agg(
            "; ".join)
        out["grave_events"] = said.reindex(idx).to_numpy(dtype=object)
    else:
        out["grave_events"] = None
    out["any_adverse_event"] = pd.array(out["adverse_events"].to_numpy() > 0, dtype="boolean")
    out["severe_or_serious"] = out["serious_event"] | out["severe_event"]
    return out


def _flag_any(parts: list[tuple[np.ndarray, np.ndarray]], *, all_known: bool = False
              ) -> pd.arrays.BooleanArray:
    """True where any part is met (on a known value); False where none is met and the values
    are known (all of them if ``all_known``, else any); NA otherwise."""
    values = np.column_stack([np.asarray(v, dtype=float) for v, _ in parts])
    hits = np.column_stack([np.asarray(h, dtype=bool) & ~np.isnan(np.asarray(v, dtype=float))
                            for v, h in parts])
    known = ~np.isnan(values)
    hit = hits.any(axis=1)
    decided = hit | (known.all(axis=1) if all_known else known.any(axis=1))
    return pd.arrays.BooleanArray(hit, ~decided)


def _monitoring_frame(monitoring: pd.DataFrame) -> pd.DataFrame:
    cols = {"point": object, "minutes_after_dose": float, "systolic": float, "diastolic": float,
            "heart_rate": float, "spo2": float, "sedation_moaas": float, "dissociation": float,
            "dissociation_scale": object}
    m = monitoring.copy() if len(monitoring) else pd.DataFrame(
        {S.PATIENT_ID: pd.Series(dtype=object), S.SESSION_AT: pd.Series(dtype="datetime64[ns]")})
    for col, kind in cols.items():
        if col not in m.columns:
            m[col] = np.nan if kind is float else None
        elif kind is float:
            m[col] = pd.to_numeric(m[col], errors="coerce").astype(float)
    return m


def _events_frame(events: pd.DataFrame) -> pd.DataFrame:
    e = events.copy() if len(events) else pd.DataFrame(
        {S.PATIENT_ID: pd.Series(dtype=object), S.SESSION_AT: pd.Series(dtype="datetime64[ns]"),
         "event": pd.Series(dtype=object), "severity": pd.Series(dtype=object),
         "serious": pd.Series(dtype=bool)})
    e["serious"] = e["serious"].astype("boolean").fillna(False).astype(bool)
    return e


def _dissociation(out: pd.DataFrame, m: pd.DataFrame, idx: pd.MultiIndex,
                  settings: Settings) -> pd.DataFrame:
    """Peak dissociation per session (CADSS preferred when both scales were recorded) and the
    marked-dissociation flag."""
    key = [S.PATIENT_ID, S.SESSION_AT]
    d = m[m["dissociation"].notna()].copy()
    d["_cadss"] = (d["dissociation_scale"] == "CADSS").astype(int)
    d = d.sort_values(["_cadss", "dissociation"], kind="stable")
    last = d.groupby(key, sort=False)[["dissociation", "dissociation_scale"]].last()
    # the peak within the preferred scale
    peak = last.reindex(idx)
    out["peak_dissociation"] = peak["dissociation"].to_numpy(dtype=float)
    out["dissociation_scale"] = peak["dissociation_scale"].to_numpy(dtype=object)
    value = out["peak_dissociation"].to_numpy()
    cadss = out["dissociation_scale"].to_numpy() == "CADSS"
    ten = out["dissociation_scale"].to_numpy() == "0-10"
    cut10 = settings.marked_dissociation_0_10_above
    hit = (cadss & (value > settings.marked_dissociation_cadss_above)) | (
        ten & (cut10 is not None) & (value > (cut10 if cut10 is not None else np.inf)))
    known = cadss | (ten & (cut10 is not None))
    out["marked_dissociation"] = pd.arrays.BooleanArray(hit & known, ~known)
    return out


def course_tolerance(table: pd.DataFrame) -> pd.DataFrame:
    """How dissociation and the blood-pressure rise change across a course's sessions.

    ``table`` is :func:`session_safety`'s output. Per (patient, course): ``sessions``,
    ``events_per_session``, and for ``peak_dissociation`` and ``max_systolic_rise`` the first
    and last recorded value and the Theil–Sen slope per session (``scipy.stats.theilslopes``,
    robust to one odd session; NaN with fewer than 3 recorded sessions). A negative
    dissociation slope is tolerance building; the 0–10 and CADSS scales are never mixed (a
    course's dissociation uses its first session's scale).

    >>> t = pd.DataFrame({"patient_id": "A", "course_id": "1", "session_number": [1, 2, 3, 4],
    ...                   "session_at": pd.date_range("2025-01-06", periods=4, freq="3D"),
    ...                   "peak_dissociation": [20.0, 14.0, 9.0, 6.0],
    ...                   "dissociation_scale": "CADSS",
    ...                   "max_systolic_rise": [22.0, 18.0, 25.0, 16.0], "adverse_events": [1, 0, 0, 0]})
    >>> r = course_tolerance(t).iloc[0]
    >>> round(float(r.dissociation_slope), 4), float(r.dissociation_first), float(r.dissociation_last)
    (-4.8333, 20.0, 6.0)
    """
    cols = [S.PATIENT_ID, S.COURSE_ID]
    rows = []
    t = table.sort_values([S.PATIENT_ID, S.SESSION_AT], kind="stable")
    for (pid, course), g in t.groupby(cols, sort=False, dropna=False):
        row = {S.PATIENT_ID: pid, S.COURSE_ID: course, "sessions": len(g),
               "events_per_session": float(g["adverse_events"].mean())}
        x_all = np.arange(1, len(g) + 1, dtype=float)
        scale = g["dissociation_scale"].dropna()
        same = g["dissociation_scale"] == (scale.iloc[0] if len(scale) else None)
        for name, col, keep in (("dissociation", "peak_dissociation", same.to_numpy()),
                                ("systolic_rise", "max_systolic_rise", np.ones(len(g), bool))):
            y = g[col].to_numpy(dtype=float)
            ok = keep & ~np.isnan(y)
            row[f"{name}_first"] = y[ok][0] if ok.any() else np.nan
            row[f"{name}_last"] = y[ok][-1] if ok.any() else np.nan
            row[f"{name}_slope"] = (float(stats.theilslopes(y[ok], x_all[ok]).slope)
                                    if ok.sum() >= 3 else np.nan)
        row["dissociation_scale"] = scale.iloc[0] if len(scale) else None
        rows.append(row)
    return pd.DataFrame(rows, columns=cols + [
        "sessions", "events_per_session", "dissociation_first", "dissociation_last",
        "dissociation_slope", "systolic_rise_first", "systolic_rise_last",
        "systolic_rise_slope", "dissociation_scale"])


def clustered_wilson(k: np.ndarray, n: np.ndarray, deff: np.ndarray, *,
                     confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson interval on the effective sample size ``n / deff`` (same observed proportion).

    >>> low, high = clustered_wilson(np.array([6]), np.array([10]), np.array([1.0]))
    >>> round(float(low[0]), 5), round(float(high[0]), 5)   # plain Wilson when deff = 1
    (0.31267, 0.83182)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    d = np.maximum(np.asarray(deff, dtype=float), 1.0)
    n_eff = n / d
    with np.errstate(invalid="ignore", divide="ignore"):
        k_eff = np.where(n > 0, k / n, np.nan) * n_eff
    return wilson_interval(k_eff, n_eff, confidence_level=confidence_level)


def flag_values(flag: pd.Series) -> pd.Series:
    """A flag as 1.0 / 0.0 / NaN (cannot tell), whatever it was stored as (a float column is
    taken as it is).

    >>> flag_values(pd.Series(pd.array([True, False, None], dtype="boolean"))).tolist()
    [1.0, 0.0, nan]
    """
    if flag.dtype == float:
        return flag
    return pd.Series(flag.astype("boolean").to_numpy(dtype=float, na_value=np.nan),
                     index=flag.index, name=flag.name)


#: Course-level flags that need every session (the others: any session).
_ALL_SESSIONS = ("monitoring_complete",)


def safety_rates(table: pd.DataFrame, *, by: str | None = None, unit: str = "session",
                 outcomes: Sequence[str] = SAFETY_OUTCOMES,
                 settings: Settings | None = None) -> pd.DataFrame:
    """Share of sessions (``unit="session"``) or courses (``"course"``) with each flag.

    A course has a flag when any of its sessions has it (False when none has and at least one
    session could tell); a course's monitoring is complete when every session's is. Returns ``by`` (if given), ``outcome``, ``k``, ``n``, ``n_patients``,
    ``k_patients``, ``nk_patients`` (patients with / without the flag in the cell), ``rate``,
    ``deff``, ``ci_low``, ``ci_high`` and ``instrument`` (``"session"`` or ``"course"``: the set
    key :func:`analysis.suppression.withhold_rates` groups by).

    >>> t = pd.DataFrame({"patient_id": ["A", "A", "B", "C"], "course_id": "1",
    ...                   "bp_excursion": pd.array([True, True, False, None], dtype="boolean")})
    >>> r = safety_rates(t, outcomes=["bp_excursion"]).iloc[0]
    >>> int(r.k), int(r.n), int(r.n_patients), int(r.k_patients), int(r.nk_patients)
    (2, 3, 2, 1, 1)
    """
    settings = settings or Settings()
    keys = [by] if by else []
    columns = keys + ["outcome", "k", "n", "n_patients", "k_patients", "nk_patients", "rate",
                      "deff", "ci_low", "ci_high", "instrument"]
    # integer codes once (patients, groups, courses): no string column is melted or regrouped
    patient, _ = pd.factorize(table[S.PATIENT_ID])
    if by == "session_number":
        group_values = session_number_label(table[by])
    elif by == "month":
        group_values = table[S.SESSION_AT].dt.to_period("M").astype(str)
    elif by == "quarter":
        group_values = table[S.SESSION_AT].dt.to_period("Q").astype(str)
    elif by:
        group_values = table[by]
    if by:
        group, group_names = pd.factorize(group_values, use_na_sentinel=True)
    else:
        group, group_names = np.zeros(len(table), dtype=np.int64), np.array([None])
    values = {o: flag_values(table[o]).to_numpy() for o in outcomes}
    if unit == "course":
        # one row per course: any session (max over known 0/1), every session (min) for the
        # monitoring, NaN when no session could tell; the course's group is its first session's
        course_code, _ = pd.factorize(table[S.COURSE_ID], use_na_sentinel=False)
        course, _ = pd.factorize(patient.astype(np.int64) * (int(course_code.max(initial=0)) + 1)
                                 + course_code)
        order = np.argsort(table[S.SESSION_AT].to_numpy(), kind="stable")
        frame = pd.DataFrame({"c": course[order], "p": patient[order], "g": group[order],
                              **{o: v[order] for o, v in values.items()}})
        rolled = frame.groupby("c", sort=False).agg(
            p=("p", "first"), g=("g", "first"),
            **{o: (o, "min" if o in _ALL_SESSIONS else "max") for o in outcomes})
        patient, group = rolled["p"].to_numpy(), rolled["g"].to_numpy()
        values = {o: rolled[o].to_numpy(dtype=float) for o in outcomes}
    rows = []
    # (cell, patient) pairs and their cells coded once for every flag: per flag only
    # bincounts (the Safety page asks for some 60 rate sets of 500k sessions)
    n_codes = int(np.max(patient, initial=-1)) + 1
    at, pairs = pd.factorize(np.where(group >= 0, group.astype(np.int64) * n_codes + patient,
                                      -1))
    cells, of = np.unique(pairs // max(n_codes, 1), return_inverse=True)
    in_cell = pairs >= 0
    for j, o in enumerate(outcomes):
        v = values[o]
        known = ~np.isnan(v)
        # per pair: k_i flagged of n_i known; then per cell
        k_i = np.bincount(at, weights=np.where(known, v, 0.0), minlength=len(pairs))
        n_i = np.bincount(at, weights=known, minlength=len(pairs))
        pick = in_cell & (n_i > 0)
        if not pick.any():
            continue
        cell = of[pick]
        k_i, n_i = k_i[pick], n_i[pick]
        k = np.bincount(cell, weights=k_i, minlength=len(cells))
        n = np.bincount(cell, weights=n_i, minlength=len(cells))
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = k / n
        # design effect: sum over patients of (k_i - p n_i)^2 over n p (1 - p)
        sq = np.bincount(cell, weights=(k_i - rate[cell] * n_i) ** 2, minlength=len(cells))
        binom = n * rate * (1 - rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            deff = np.where(binom > 0, sq / np.where(binom > 0, binom, 1), 1.0)
        has = n > 0
        rows.append(pd.DataFrame({
            "g": cells, "k": k, "n": n,
            "n_patients": np.bincount(cell, minlength=len(cells)),
            "k_patients": np.bincount(cell, weights=k_i > 0, minlength=len(cells)),
            "nk_patients": np.bincount(cell, weights=k_i < n_i, minlength=len(cells)),
            "_order": j, "rate": rate, "deff": np.maximum(deff, 1.0)})[has])
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.concat(rows, ignore_index=True)
    out["outcome"] = np.asarray(list(outcomes), dtype=object)[out["_order"].to_numpy()]
    if by:
        out[by] = np.asarray(group_names, dtype=object)[out["g"].to_numpy()]
    for col in ("k", "n", "n_patients", "k_patients", "nk_patients"):
        out[col] = out[col].astype(int)
    out["ci_low"], out["ci_high"] = clustered_wilson(
        out["k"].to_numpy(), out["n"].to_numpy(), out["deff"].to_numpy(),
        confidence_level=settings.confidence_level)
    out["instrument"] = unit
    out = out.sort_values(keys + ["_order"], kind="stable")
    return out[columns].reset_index(drop=True)


def serious_events(table: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Every serious or severe adverse event with its session (route, dose, session number,
    course), newest first: the clinic's own safety review (never withheld on screen for the
    roles allowed to see patients; exports count them instead)."""
    ev = _events_frame(events)
    ev = ev[ev["serious"] | (ev["severity"] == "severe")]
    cols = [S.PATIENT_ID, S.SESSION_AT, S.COURSE_ID, "session_number", S.ROUTE, S.DOSE_MG,
            "dose_band"]
    out = ev.merge(table[cols], on=[S.PATIENT_ID, S.SESSION_AT], how="left")
    keep = [S.PATIENT_ID, S.SESSION_AT, "event", "severity", "serious",
            "resolved_before_discharge", S.COURSE_ID, "session_number", S.ROUTE, S.DOSE_MG,
            "dose_band"]
    for col in keep:
        if col not in out.columns:
            out[col] = None
    return out[keep].sort_values(S.SESSION_AT, ascending=False, kind="stable").reset_index(
        drop=True)


def discharge_summary(table: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Median and quartiles of minutes to discharge, per group (sessions with a discharge
    time): ``by``, ``sessions``, ``n_patients``, ``median``, ``q1``, ``q3``.

    >>> t = pd.DataFrame({"patient_id": list("ABCD"), "route": "IN",
    ...                   "minutes_to_discharge": [120.0, 130.0, 150.0, np.nan]})
    >>> r = discharge_summary(t, by="route").iloc[0]
    >>> int(r.sessions), float(r["median"]), float(r.q1), float(r.q3)
    (3, 130.0, 125.0, 140.0)
    """
    t = table[table["minutes_to_discharge"].notna()]
    keys = [by] if by else []
    if by:
        t = t[t[by].notna()]
    if t.empty:
        return pd.DataFrame(columns=keys + ["sessions", "n_patients", "median", "q1", "q3"])
    g = t.groupby(keys, sort=True) if keys else t.assign(_all="all").groupby("_all")
    out = g.agg(sessions=("minutes_to_discharge", "size"),
                n_patients=(S.PATIENT_ID, "nunique"),
                median=("minutes_to_discharge", "median"),
                q1=("minutes_to_discharge", lambda v: v.quantile(0.25)),
                q3=("minutes_to_discharge", lambda v: v.quantile(0.75))).reset_index()
    return out.drop(columns=["_all"], errors="ignore")


def session_signals(table: pd.DataFrame, *, as_of: pd.Timestamp,
                    settings: Settings | None = None) -> pd.DataFrame:
    """Signals raised by dosing sessions, in :func:`analysis.signals.current_signals`' shape.

    * ``session_event``: a session within ``active_days`` before ``as_of`` with a severe or a
      serious adverse event (a safety signal, listed with item 9's);
    * ``missing_bp_check``: a session within ``missing_bp_signal_days`` with no pre-dose blood
      pressure or none ``post_dose_check_minutes`` or more after the dose, when the clinic
      records monitoring at all (some session has a record: a clinic that imports no
      monitoring is not flooded) — the record can still be completed.

    >>> t = pd.DataFrame({"patient_id": ["A", "B"], "course_id": "1",
    ...     "session_at": pd.to_datetime(["2025-03-01 10:00", "2025-03-09 10:00"]),
    ...     "route": "IV", "severe_or_serious": [True, False], "has_monitoring": True,
    ...     "incomplete_reason": ["", "no pre-dose blood pressure"]})
    >>> session_signals(t, as_of=pd.Timestamp("2025-03-10"))["kind"].tolist()
    ['session_event', 'missing_bp_check']
    """
    settings = settings or Settings()
    as_of = pd.Timestamp(as_of)
    cols = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "kind", "label", "priority", "score_at",
            "day", "reason"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    t = table[table[S.SESSION_AT] <= as_of + pd.Timedelta(days=1)]
    recent = t[S.SESSION_AT] >= as_of - pd.Timedelta(days=settings.active_days)
    ev = t[recent & t["severe_or_serious"].fillna(False).astype(bool)]
    bp_reasons = ("no pre-dose blood pressure",
                  f"no blood pressure {settings.post_dose_check_minutes:g}+ min after the dose")
    records = bool(t["has_monitoring"].any())
    fresh = t[S.SESSION_AT] >= as_of - pd.Timedelta(days=settings.missing_bp_signal_days)
    bp = t[fresh & t["incomplete_reason"].isin(bp_reasons)] if records else t.iloc[0:0]

    def when(row) -> str:
        route = row[S.ROUTE] if isinstance(row[S.ROUTE], str) else "dosing"
        return f"the {route} session of {row[S.SESSION_AT]:%Y-%m-%d %H:%M}"

    rows = []
    for _, r in ev.iterrows():
        what = r.get("grave_events")
        what = what if isinstance(what, str) and what else "a severe or serious adverse event"
        rows.append((r, "session_event", f"{what[:1].upper()}{what[1:]} at {when(r)}: review "
                     "the session record and the patient's plan."))
    for _, r in bp.iterrows():
        rows.append((r, "missing_bp_check", f"{r['incomplete_reason'].capitalize()} at "
                     f"{when(r)}: complete the record if the check was done."))
    out = pd.DataFrame({
        S.PATIENT_ID: [r[S.PATIENT_ID] for r, _, _ in rows],
        S.COURSE_ID: [r.get(S.COURSE_ID) for r, _, _ in rows],
        S.INSTRUMENT: "session", "kind": [k for _, k, _ in rows], "label": None,
        "priority": 0, "score_at": [r[S.SESSION_AT] for r, _, _ in rows], "day": np.nan,
        "reason": [text for _, _, text in rows]}, columns=cols)
    return out
