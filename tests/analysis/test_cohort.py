"""Cohort statistics: Wilson intervals, trajectories, breakdowns, funnel, survival summaries."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import schemas as S
from analysis.alignment import align
from analysis.cohort import (
    attrition_funnel,
    course_attributes,
    mean_trajectory,
    summarize_rates,
    week_bins,
    wilson_interval,
)
from analysis.durability import summarize_survival
from analysis.outcomes import per_course_outcomes
from analysis.settings import Settings
from tests.analysis.helpers import scores, sessions


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (6, 10), (3, 50), (37, 40), (0, 20)])
def test_wilson_matches_scipy_binomtest(k, n):
    low, high = wilson_interval(k, n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (float(low), float(high)) == pytest.approx((ci.low, ci.high), abs=1e-10)


def test_wilson_by_hand_six_of_ten():
    # p = .6, z = 1.959964: centre (.6 + .19208)/1.38415 = .57226; half .25958
    low, high = wilson_interval(6, 10)
    assert (float(low), float(high)) == pytest.approx((0.31267, 0.83182), abs=1e-5)
    assert np.isnan(wilson_interval(0, 0)[0])


def _three_patients():
    s = pd.concat([sessions((0, "dosing"), (3, "dosing"), patient=p) for p in "abc"],
                  ignore_index=True)
    a = pd.concat([
        scores((0, 20), (2, 10), (10, 8), patient="a"),   # response (-60%)
        scores((0, 20), (2, 16), (10, 14), patient="b"),  # no response (-30%)
        scores((0, 10), (2, 4), (10, 2), patient="c"),    # response and remission
    ], ignore_index=True)
    return align(a, s)


def test_rates_and_breakdown():
    al = _three_patients()
    o = per_course_outcomes(al)
    r = summarize_rates(o).set_index("outcome")
    assert (r.loc["endpoint_response", "k"], r.loc["endpoint_response", "n"]) == (2, 3)
    assert (r.loc["endpoint_remission", "k"], r.loc["endpoint_remission", "n"]) == (1, 3)
    patients = pd.DataFrame({"patient_id": list("abc"), "clinic_id": ["x", "x", "y"]})
    attrs = course_attributes(al, patients)
    by = summarize_rates(o, attributes=attrs, by=["clinic_id"]).query(
        "outcome == 'endpoint_response'").set_index("clinic_id")
    assert by.loc["x", ["k", "n", "n_patients"]].tolist() == [1, 2, 2]
    assert by.loc["y", "rate"] == 1.0
    with pytest.raises(ValueError, match="unknown breakdown"):
        summarize_rates(o, attributes=attrs, by=["favourite_colour"])


def test_course_attributes_defaults_and_types():
    al = _three_patients()
    attrs = course_attributes(al)
    assert set(attrs["clinic_id"]) == {"main"} and set(attrs["indication"]) == {"unknown"}
    assert set(attrs["course_type"]) == {"first"} and set(attrs["start_month"]) == {"2025-01"}


def test_mean_trajectory_by_hand():
    al = _three_patients()
    t = mean_trajectory(al, instrument="PHQ9").set_index("bin")
    # baseline bin: 20, 20, 10 -> mean 16.667, sd 5.7735, t(.975, 2) = 4.302653
    assert t.loc["0", "mean"] == pytest.approx(50 / 3)
    half = stats.t.ppf(0.975, 2) * np.std([20, 20, 10], ddof=1) / np.sqrt(3)
    assert t.loc["0", "ci_high"] - t.loc["0", "mean"] == pytest.approx(half)
    # day 2 falls in 1–3 (10, 16, 4); day 10 in 8–14 (8, 14, 2)
    assert t.loc["1–3", "mean"] == pytest.approx(10) and t.loc["8–14", "mean"] == pytest.approx(8)
    assert t.loc["1–3", "n_courses"] == 3 and "4–7" not in t.index
    share = mean_trajectory(al, instrument="PHQ9", value="is_response",
                            bins=week_bins(2)).set_index("bin")
    assert share.loc["week 1", "mean"] == pytest.approx(2 / 3)   # a and c respond on day 2
    low, high = wilson_interval(2, 3)
    assert share.loc["week 1", "ci_low"] == pytest.approx(float(low))


def test_trajectory_one_value_per_course_per_bin():
    s = sessions((0, "dosing"))
    al = align(scores((0, 20), (1, 10), (2, 14)), s)   # two scores in bin 1–3 average to 12
    t = mean_trajectory(al, instrument="PHQ9").set_index("bin")
    assert t.loc["1–3", "mean"] == 12 and t.loc["1–3", "n_courses"] == 1
    assert np.isnan(t.loc["1–3", "ci_low"])  # one course: no interval


def test_funnel_is_nested():
    al = _three_patients()
    o = per_course_outcomes(al)
    f = attrition_funnel(o, instrument="PHQ9").set_index("stage")
    # every course has a baseline and a day-10 endpoint (window [3, 17]); a and c respond.
    # Two doses each: none completed induction (4 doses), a side count outside the chain.
    assert f.loc[["started", "with_baseline", "assessed_at_endpoint", "responded"],
                 "n_courses"].tolist() == [3, 3, 3, 2]
    assert f.loc["completed_induction", "n_courses"] == 0
    assert not f.loc["completed_induction", "nested"]
    # two responders: fewer than 11 at risk at day 90, so no estimate
    assert np.isnan(f.loc["in_response_at_90_days", "estimate"])
    # the funnel's responders and assessed courses are the response rate's k and n
    r = summarize_rates(o).set_index("outcome").loc["endpoint_response"]
    assert (f.loc["responded", "n_courses"], f.loc["assessed_at_endpoint", "n_courses"]) == \
        (r["k"], r["n"])


def test_funnel_on_sample_is_monotone_and_km_based(sample_alignment):
    o = per_course_outcomes(sample_alignment)
    f = attrition_funnel(o, instrument="PHQ9")
    chain = f[f["nested"] & f["n_courses"].notna()]["n_courses"]
    assert (np.diff(chain) <= 0).all() and chain.iloc[0] > 200
    km = summarize_survival(o, endpoint="durability", instrument="PHQ9").curves[0].km
    at_risk = km.at_risk_at([90])[0]
    assert 0 < at_risk < 11  # the sample follows few responders for 90 days: not estimable
    assert np.isnan(f.set_index("stage").loc["in_response_at_90_days", "estimate"])
    lenient = attrition_funnel(o, instrument="PHQ9", settings=Settings(min_cell_size=at_risk))
    last = lenient.set_index("stage").loc["in_response_at_90_days"]
    assert last["estimate"] == pytest.approx(km.survival_at(90)[0])  # the KM value, not a count
    assert last["ci_low"] <= last["estimate"] <= last["ci_high"]


def test_survival_summary_by_group(sample_alignment, sample_frames):
    patients, _, _ = sample_frames
    o = per_course_outcomes(sample_alignment)
    attrs = course_attributes(sample_alignment, patients)
    summary = summarize_survival(o, endpoint="durability", instrument="PHQ9", attributes=attrs,
                                 by="route")
    table = summary.to_frame()
    assert set(table["group"]) <= {"IV", "IM", "IN", "SL"} and summary.logrank.df == len(table) - 1
    # durability is over the courses in response at endpoint (the response rate's k)
    assert table["n"].sum() == o.query("instrument == 'PHQ9'")["endpoint_response"].sum()
    boost = summarize_survival(o, endpoint="time_to_booster", instrument=None)
    n_courses = len(o.drop_duplicates(["patient_id", "course_id"]))
    assert boost.curves[0].km.n == n_courses  # once per course, not once per instrument
    assert boost.horizons == (90, 180)


def test_survival_summary_errors():
    o = per_course_outcomes(_three_patients())
    with pytest.raises(ValueError, match="endpoint must be"):
        summarize_survival(o, endpoint="forever", instrument="PHQ9")
    from analysis.exceptions import InsufficientDataError
    with pytest.raises(InsufficientDataError):
        summarize_survival(o, endpoint="durability", instrument="PCL5")
    assert S.PATIENT_ID in o.columns
