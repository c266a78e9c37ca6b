"""Session safety: every flag at its boundary on hand-worked sessions, course tolerance, and
the cohort rates (design effect worked by hand, Wilson interval checked against statsmodels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis import Settings
from analysis.safety import (
    SESSION_FIELDS,
    course_tolerance,
    dose_band,
    safety_rates,
    serious_events,
    session_safety,
)
from analysis.suppression import withhold_rates

T0 = pd.Timestamp("2025-03-03 10:00")


def _session(route: str = "IV", at: pd.Timestamp = T0, pid: str = "A") -> dict:
    return {"patient_id": pid, "session_at": at, "kind": "dosing", "route": route,
            "dose_mg": 35.0, "weight_kg": 70.0}


def _row(point: str, minutes: float, pid: str = "A", at: pd.Timestamp = T0, **values) -> dict:
    return {"patient_id": pid, "session_at": at, "point": point, "minutes_after_dose": minutes,
            **values}


def _one(rows: list[dict], *, route: str = "IV", events: pd.DataFrame | None = None,
         settings: Settings | None = None) -> pd.Series:
    out = session_safety(pd.DataFrame([_session(route)]), pd.DataFrame(rows),
                         events if events is not None else pd.DataFrame(), settings=settings)
    assert len(out) == 1
    return out.iloc[0]


def _flag(value) -> bool | None:
    return None if pd.isna(value) else bool(value)


@pytest.mark.parametrize(("sys", "dia", "expected"), [
    (140, 90, False), (141, 90, True), (140, 91, True), (141, None, True), (130, None, None),
    (None, None, None)])
def test_pre_dose_blood_pressure_elevated_at_its_boundary(sys, dia, expected):
    r = _one([_row("pre", -5, systolic=sys, diastolic=dia),
              _row("post", 40, systolic=150, diastolic=85)])
    assert _flag(r.pre_bp_elevated) is expected


def test_the_latest_pre_dose_value_counts():
    """A clinic re-checks a high first reading after a rest: the reading closest to the dose
    decides."""
    r = _one([_row("pre", -15, systolic=152, diastolic=96), _row("pre", -5, systolic=136,
                                                                  diastolic=86)])
    assert _flag(r.pre_bp_elevated) is False
    assert r.pre_systolic == 136


@pytest.mark.parametrize(("pre", "post", "expected", "rise"), [
    ((140, 85), (179, 109), False, 39),     # absolute below 180/110, rises 39 / 24
    ((140, 85), (180, 100), True, 40),      # systolic at 180 (and a rise of 40)
    ((150, 85), (179, 110), True, 29),      # diastolic at 110
    ((120, 70), (160, 80), True, 40),       # a systolic rise of exactly 40
    ((120, 70), (159, 95), True, 39),       # a diastolic rise of exactly 25
    ((120, 70), (159, 94), False, 39),      # rises 39 / 24: no excursion
    ((None, None), (170, 100), None, None),  # no pre-dose value: the rise cannot be told
    ((None, None), (185, 100), True, None),  # … but 185 is an excursion whatever it rose from
])
def test_blood_pressure_excursion_at_its_boundaries(pre, post, expected, rise):
    r = _one([_row("pre", -5, systolic=pre[0], diastolic=pre[1]),
              _row("post", 40, systolic=post[0], diastolic=post[1])])
    assert _flag(r.bp_excursion) is expected
    assert (pd.isna(r.max_systolic_rise) if rise is None else r.max_systolic_rise == rise)


def test_no_post_dose_blood_pressure_means_no_excursion_can_be_told():
    r = _one([_row("pre", -5, systolic=200, diastolic=120, heart_rate=80)])
    assert _flag(r.bp_excursion) is None and _flag(r.tachycardia) is None
    assert _flag(r.pre_bp_elevated) is True


@pytest.mark.parametrize(("measure", "value", "flag", "expected"), [
    ("heart_rate", 110, "tachycardia", False), ("heart_rate", 111, "tachycardia", True),
    ("spo2", 92, "desaturation", False), ("spo2", 91, "desaturation", True),
    ("sedation_moaas", 4, "sedated", False), ("sedation_moaas", 3, "sedated", True)])
def test_post_dose_flags_at_their_boundaries(measure, value, flag, expected):
    r = _one([_row("pre", -5, **{measure: 150 if measure == "heart_rate" else value}),
              _row("post", 40, **{measure: value})])
    assert _flag(r[flag]) is expected


def test_pre_dose_values_never_raise_post_dose_flags():
    r = _one([_row("pre", -5, heart_rate=130, spo2=85, sedation_moaas=2),
              _row("post", 40, heart_rate=90, spo2=97, sedation_moaas=5)])
    assert (_flag(r.tachycardia), _flag(r.desaturation), _flag(r.sedated)) == (False,) * 3


@pytest.mark.parametrize(("value", "scale", "cut", "expected"), [
    (4, "CADSS", None, False), (5, "CADSS", None, True), (8, "0-10", None, None),
    (5, "0-10", 5.0, False), (6, "0-10", 5.0, True)])
def test_marked_dissociation_on_each_scale(value, scale, cut, expected):
    settings = Settings(marked_dissociation_0_10_above=cut)
    r = _one([_row("post", 40, dissociation=value, dissociation_scale=scale)],
             settings=settings)
    assert _flag(r.marked_dissociation) is expected
    assert r.peak_dissociation == value and r.dissociation_scale == scale


@pytest.mark.parametrize(("route", "rows", "complete", "reason"), [
    ("IN", [("pre", -5, 120, 80), ("post", 30, 140, 85), ("discharge", 120, None, None)],
     True, ""),
    ("IN", [("pre", -5, 120, 80), ("post", 30, 140, 85), ("discharge", 119, None, None)],
     False, "discharged before the minimum observation"),
    ("IV", [("pre", -5, 120, 80), ("post", 40, 140, 85), ("discharge", 60, None, None)],
     True, ""),
    ("IV", [("pre", -5, 120, None), ("post", 40, 140, 85), ("discharge", 60, None, None)],
     False, "no pre-dose blood pressure"),
    ("IV", [("pre", -5, 120, 80), ("post", 29, 140, 85), ("discharge", 60, None, None)],
     False, "no blood pressure 30+ min after the dose"),
    ("IV", [("pre", -5, 120, 80), ("post", 20, 140, 85), ("discharge", 60, 125, 80)],
     True, ""),                                  # the discharge reading is a late check
    ("IV", [("pre", -5, 120, 80), ("post", 40, 140, 85)], False, "no discharge time"),
    ("IV", [], False, "no monitoring record"),
])
def test_monitoring_completeness(route, rows, complete, reason):
    r = _one([_row(p, m, systolic=s, diastolic=d) for p, m, s, d in rows], route=route)
    assert bool(r.monitoring_complete) is complete
    assert r.incomplete_reason == reason


def test_minutes_to_discharge_and_events():
    events = pd.DataFrame({"patient_id": "A", "session_at": T0,
                           "event": ["nausea", "elevated_blood_pressure"],
                           "severity": ["mild", "severe"], "serious": [False, False],
                           "resolved_before_discharge": [True, True]})
    r = _one([_row("discharge", 95)], events=events)
    assert r.minutes_to_discharge == 95 and r.adverse_events == 2
    assert not r.serious_event and r.severe_event and r.severe_or_serious
    assert r.grave_events == "elevated blood pressure (severe, resolved before discharge)"
    listed = serious_events(session_safety(pd.DataFrame([_session()]), pd.DataFrame(), events),
                            events)
    assert listed["event"].tolist() == ["elevated_blood_pressure"]


def test_every_dosing_session_gets_a_record_and_others_none():
    sessions = pd.DataFrame([_session(), {**_session(at=T0 + pd.Timedelta(days=1)),
                                          "kind": "integration"}])
    out = session_safety(sessions, pd.DataFrame(), pd.DataFrame())
    assert len(out) == 1 and list(out.columns[:2]) == list(SESSION_FIELDS[:2])
    assert set(SESSION_FIELDS) <= set(out.columns)
    assert out.iloc[0].adverse_events == 0 and not out.iloc[0].monitoring_complete


def test_dose_bands_never_mix_routes():
    band = dose_band(pd.Series(["IV", "IM", "IN", "IN", "SL"]),
                     pd.Series([35.0, 75.0, 56.0, 84.0, 200.0]),
                     pd.Series([70.0, 70.0, None, None, None]))
    assert band.tolist() == ["IV 0.5 to <0.75 mg/kg", "IM 1 to <1.5 mg/kg", "IN 40 to <70 mg",
                             "IN 70 to <100 mg", "SL ≥200 mg"]


def test_course_tolerance_uses_one_scale_per_course():
    t = pd.DataFrame({"patient_id": "A", "course_id": "1", "session_number": [1, 2, 3, 4],
                      "session_at": pd.date_range("2025-01-06", periods=4, freq="3D"),
                      "peak_dissociation": [30.0, 8.0, 20.0, 12.0],
                      "dissociation_scale": ["CADSS", "0-10", "CADSS", "CADSS"],
                      "max_systolic_rise": [20.0, np.nan, 30.0, 40.0],
                      "adverse_events": [2, 0, 0, 0]})
    r = course_tolerance(t).iloc[0]
    # CADSS values at sessions 1, 3, 4: pairwise slopes -5, -6, -8 -> median -6
    assert r.dissociation_slope == pytest.approx(-6.0)
    assert r.systolic_rise_slope == pytest.approx(np.median([5.0, 20 / 3, 10.0]))
    assert (r.sessions, r.events_per_session) == (4, 0.5)


def test_session_rates_design_effect_by_hand():
    """A: 2 of 2 sessions, B: 0 of 1, C: 0 of 1. p = 2/4; sum of (k_i - p n_i)^2 = 1 + .25 +
    .25 = 1.5 over n p (1 - p) = 1: design effect 1.5; the Wilson interval of 1.333 in an
    effective 2.667 sessions (statsmodels)."""
    t = pd.DataFrame({"patient_id": ["A", "A", "B", "C"], "course_id": "1",
                      "session_at": pd.date_range("2025-01-01", periods=4),
                      "sedated": pd.array([True, True, False, False], dtype="boolean")})
    r = safety_rates(t, outcomes=["sedated"]).iloc[0]
    assert (r.k, r.n, r.n_patients, r.k_patients, r.nk_patients) == (2, 4, 3, 1, 2)
    assert r.deff == pytest.approx(1.5)
    low, high = proportion_confint(0.5 * 4 / 1.5, 4 / 1.5, method="wilson")
    assert (r.ci_low, r.ci_high) == (pytest.approx(low), pytest.approx(high))
    c = safety_rates(t, outcomes=["sedated"], unit="course").iloc[0]
    assert (c.k, c.n, c.deff) == (1, 3, 1.0)   # one course each: the plain Wilson interval
    low, high = proportion_confint(1, 3, method="wilson")
    assert (c.ci_low, c.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_many_sessions_of_few_patients_are_withheld():
    """60 sessions is not 60 people: a rate over 3 patients is withheld even though the session
    counts are large, and so is one where fewer than 11 patients had the flag."""
    rng = np.random.default_rng(1)
    rows = []
    for group, patients in (("few", 3), ("many", 30)):
        for p in range(patients):
            for j in range(20):
                rows.append({"patient_id": f"{group}{p}", "course_id": "1", "route": group,
                             "session_at": T0 + pd.Timedelta(days=j),
                             "sedated": bool(rng.random() < (0.5 if p < 5 else 0.0))})
    t = pd.DataFrame(rows)
    rates = safety_rates(t, by="route", outcomes=["sedated"])
    decided = withhold_rates(rates, by=["route"], set_keys=("instrument", "outcome"))
    few = decided[decided["route"] == "few"].iloc[0]
    many = decided[decided["route"] == "many"].iloc[0]
    assert rates.loc[rates["route"] == "few", "k"].iloc[0] >= 11  # many sessions …
    assert few.withheld == "primary" and pd.isna(few.rate)         # … of 3 patients
    assert many.withheld == "primary"           # 5 patients had it: fewer than 11


def test_session_signals_are_current_and_only_where_monitoring_is_recorded():
    from analysis.safety import session_signals

    as_of = pd.Timestamp("2025-06-30")
    at = pd.to_datetime(["2025-06-28 10:00", "2025-06-01 10:00", "2025-02-01 10:00",
                         "2025-06-25 10:00", "2025-06-01 10:00"])
    t = pd.DataFrame({
        "patient_id": ["A", "B", "C", "D", "E"], "course_id": "1", "session_at": at,
        "route": ["IN", "IV", "IV", "IM", "IM"],
        "severe_or_serious": [True, True, True, False, False],
        "has_monitoring": [True, True, True, True, True],
        "incomplete_reason": ["", "", "", "no pre-dose blood pressure",
                              "no pre-dose blood pressure"]})
    sig = session_signals(t, as_of=as_of)
    # A and B: events within active_days (90); C's is older. D: a missing check within 14
    # days; E's is older (its record is history now)
    assert list(zip(sig["patient_id"], sig["kind"], strict=True)) == [
        ("A", "session_event"), ("B", "session_event"), ("D", "missing_bp_check")]
    assert sig["instrument"].eq("session").all()
    assert "the IN session of 2025-06-28 10:00" in sig["reason"].iloc[0]
    # a clinic that records no monitoring at all gets no missing-check signals
    none = session_signals(t.assign(has_monitoring=False), as_of=as_of)
    assert none["kind"].tolist() == ["session_event", "session_event"]


def test_rates_equal_a_plain_loop_over_cells_and_patients():
    """The vectorized rates equal a per-cell, per-patient loop written from the definitions
    (random clinic, fixed seed; missing flags and a missing group included)."""
    rng = np.random.default_rng(7)
    n = 3000
    t = pd.DataFrame({
        "patient_id": rng.choice([f"P{i}" for i in range(400)], n),
        "course_id": "1", "session_at": T0 + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "route": rng.choice(np.array(["IV", "IM", "IN", None], dtype=object), n),
        "sedated": pd.array(rng.choice(np.array([True, False, None], dtype=object), n,
                                       p=[0.2, 0.6, 0.2]), dtype="boolean")})
    got = safety_rates(t, by="route", outcomes=["sedated"]).set_index("route")
    want = {}
    for route, cell in t[t["route"].notna() & t["sedated"].notna()].groupby("route"):
        per = [(int(g["sedated"].sum()), len(g)) for _, g in cell.groupby("patient_id")]
        k, m = sum(a for a, _ in per), sum(b for _, b in per)
        p = k / m
        deff = max(1.0, sum((a - p * b) ** 2 for a, b in per) / (m * p * (1 - p)))
        want[route] = (k, m, len(per), sum(a > 0 for a, _ in per),
                       sum(a < b for a, b in per), deff)
    assert sorted(got.index) == sorted(want)
    for route, (k, m, n_p, k_p, nk_p, deff) in want.items():
        r = got.loc[route]
        assert (r.k, r.n, r.n_patients, r.k_patients, r.nk_patients) == (k, m, n_p, k_p, nk_p)
        assert r.deff == pytest.approx(deff, rel=1e-12)
