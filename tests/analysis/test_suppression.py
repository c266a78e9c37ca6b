"""Small cells: pooling, primary withholding and minimal protection on hand-made tables whose
right answer is worked out in the comments."""

import numpy as np
import pandas as pd
import pytest

from analysis.suppression import (
    feasible_intervals,
    other_label,
    pool_small_groups,
    primary_mark,
    withhold_counts,
    withhold_rates,
)


def table(rows, patients=None):
    df = pd.DataFrame(rows, columns=["route", "k", "n"])
    return df.assign(instrument="PHQ9", outcome="endpoint_response",
                     n_patients=df["n"] if patients is None else patients,
                     rate=df["k"] / df["n"], ci_low=0.0, ci_high=1.0)


def test_nothing_small_nothing_withheld():
    out = withhold_rates(table([("IV", 30, 60), ("IM", 20, 40)]), by=["route"])
    assert out["withheld"].tolist() == ["", ""] and out["k"].tolist() == [30, 20]
    assert not out["n_withheld"].any()


def test_small_group_and_its_protection():
    # SL has 8 patients: its n, k and rate are withheld (primary). With the total n published
    # (98), SL's n alone would be 98 - 60 - 30 = 8: the smallest other group (IM, 30) is
    # withheld too, leaving SL's n anywhere in [0, 38].
    out = withhold_rates(table([("IV", 30, 60), ("IM", 12, 30), ("SL", 3, 8)]), by=["route"])
    assert out["withheld"].tolist() == ["", "protecting", "primary"]
    assert out["n_withheld"].tolist() == [False, True, True]
    assert out.loc[0, "n"] == 60 and np.isnan(out.loc[1, "rate"])


def test_small_numerator_or_complement_withholds_the_rate_not_n():
    # IV: 5 responders of 40 -> k < 11; IM: 33 of 40 -> 7 non-responders < 11; IN fine.
    # Withheld k: IV + IM = 58 - 20 = 38, so IV's k is anywhere in [0, 38]: no protection needed.
    out = withhold_rates(table([("IV", 5, 40), ("IM", 33, 40), ("IN", 20, 40)]), by=["route"])
    assert out["withheld"].tolist() == ["primary", "primary", ""]
    assert out["n"].tolist() == [40, 40, 40]
    assert np.isnan(out.loc[0, "k"]) and np.isnan(out.loc[1, "rate"]) and out.loc[2, "k"] == 20


def test_one_withheld_rate_forces_a_second():
    # IV's k = 4 would be total 19 - IM's 15: IM's rate is withheld too; IV's k is then in
    # [max(0, 19 - 30), min(30, 19)] = [0, 19].
    out = withhold_rates(table([("IV", 4, 30), ("IM", 15, 30)]), by=["route"])
    assert out["withheld"].tolist() == ["primary", "protecting"]
    assert np.isnan(out["rate"]).all() and out["n"].tolist() == [30, 30]


def test_protection_takes_the_least_not_a_cascade():
    # A (3 of 20) is small. Candidates by the smaller of k and n - k: B 12, C 40, D 100.
    # B alone makes A's k range [0, 15] and B's [0, 15]: nothing else is withheld.
    out = withhold_rates(table([("A", 3, 20), ("B", 12, 24), ("C", 40, 80), ("D", 100, 200)]),
                         by=["route"])
    assert out["withheld"].tolist() == ["primary", "protecting", "", ""]


def test_unpublished_total_needs_no_protection():
    # overall 9 of 60 responders is itself withheld (k < 11): no total to subtract from
    t = table([("IV", 4, 30), ("IM", 5, 30)])
    overall = pd.DataFrame({"instrument": ["PHQ9"], "outcome": ["endpoint_response"],
                            "k": [9], "n": [60], "n_patients": [60]})
    out = withhold_rates(t, by=["route"], overall=overall)
    assert out["withheld"].tolist() == ["primary", "primary"]


def test_sets_are_separate_per_outcome():
    a = table([("IV", 30, 60), ("SL", 3, 8), ("IM", 15, 30)])
    b = a.assign(outcome="endpoint_remission")
    out = withhold_rates(pd.concat([a, b], ignore_index=True), by=["route"])
    assert out["withheld"].tolist() == ["", "primary", "protecting"] * 2


def test_threshold_is_a_setting():
    out = withhold_rates(table([("IV", 30, 60), ("IM", 12, 25), ("SL", 20, 40)]), by=["route"],
                         min_cell_size=26)
    # IM has 25 patients < 26 (primary, n too); IV's and SL's k 30/20 and n - k 30/20 are >= 26
    # only for IV: SL is primary by k (20 < 26); the two withheld n leave IM's n in [0, 65]
    assert out["withheld"].tolist()[1:] == ["primary", "primary"]
    assert primary_mark(26) == "<26"
    with pytest.raises(ValueError):
        withhold_rates(table([("IV", 1, 2)]), by=["route"], min_cell_size=0)


def test_counts_primary_and_protection():
    # 4 is small; the set sums to a published total, so 4 alone is recoverable: the smallest
    # other count above 0 (6? no: 6 is small too). Worked: 4 and 6 are both primary, their sum
    # 10 < 11 leaves them within [0, 10]: the next smallest (30) protects.
    t = pd.DataFrame({"reason": ["ok", "a", "b", "c", "d"], "courses": [120, 4, 6, 30, 0]})
    out = withhold_counts(t, value="courses")
    assert out["withheld"].tolist() == ["", "primary", "primary", "protecting", ""]
    assert out.loc[4, "courses"] == 0  # a zero is shown (nothing to protect) and never protects


def test_pooling_into_other():
    g = pd.Series(["IV"] * 30 + ["IM"] * 5 + ["SL"] * 4 + ["PO"] * 3)
    p = pd.Series([f"p{i}" for i in range(len(g))])
    pooled = pool_small_groups(g, p, min_cell_size=11)
    assert pooled.value_counts().to_dict() == {"IV": 30, other_label(3): 12}
    # a pool still below the threshold takes the next smallest group
    g2 = pd.Series(["IV"] * 30 + ["IN"] * 15 + ["IM"] * 5)
    pooled2 = pool_small_groups(g2, pd.Series(range(len(g2))), min_cell_size=11)
    assert pooled2.value_counts().to_dict() == {"IV": 30, other_label(2): 20}
    # patients, not rows, count: 12 courses of 3 patients are a small group
    g3 = pd.Series(["IV"] * 20 + ["IM"] * 12)
    p3 = pd.Series([f"a{i}" for i in range(20)] + ["x", "y", "z"] * 4)
    assert set(pool_small_groups(g3, p3, min_cell_size=11)) == {"IV", "IM"}  # a pool of one


def test_feasible_intervals_by_hand():
    # k = (3, 20) withheld with n = (25, 30) shown and total k 23: k0 = 23 - k1, k1 <= 23
    iv = feasible_intervals(np.array([3., 20.]), np.array([25., 30.]),
                            np.array([True, True]), np.array([False, False]), 23.0, 55.0)
    assert iv.tolist() == [[0, 23], [2, 25], [0, 23], [7, 30]]
    # n withheld too: n0 + n1 = 55, k0 + k1 = 23, k <= n
    iv = feasible_intervals(np.array([3., 20.]), np.array([25., 30.]),
                            np.array([True, True]), np.array([True, True]), 23.0, 55.0)
    assert iv[-2].tolist() == [0, 55] and iv[-1].tolist() == [0, 55]
