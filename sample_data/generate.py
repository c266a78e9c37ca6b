"""Seeded generator of a realistic synthetic KAP clinic network (no real patient data).

The shape follows ``clinical-reference.md`` §3:

* 3 clinics with their own mix of routes (IV, IM, IN, SL), 2–4 clinicians each; indications TRD,
  MDD, GAD, PTSD and a comorbid group (TRD with PTSD) assessed on all three instruments.
* Induction of 4–8 doses over 1–4 weeks; about 45% of courses stop after 1–3 doses (real-world
  drop-out); integration sessions after about half of the doses, a preparation session before.
* About 60% of completers are responders whose scores drop within days of the first doses
  (Hull 2022: 62.8% PHQ-9 response; McInnes 2022: 53.6%), non-responders improve a little.
* Responders lose response a median ~3 weeks after induction (Murrough 2013: 18 days; Feder 2021:
  27.5 days); boosters are given mostly when symptoms return (3–14 days after the loss), restore
  response in ~70%, up to three boosters per course.
* ~15% of patients return for a second course; missing items (~2% of itemised forms), same-day
  repeats (~1%) and missing baselines (~5%) are planted on purpose.

``generate(n_patients, seed=...)`` is vectorised over courses, so it scales to 100,000 patients
(about 3 million assessments) for the benchmarks. ``python -m sample_data.generate`` rewrites the
bundled CSV files (300 patients, seed 2025).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SampleData", "generate", "generate_safety", "write_csv", "load_sample", "SAMPLE_DIR",
           "CUTOFF"]

SAMPLE_DIR = Path(__file__).resolve().parent
#: Data cut-off of the generated network: nothing is observed after this date.
CUTOFF = pd.Timestamp("2025-10-31")
_START = pd.Timestamp("2024-01-01")

_CLINICS = {  # clinic -> (route probabilities IV, IM, IN, SL; number of clinicians)
    "north": ((0.7, 0.3, 0.0, 0.0), 4),
    "central": ((0.0, 0.5, 0.0, 0.5), 3),
    "coast": ((0.4, 0.0, 0.6, 0.0), 2),
}
_ROUTES = np.array(["IV", "IM", "IN", "SL"])
_ROUTE_GAP = {"IV": (2, 4), "IM": (3, 7), "IN": (3, 4), "SL": (3, 7)}  # days between doses
_ROUTE_DOSE = {"IV": (0.5, 35.0), "IM": (0.75, 50.0), "IN": (84.0, 0.0), "SL": (200.0, 0.0)}
_INDICATIONS = np.array(["TRD", "MDD", "GAD", "PTSD", "COMORBID"])  # comorbid: TRD + PTSD
_INDICATION_P = np.array([0.38, 0.15, 0.12, 0.2, 0.15])
_INSTR = {"PHQ9": (9, 3), "GAD7": (7, 3), "PCL5": (20, 4)}  # items, item max


@dataclass(frozen=True)
class SampleData:
    """Generated frames in the import formats of ``data-formats.md`` plus the ground truth.

    ``truth`` has one row per course: ``patient_id``, ``course_start``, ``responder``,
    ``loss_day`` (days since the first dose when response starts to fade; NaN for
    non-responders) and ``booster_days`` (a tuple of days since the first dose).
    """

    patients: pd.DataFrame
    sessions: pd.DataFrame
    assessments: pd.DataFrame
    truth: pd.DataFrame
    monitoring: pd.DataFrame | None = None
    adverse_events: pd.DataFrame | None = None


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _patients(n: int, rng: np.random.Generator) -> pd.DataFrame:
    clinic_names = np.array(list(_CLINICS))
    clinic = rng.choice(clinic_names, size=n, p=[0.45, 0.35, 0.2])
    clin_no = np.array([rng.integers(1, _CLINICS[c][1] + 1) for c in clinic_names])
    del clin_no
    n_clin = np.array([_CLINICS[c][1] for c in clinic])
    clinician = np.char.add(np.char.add(np.char.add("clin-", np.char.upper(
        np.array([c[:2] for c in clinic]))), "-"), (rng.integers(0, 1 << 30, n) % n_clin + 1)
        .astype(str))
    indication = rng.choice(_INDICATIONS, size=n, p=_INDICATION_P)
    return pd.DataFrame({
        "patient_id": [f"P{i:06d}" for i in range(1, n + 1)],
        "clinic_id": clinic,
        "clinician_id": clinician,
        # comorbid patients are exported with their primary indication (TRD); they get PCL-5 too
        "indication": np.where(indication == "COMORBID", "TRD", indication),
        "_group": indication,
        "birth_year": rng.integers(1950, 2004, n),
        "sex": rng.choice(np.array(["F", "M", "X"]), size=n, p=[0.55, 0.43, 0.02]),
    })


def generate(n_patients: int = 300, *, seed: int | np.random.Generator | None = 2025,
             with_items: bool = True) -> SampleData:
    """Generate a synthetic clinic network.

    Parameters
    ----------
    n_patients : int
    seed : int, Generator or None, keyword-only
        Same seed, same data.
    with_items : bool, keyword-only
        Give item-level answers for ~70% of forms (off for the largest benchmark sets).

    Returns
    -------
    SampleData
    """
    rng = _rng(seed)
    pats = _patients(n_patients, rng)

    # --- courses -------------------------------------------------------------------------
    n_first = n_patients
    returning = rng.random(n_patients) < 0.15
    course_patient = np.r_[np.arange(n_first), np.nonzero(returning)[0]]
    course_no = np.r_[np.ones(n_first, int), np.full(returning.sum(), 2)]
    n_c = course_patient.size
    span_days = (CUTOFF - pd.Timedelta(days=60) - _START).days
    start1 = rng.integers(0, span_days, n_patients)
    start = np.where(course_no == 1, start1[course_patient],
                     start1[course_patient] + rng.integers(150, 420, n_c))
    keep = start < (CUTOFF - _START).days - 14
    course_patient, course_no, start = course_patient[keep], course_no[keep], start[keep]
    n_c = course_patient.size
    clinic = pats["clinic_id"].to_numpy()[course_patient]
    route = np.empty(n_c, dtype=object)
    for name, (p, _) in _CLINICS.items():
        sel = clinic == name
        route[sel] = rng.choice(_ROUTES, size=sel.sum(), p=p)
    indication = pats["_group"].to_numpy()[course_patient]

    # induction schedule (day offsets of up to 8 doses)
    completes = rng.random(n_c) < 0.55
    n_doses = np.where(completes, rng.integers(4, 9, n_c), rng.integers(1, 4, n_c))
    lo = np.array([_ROUTE_GAP[r][0] for r in route])
    hi = np.array([_ROUTE_GAP[r][1] for r in route])
    gaps = lo[:, None] + np.floor(rng.random((n_c, 7)) * (hi - lo + 1)[:, None])
    dose_day = np.c_[np.zeros(n_c), np.cumsum(gaps, axis=1)]
    dose_mask = np.arange(8)[None, :] < n_doses[:, None]
    ind_end = dose_day[np.arange(n_c), n_doses - 1]

    # response model
    responder = rng.random(n_c) < np.where(completes, 0.72, 0.35)
    e_max = np.where(responder, rng.uniform(0.55, 0.88, n_c), rng.uniform(0.0, 0.38, n_c))
    tau = np.where(responder, rng.uniform(0.7, 3.5, n_c), rng.uniform(3, 10, n_c))
    loss_after_end = rng.exponential(21 / np.log(2), n_c)
    loss_day = np.where(responder, ind_end + loss_after_end, np.nan)
    follow_end = np.where(completes, ind_end + rng.exponential(110, n_c),
                          ind_end + rng.exponential(12, n_c))
    follow_end = np.minimum(follow_end, 240)
    follow_end = np.minimum(follow_end, (CUTOFF - _START).days - start)
    next_start = pd.Series(start).groupby(course_patient).shift(-1).to_numpy()
    follow_end = np.where(np.isnan(next_start), follow_end,
                          np.minimum(follow_end, next_start - start - 31))

    # boosters: mostly when symptoms return; each restores response in ~70%
    boosters = np.full((n_c, 3), np.nan)
    restore = np.zeros((n_c, 3))
    next_loss = loss_day.copy()
    for j in range(3):
        symptomatic = ~np.isnan(next_loss) & (rng.random(n_c) < 0.7)
        scheduled = np.isnan(next_loss) & completes & (rng.random(n_c) < 0.06)
        b = np.where(symptomatic, next_loss + rng.uniform(3, 14, n_c),
                     np.where(scheduled, ind_end + rng.uniform(20, 60, n_c), np.nan))
        prev = ind_end if j == 0 else boosters[:, j - 1]
        b = np.where(np.isnan(prev), np.nan, np.maximum(b, prev + 7))
        b = np.where(b <= follow_end, np.round(b), np.nan)
        boosters[:, j] = b
        restore[:, j] = np.where(rng.random(n_c) < 0.7, rng.uniform(0.75, 1.0, n_c), 0.15)
        next_loss = np.where(~np.isnan(b) & (restore[:, j] > 0.5),
                             b + rng.exponential(30 / np.log(2), n_c), np.nan)
        next_loss = np.where(~np.isnan(next_loss) & (next_loss < follow_end), next_loss, np.nan)

    # --- sessions ------------------------------------------------------------------------
    base_day = _START + pd.to_timedelta(start, unit="D")
    dose_minutes = rng.integers(9 * 60, 16 * 60, (n_c, 8 + 3)) // 15 * 15
    ci, si = np.nonzero(dose_mask)
    sess_course = [ci]
    sess_day = [dose_day[ci, si]]
    sess_kind = [np.full(ci.size, "dosing", dtype=object)]
    sess_min = [dose_minutes[ci, si]]
    bi, bj = np.nonzero(~np.isnan(boosters))
    sess_course.append(bi)
    sess_day.append(boosters[bi, bj])
    sess_kind.append(np.where(rng.random(bi.size) < 0.8, "booster", "dosing").astype(object))
    sess_min.append(dose_minutes[bi, 8 + bj])
    integ = rng.random(ci.size) < 0.5
    sess_course.append(ci[integ])
    sess_day.append(dose_day[ci[integ], si[integ]] + rng.integers(1, 3, integ.sum()))
    sess_kind.append(np.full(integ.sum(), "integration", dtype=object))
    sess_min.append(rng.integers(9 * 60, 17 * 60, integ.sum()) // 30 * 30)
    prep = rng.random(n_c) < 0.85
    sess_course.append(np.nonzero(prep)[0])
    sess_day.append(-rng.integers(2, 10, prep.sum()).astype(float))
    sess_kind.append(np.full(prep.sum(), "preparation", dtype=object))
    sess_min.append(rng.integers(9 * 60, 17 * 60, prep.sum()) // 30 * 30)
    sc = np.concatenate(sess_course)
    sd = np.concatenate(sess_day)
    sk = np.concatenate(sess_kind)
    sm = np.concatenate(sess_min)
    is_dose = np.isin(sk, ["dosing", "booster"])
    s_route = np.where(is_dose, route[sc], None)
    mg_per_kg, fixed = zip(*(_ROUTE_DOSE[r] for r in route), strict=True)
    weight = rng.uniform(55, 100, n_c)
    dose_mg = np.where(np.array(fixed)[sc] > 0, np.round(np.array(mg_per_kg)[sc] * weight[sc]),
                       np.array(mg_per_kg)[sc])
    sessions = pd.DataFrame({
        "patient_id": pats["patient_id"].to_numpy()[course_patient[sc]],
        "session_at": base_day[sc] + pd.to_timedelta(sd, unit="D") + pd.to_timedelta(sm, unit="m"),
        "kind": sk,
        "route": s_route,
        "dose_mg": np.where(is_dose, dose_mg, np.nan),
        # weight-based routes record the weight the dose was computed from
        "weight_kg": np.where(is_dose & np.isin(s_route, ["IV", "IM"]),
                              np.round(weight[sc] * 2) / 2, np.nan),
        "clinician_id": pats["clinician_id"].to_numpy()[course_patient[sc]],
    })
    sessions = sessions.sort_values(["patient_id", "session_at"], kind="stable").reset_index(drop=True)

    # --- assessments ---------------------------------------------------------------------
    slots_day = [-rng.integers(0, 15, n_c).astype(float)]  # baseline
    slots_ok = [rng.random(n_c) > 0.05]
    slots_dose = [np.full(n_c, -1)]
    slots_day.append(np.ones(n_c))                      # the day after the first dose
    slots_ok.append(rng.random(n_c) < 0.55)
    slots_dose.append(np.full(n_c, -1))
    for j in range(1, 8):                               # before each later induction dose
        slots_day.append(dose_day[:, j])
        slots_ok.append(dose_mask[:, j] & (rng.random(n_c) < 0.8))
        slots_dose.append(np.full(n_c, j))
    t = ind_end + rng.integers(3, 8, n_c)
    for _ in range(30):                                 # follow-up every 1–3 weeks
        slots_day.append(t.copy())
        slots_ok.append(t <= follow_end)
        slots_dose.append(np.full(n_c, -1))
        t = t + rng.choice(np.array([7, 7, 7, 10, 14, 14]), n_c)
    for j in range(3):                                  # just before and a week after boosters
        slots_day.append(boosters[:, j])
        slots_ok.append(~np.isnan(boosters[:, j]))
        slots_dose.append(np.full(n_c, 8 + j))
        slots_day.append(boosters[:, j] + rng.integers(5, 10, n_c))
        slots_ok.append(~np.isnan(boosters[:, j]) & (boosters[:, j] + 5 <= follow_end))
        slots_dose.append(np.full(n_c, -1))
    day_m = np.column_stack(slots_day)
    ok_m = np.column_stack(slots_ok)
    dose_m = np.column_stack(slots_dose)
    ac, aj = np.nonzero(ok_m)
    a_day = day_m[ac, aj]
    a_dose_slot = dose_m[ac, aj]
    # times: on dose days 30 min before the dose; elsewhere 60% timed
    dose_time = np.where(a_dose_slot >= 0, dose_minutes[ac, np.clip(a_dose_slot, 0, 10)] - 30, -1)
    timed = np.where(a_dose_slot >= 0, rng.random(ac.size) < 0.7, rng.random(ac.size) < 0.6)
    minutes = np.where(dose_time >= 0, dose_time, rng.integers(8 * 60, 19 * 60, ac.size))
    minutes = np.where(timed, minutes, 0)

    effect = _effect(a_day, e_max[ac], tau[ac], loss_day[ac], boosters[ac], restore[ac])
    phq_base = np.clip(rng.normal(17.5, 4.0, n_c), 6, 27)
    gad_base = np.clip(phq_base * 0.7 + rng.normal(2.5, 3.0, n_c), 4, 21)
    gad_base = np.where(indication == "GAD", np.clip(gad_base + 3, 8, 21), gad_base)
    pcl_base = np.clip(rng.normal(50, 11, n_c), 20, 80)
    frames = []
    for code, base, gets in (
        ("PHQ9", phq_base, np.ones(n_c, bool)),
        ("GAD7", gad_base, rng.random(n_c) < 0.9),
        ("PCL5", pcl_base, np.isin(indication, ["PTSD", "COMORBID"]) | (rng.random(n_c) < 0.2)),
    ):
        n_items, item_max = _INSTR[code]
        sel = gets[ac] & (rng.random(ac.size) < 0.97)
        scale = n_items * item_max
        noise = rng.normal(0, 0.06 * scale, sel.sum())
        total = np.clip(np.round(base[ac[sel]] * (1 - effect[sel]) + noise), 0, scale)
        frames.append(pd.DataFrame({"_c": ac[sel], "_day": a_day[sel], "_min": minutes[sel],
                                    "instrument": code, "total": total}))
    a = pd.concat(frames, ignore_index=True)
    # same-day repeats (~1%): a second form later that day, a point or two apart
    rep = a.sample(frac=0.01, random_state=int(rng.integers(1 << 31)))
    rep = rep.assign(_min=np.maximum(rep["_min"], 8 * 60) + 120,
                     total=np.clip(rep["total"] + rng.choice([-2, -1, 1, 2], len(rep)), 0,
                                   rep["instrument"].map({k: v[0] * v[1] for k, v in
                                                          _INSTR.items()})))
    a = pd.concat([a, rep], ignore_index=True)
    a["patient_id"] = pats["patient_id"].to_numpy()[course_patient[a["_c"].to_numpy()]]
    a["administered_at"] = (base_day[a["_c"].to_numpy()]
                            + pd.to_timedelta(a["_day"].to_numpy(), unit="D")
                            + pd.to_timedelta(a["_min"].to_numpy(), unit="m"))
    a = a[a["administered_at"] <= CUTOFF + pd.Timedelta(days=1)]
    a = a.drop_duplicates(["patient_id", "instrument", "administered_at"])
    assessments = _add_items(a, rng) if with_items else a.assign()
    assessments = assessments.drop(columns=["_c", "_day", "_min"]).sort_values(
        ["patient_id", "administered_at", "instrument"], kind="stable").reset_index(drop=True)
    assessments["total"] = assessments["total"].astype("Int64")

    truth = pd.DataFrame({
        "patient_id": pats["patient_id"].to_numpy()[course_patient],
        "course_start": base_day, "responder": responder, "completed_induction": completes,
        "loss_day": loss_day,
        "booster_days": [tuple(x for x in row if not np.isnan(x)) for row in boosters],
    })
    seed_int = seed if isinstance(seed, int) else 0
    monitoring, events = generate_safety(sessions, seed=seed_int)
    return SampleData(patients=pats.drop(columns="_group"), sessions=sessions,
                      assessments=assessments, truth=truth, monitoring=monitoring,
                      adverse_events=events)


#: Mean peak systolic rise (mmHg), peak CADSS at the first session and the share of sessions
#: sedated (MOAA/S <= 3), by route: IM and IV highest, sublingual lowest.
_ROUTE_SAFETY = {"IV": (14.0, 18.0, 0.10), "IM": (16.0, 22.0, 0.15), "IN": (12.0, 14.0, 0.08),
                 "SL": (8.0, 8.0, 0.03), "PO": (7.0, 6.0, 0.02)}


def generate_safety(sessions: pd.DataFrame, *, seed: int = 2025
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monitoring rows and adverse events for every dosing session (own random stream, so the
    scores of a seed never change with it).

    Most sessions are uneventful. Blood pressure rises to a peak about 40 minutes after the
    dose and falls back by discharge; the rise is larger in patients with a higher baseline.
    Dissociation (CADSS; a 0–10 rating for sublingual sessions, as some clinics record) falls
    over a patient's repeated sessions (tolerance). About 4% of sessions have no record, and
    others miss a pre-dose value, the 30-minute check or the discharge time. Events: nausea,
    dizziness, headache, vomiting, anxiety, elevated blood pressure with an excursion,
    excessive sedation with deep sedation; about 1 in 1,000 sessions has a serious event.
    """
    rng = np.random.default_rng([seed, 15])
    dose = sessions[sessions["kind"].isin(["dosing", "booster"])].reset_index(drop=True)
    n = len(dose)
    pid = dose["patient_id"].to_numpy()
    codes, uniq = pd.factorize(pid)
    n_p = len(uniq)
    sys0_p = np.clip(rng.normal(124, 13, n_p), 95, 175)
    dia0_p = np.clip(sys0_p * 0.62 + rng.normal(3, 6, n_p), 55, 105)
    hr0_p = np.clip(rng.normal(74, 10, n_p), 50, 105)
    route = dose["route"].fillna("IV").to_numpy(dtype=object)
    table = np.array([_ROUTE_SAFETY.get(r, _ROUTE_SAFETY["IV"]) for r in route])
    number = dose.groupby("patient_id", sort=False).cumcount().to_numpy() + 1
    sys0 = sys0_p[codes] + rng.normal(0, 6, n)
    dia0 = dia0_p[codes] + rng.normal(0, 4, n)
    hr0 = hr0_p[codes] + rng.normal(0, 5, n)
    rise = np.maximum(rng.normal(table[:, 0] * (1 + (sys0_p[codes] - 124) / 60), 9), -5)
    rise = np.where(rng.random(n) < 0.02, rise + rng.uniform(30, 55, n), rise)  # big surges
    diss_peak = table[:, 1] * np.exp(-0.12 * (number - 1)) * rng.lognormal(0, 0.45, n)
    ten = route == "SL"
    diss_peak = np.where(ten, np.clip(np.round(diss_peak / 2), 0, 10),
                         np.clip(np.round(diss_peak), 0, 92))
    sedated = rng.random(n) < table[:, 2]
    moaas_peak = np.where(sedated, rng.choice([1, 2, 3], n, p=[0.1, 0.3, 0.6]),
                          rng.choice([4, 5], n, p=[0.3, 0.7]))
    desat = rng.random(n) < 0.01
    long_obs = route == "IN"
    discharge = np.where(long_obs, 120 + rng.integers(0, 5, n) * 10,
                         60 + rng.integers(0, 5, n) * 10).astype(float)
    discharge = np.where(rng.random(n) < 0.03, discharge - 45, discharge)  # left early
    no_record = rng.random(n) < 0.04
    no_pre = rng.random(n) < 0.03
    no_late = rng.random(n) < 0.05
    no_discharge = rng.random(n) < 0.03

    def shape(t: float) -> float:
        return float(np.exp(-(((t - 40) / 35) ** 2)))

    rows = []
    times = [(-10, "pre"), (20, "post"), (40, "post"), (60, "post"), (90, "post")]
    for t, point in times:
        keep = ~no_record & ((point != "pre") | ~no_pre) & ((t < 30) | ~no_late | (point == "pre"))
        keep &= (t <= 60) | long_obs
        f = 0.0 if point == "pre" else shape(t)
        part = pd.DataFrame({
            "patient_id": pid, "session_at": dose["session_at"].to_numpy(),
            "point": point, "minutes_after_dose": int(t),
            "systolic": np.round(sys0 + rise * f + rng.normal(0, 3, n)),
            "diastolic": np.round(dia0 + rise * 0.6 * f + rng.normal(0, 2, n)),
            "heart_rate": np.round(hr0 + rise * 0.5 * f + rng.normal(0, 3, n)),
            "spo2": np.where(desat & (t == 40), rng.integers(88, 92, n),
                             rng.integers(95, 100, n)).astype(float),
            "sedation_moaas": (np.where(t == 40, moaas_peak, np.where(
                (t == 20) | (t == 60), np.maximum(moaas_peak, 4), 5)) if point != "pre"
                else np.full(n, 5)),
            "dissociation": np.where(t == 40, diss_peak, np.nan),
            "dissociation_scale": np.where(t == 40, np.where(ten, "0-10", "CADSS"), None),
        })
        rows.append(part[keep])
    dis = pd.DataFrame({"patient_id": pid, "session_at": dose["session_at"].to_numpy(),
                        "point": "discharge", "minutes_after_dose": discharge.astype(int),
                        "systolic": np.round(sys0 + rise * 0.05 + rng.normal(0, 3, n)),
                        "diastolic": np.round(dia0 + rng.normal(0, 2, n)),
                        "heart_rate": np.round(hr0 + rng.normal(0, 3, n)),
                        "spo2": rng.integers(95, 100, n).astype(float),
                        "sedation_moaas": 5, "dissociation": np.nan, "dissociation_scale": None})
    rows.append(dis[~no_record & ~no_discharge])
    monitoring = pd.concat(rows, ignore_index=True)
    monitoring["systolic"] = np.clip(monitoring["systolic"], 80, 260)
    monitoring["diastolic"] = np.minimum(np.clip(monitoring["diastolic"], 40, 160),
                                         monitoring["systolic"] - 20)
    monitoring["heart_rate"] = np.clip(monitoring["heart_rate"], 40, 180)
    monitoring = monitoring.sort_values(["patient_id", "session_at", "minutes_after_dose"],
                                        kind="stable").reset_index(drop=True)
    for col in ("systolic", "diastolic", "heart_rate", "spo2"):
        monitoring[col] = monitoring[col].astype("Int64")
    monitoring["sedation_moaas"] = monitoring["sedation_moaas"].astype("Int64")
    monitoring["dissociation"] = monitoring["dissociation"].astype("Int64")

    # adverse events: independent common ones, and those that follow a flag
    ev = []
    excursion = (sys0 + rise >= 180) | (rise >= 40)
    for event, p in (("nausea", np.where(route == "IM", 0.14, 0.10)), ("dizziness", 0.08),
                     ("headache", 0.05), ("vomiting", 0.02), ("anxiety_agitation", 0.03),
                     ("elevated_blood_pressure", np.where(excursion, 0.5, 0.0)),
                     ("excessive_sedation", np.where(moaas_peak <= 2, 0.3, 0.0))):
        hit = rng.random(n) < p
        ev.append(pd.DataFrame({"patient_id": pid[hit],
                                "session_at": dose["session_at"].to_numpy()[hit],
                                "event": event}))
    events = pd.concat(ev, ignore_index=True)
    m = len(events)
    events["severity"] = rng.choice(np.array(["mild", "moderate", "severe"]), m,
                                    p=[0.75, 0.22, 0.03])
    serious = rng.random(m) < 0.006
    events["severity"] = np.where(serious, "severe", events["severity"])
    events["serious"] = np.where(serious, "yes", "no")
    events["resolved_before_discharge"] = np.where(
        serious | (rng.random(m) < 0.08), "no", "yes")
    events = events.sort_values(["patient_id", "session_at", "event"], kind="stable")
    return monitoring, events.reset_index(drop=True)


def _effect(day: np.ndarray, e_max: np.ndarray, tau: np.ndarray, loss: np.ndarray,
            boosters: np.ndarray, restore: np.ndarray) -> np.ndarray:
    """Fractional symptom reduction at ``day`` (0 = none), with fading and booster restoration."""
    rise = np.where(day > 0, 1 - np.exp(-np.maximum(day, 0) / tau), 0.0)
    fade = np.where(np.isnan(loss) | (day < loss), 1.0,
                    0.3 + 0.7 * np.exp(-np.maximum(day - np.nan_to_num(loss), 0) / 8))
    eff = e_max * rise * fade
    for j in range(boosters.shape[1]):
        b = boosters[:, j]
        after = ~np.isnan(b) & (day > b)
        level = e_max * restore[:, j] * np.exp(-np.maximum(day - np.nan_to_num(b), 0) / 45)
        eff = np.where(after, np.maximum(eff, level), eff)
    return np.clip(eff, 0, 0.98)


def _add_items(a: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Item answers summing to the total for ~70% of forms; ~2% of those miss one item."""
    out = a.copy()
    for j in range(1, 21):
        out[f"item_{j}"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for code, (n_items, item_max) in _INSTR.items():
        rows = np.nonzero((out["instrument"] == code).to_numpy()
                          & (rng.random(len(out)) < 0.7))[0]
        if rows.size == 0:
            continue
        total = out["total"].to_numpy()[rows].astype(int)
        fixed = np.zeros(rows.size, dtype=int)
        free = n_items
        if code == "PHQ9":
            # item 9 (suicidal ideation) is endorsed far less often than the other items:
            # ~8% of forms at low totals up to ~28% at the top (Simon et al. 2013 report ~15%)
            positive = rng.random(rows.size) < 0.08 + 0.2 * total / 27
            fixed = np.where(positive, rng.choice([1, 2, 3], rows.size, p=[0.6, 0.3, 0.1]), 0)
            fixed = np.clip(np.maximum(fixed, total - 8 * item_max), 0, np.minimum(total, 3))
            free = n_items - 1
        rest = total - fixed
        # choose `rest` of the free items' unit slots at random: a valid item vector
        keys = rng.random((rows.size, free * item_max))
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        chosen = rank < rest[:, None]
        items = chosen.reshape(rows.size, free, item_max).sum(axis=2)
        if code == "PHQ9":
            items = np.column_stack([items, fixed])
        for j in range(n_items):
            out.iloc[rows, out.columns.get_loc(f"item_{j + 1}")] = items[:, j]
        miss = rng.random(rows.size) < 0.02
        if miss.any():
            which = rng.integers(1, n_items + 1, miss.sum())
            for r, j in zip(rows[miss], which, strict=True):
                out.iat[r, out.columns.get_loc(f"item_{j}")] = pd.NA
                out.iat[r, out.columns.get_loc("total")] = np.nan
    return out


def write_csv(data: SampleData, directory: Path = SAMPLE_DIR) -> list[Path]:
    """Write ``patients.csv``, ``sessions.csv``, ``assessments.csv`` (long form),
    ``monitoring.csv``, ``adverse_events.csv`` and ``assessments_wide_example.csv`` (wide form,
    the first 40 visits) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    pats = data.patients
    p = directory / "patients.csv"
    pats.to_csv(p, index=False)
    paths.append(p)
    s = data.sessions.copy()
    s["session_at"] = s["session_at"].dt.strftime("%Y-%m-%dT%H:%M")
    p = directory / "sessions.csv"
    s.to_csv(p, index=False)
    paths.append(p)
    a = data.assessments.copy()
    a["administered_at"] = _iso(a["administered_at"])
    item_cols = [c for c in a.columns if c.startswith("item_")]
    used = [c for c in item_cols if a[c].notna().any()]
    a = a[["patient_id", "instrument", "administered_at", "total"] + used]
    p = directory / "assessments.csv"
    a.to_csv(p, index=False)
    paths.append(p)
    for name, frame in (("monitoring", data.monitoring), ("adverse_events", data.adverse_events)):
        if frame is None:
            continue
        f = frame.copy()
        f["session_at"] = f["session_at"].dt.strftime("%Y-%m-%dT%H:%M")
        p = directory / f"{name}.csv"
        f.to_csv(p, index=False)
        paths.append(p)
    p = directory / "assessments_wide_example.csv"
    _wide_example(data.assessments).to_csv(p, index=False)
    paths.append(p)
    return paths


def _iso(ts: pd.Series) -> pd.Series:
    """ISO 8601: a date alone when no time of day was recorded, else date and time."""
    timed = ts != ts.dt.normalize()
    return pd.Series(np.where(timed, ts.dt.strftime("%Y-%m-%dT%H:%M"),
                              ts.dt.strftime("%Y-%m-%d")), index=ts.index)


def _wide_example(assessments: pd.DataFrame) -> pd.DataFrame:
    a = assessments[assessments["patient_id"].isin(assessments["patient_id"].unique()[:4])]
    a = a.drop_duplicates(["patient_id", "administered_at", "instrument"])
    wide = a.pivot_table(index=["patient_id", "administered_at"], columns="instrument",
                         values="total", aggfunc="last")
    wide.columns = [f"{c.lower()}_total" for c in wide.columns]
    wide = wide.reset_index().head(40)
    wide["administered_at"] = _iso(wide["administered_at"])
    for c in wide.columns:
        if c.endswith("_total"):
            wide[c] = wide[c].astype("Int64")
    return wide


def load_sample(directory: Path = SAMPLE_DIR) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The bundled CSVs as raw frames ``(patients, sessions, assessments)``, ids kept as strings."""
    pats = pd.read_csv(directory / "patients.csv", dtype={"patient_id": str})
    sess = pd.read_csv(directory / "sessions.csv", dtype={"patient_id": str},
                       parse_dates=["session_at"])
    asm = pd.read_csv(directory / "assessments.csv", dtype={"patient_id": str})
    asm["administered_at"] = pd.to_datetime(asm["administered_at"], format="ISO8601")
    return pats, sess, asm


def main(argv: list[str] | None = None) -> None:
    """Write the bundled sample (or a larger set) as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    data = generate(args.patients, seed=args.seed)
    for path in write_csv(data, args.out):
        print(path)


if __name__ == "__main__":
    main()
