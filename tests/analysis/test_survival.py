"""Kaplan–Meier and log-rank against hand values, scipy examples and lifelines.

The lifelines numbers are golden values computed with lifelines 0.30.3 by
``tests/reference/lifelines_survival.py`` (not run in CI: lifelines pins pandas < 3, and the
tests run on the pandas users install).
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.exceptions import InsufficientDataError
from analysis.survival import kaplan_meier, logrank_test

# setup-notes.md §6: events at 3, 5, 5, 8, 12, 15; censored at 6, 10, 20, 20
D = [3, 5, 5, 8, 12, 15, 6, 10, 20, 20]
C = [False] * 6 + [True] * 4


def test_km_by_hand():
    km = kaplan_meier(D, C)
    # S(3) = 9/10; S(5) = .9 * 7/9 = .7; S(8) = .7 * 5/6 = .58333; S(12) = .58333 * 3/4 = .4375;
    # S(15) = .4375 * 2/3 = .29167
    curve = km.curve.set_index("time")["survival"]
    assert curve[[3, 5, 8, 12, 15]].tolist() == pytest.approx([0.9, 0.7, 0.583333, 0.4375,
                                                               0.291667], abs=1e-6)
    assert km.curve["time"].iloc[0] == 0 and km.curve["survival"].iloc[0] == 1
    assert (km.n, km.n_events, km.median) == (10, 6, 12.0)
    assert km.survival_at(9)[0] == pytest.approx(0.583333, abs=1e-6)
    assert np.isnan(km.survival_at(21)[0])  # not extrapolated past the last time


def test_km_linear_ci_matches_setup_notes():
    km = kaplan_meier(D, C, ci_method="linear")
    c = km.curve.set_index("time")
    # setup-notes.md §6 (scipy 1.17.1, Greenwood): low .7141 .416 .2677 .095 0; high 1 .984 .8989
    assert c.loc[[3, 5, 8, 12, 15], "ci_low"].tolist() == pytest.approx(
        [0.7141, 0.416, 0.2677, 0.095, 0.0], abs=1e-4)
    assert c.loc[[3, 5, 8, 12], "ci_high"].tolist() == pytest.approx(
        [1.0, 0.984, 0.8989, 0.78], abs=1e-4)


def test_km_matches_lifelines_log_log_ci_and_median_ci():
    rng = np.random.default_rng(7)
    d = np.round(rng.exponential(30, 200), 1)
    c = rng.random(200) < 0.3
    km = kaplan_meier(d, c)
    # lifelines 0.30.3 KaplanMeierFitter (tests/reference/lifelines_survival.py):
    # t, S(t), log-log CI low, high
    golden = [(5.0, 0.8872717706206101, 0.8338405594730931, 0.9242953750243295),
              (10.0, 0.8013935635712303, 0.7373829383710399, 0.8513730516671126),
              (20.0, 0.6625828628245147, 0.5886028111284404, 0.7263938670859701),
              (30.0, 0.5555152969561226, 0.4770193086129711, 0.6269599168916744),
              (50.0, 0.2900837053744646, 0.21756315707892523, 0.366350485867908),
              (80.0, 0.18669067140030543, 0.12345489370112249, 0.2601513531344543)]
    for t, s, low, high in golden:
        est, ci = km.survival_at(t)
        assert (est, ci.low, ci.high) == pytest.approx((s, low, high), abs=1e-6), t
    # median 33.6 with the interval 27.0–37.4 (lifelines median_survival_times)
    assert km.median == pytest.approx(33.6)
    assert (km.median_ci.low, km.median_ci.high) == pytest.approx((27.0, 37.4))


def test_km_median_not_reached():
    km = kaplan_meier([5, 10, 20, 30], [False, True, True, True])
    assert km.median is None and km.median_ci.high is None


def test_km_all_censored():
    km = kaplan_meier([5, 10], [True, True])
    assert km.curve["survival"].tolist() == [1, 1, 1] and km.n_events == 0


def test_km_empty_and_bad_input():
    with pytest.raises(InsufficientDataError):
        kaplan_meier([], [])
    with pytest.raises(ValueError, match=">= 0"):
        kaplan_meier([-1], [False])
    with pytest.raises(ValueError, match="NaN"):
        kaplan_meier([np.nan], [False])


def test_logrank_two_groups_matches_scipy_example_and_lifelines():
    # setup-notes.md §6: logrank(x, y) -> statistic -1.8527, p 0.0639; chi-square = Z**2
    y_d = [1, 2, 2, 4, 5, 3, 6, 7]
    y_c = [False] * 5 + [True] * 3
    res = logrank_test(D + y_d, C + y_c, ["x"] * 10 + ["y"] * 8)
    assert res.z == pytest.approx(-1.8527, abs=1e-4)
    assert res.chi2 == pytest.approx(1.8527 ** 2, abs=1e-3) and res.df == 1
    assert res.pvalue == pytest.approx(0.0639, abs=1e-4)
    # lifelines 0.30.3 logrank_test: 3.4326149811611764
    assert res.chi2 == pytest.approx(3.4326149811611764, rel=1e-6)


def test_logrank_k_groups_matches_lifelines():
    rng = np.random.default_rng(3)
    n = 300
    g = rng.choice(["IV", "IM", "IN", "SL"], n)
    d = np.round(rng.exponential(np.where(g == "IV", 40, 25)), 0)
    c = rng.random(n) < 0.25
    res = logrank_test(d, c, g)
    # lifelines 0.30.3 multivariate_logrank_test: 3.40928335683026, p 0.3327197529217646
    assert res.df == 3
    assert res.chi2 == pytest.approx(3.40928335683026, rel=1e-8)
    assert res.pvalue == pytest.approx(0.3327197529217646, rel=1e-6)
    assert res.table["observed"].sum() == (~c).sum()


def test_k_group_formula_equals_z_squared_for_two_groups():
    rng = np.random.default_rng(11)
    d = np.round(rng.exponential(20, 80))
    c = rng.random(80) < 0.2
    g = np.where(rng.random(80) < 0.5, "a", "b")
    two = logrank_test(d, c, g)
    three = logrank_test(np.append(d, 1000.0), np.append(c, True), np.append(g, "z"))
    assert two.chi2 == pytest.approx(0.2906717532222632)  # lifelines multivariate_logrank_test
    assert three.df == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 365, allow_nan=False), st.booleans()), min_size=1,
                max_size=60))
def test_km_is_monotone_and_bounded(data):
    d, c = zip(*data, strict=True)
    km = kaplan_meier(d, c)
    s = km.curve["survival"].to_numpy()
    assert (np.diff(s) <= 1e-12).all() and ((s >= 0) & (s <= 1)).all()
    assert ((km.curve["ci_low"] <= s + 1e-9) & (s <= km.curve["ci_high"] + 1e-9)).all()
    if km.median is not None:
        assert km.survival_at(km.median)[0] <= 0.5 + 1e-12  # S computed as a float product
        assert pd.Series(s)[km.curve["time"] < km.median].gt(0.5).all()


def test_steps_keep_the_curves_own_values_one_per_day():
    """What a chart draws of a KM curve: the last step of each day, each with the curve's own
    survival and interval, the first and last rows kept; the function is unchanged at every
    whole day."""
    rng = np.random.default_rng(3)
    d = rng.exponential(40, 5000)
    km = kaplan_meier(d, rng.random(5000) < 0.3)
    steps = km.steps()
    assert len(steps) < len(km.curve) / 5
    merged = steps.merge(km.curve, on="time", suffixes=("", "_all"))
    assert len(merged) == len(steps)
    assert (merged["survival"] == merged["survival_all"]).all()
    assert steps["time"].iloc[0] == km.curve["time"].iloc[0]
    assert steps["time"].iloc[-1] == km.curve["time"].iloc[-1]

    def at(curve, t):
        return curve.loc[curve["time"] <= t, "survival"].iloc[-1]

    for day in range(0, 200, 7):
        assert at(steps, day) == at(km.curve, day)
