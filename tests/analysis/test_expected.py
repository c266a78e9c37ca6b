"""Expected-course percentile bands on a hand-made cohort."""

import numpy as np
import pandas as pd
import pytest

from analysis.alignment import align
from analysis.expected import baseline_band, expected_course
from tests.analysis.helpers import scores, sessions


def _cohort(n: int, baseline: float, day3: list[float]):
    s = pd.concat([sessions((0, "dosing"), patient=f"p{i}") for i in range(n)],
                  ignore_index=True)
    a = pd.concat([scores((0, baseline), (3, day3[i]), patient=f"p{i}") for i in range(n)],
                  ignore_index=True)
    return a, s


def test_percentiles_by_hand():
    # 21 moderately severe patients (baseline 16) with day-3 scores 0..20
    a, s = _cohort(21, 16, list(range(21)))
    out = expected_course(align(a, s), instrument="PHQ9", min_courses=20).set_index("bin")
    row = out.loc["1–3"]
    assert row["baseline_band"] == "moderately severe" and row["n_courses"] == 21
    # numpy linear percentiles of 0..20: p10 = 2, p50 = 10, p90 = 18
    assert (row["p_low"], row["p_mid"], row["p_high"]) == pytest.approx((2, 10, 18))
    assert out.loc["0", "p_mid"] == 16


def test_small_cells_are_not_reported():
    a, s = _cohort(5, 16, [1, 2, 3, 4, 5])
    assert expected_course(align(a, s), instrument="PHQ9", min_courses=20).empty
    assert len(expected_course(align(a, s), instrument="PHQ9", min_courses=5)) == 2


def test_baseline_bands():
    assert baseline_band(pd.Series([0, 4, 5, 19, 20, np.nan]), "PHQ9").tolist() == [
        "minimal", "minimal", "mild", "moderately severe", "severe", None]
    assert baseline_band(pd.Series([10, 40, 70]), "PCL5").tolist() == ["0–26", "27–53", "54–80"]
