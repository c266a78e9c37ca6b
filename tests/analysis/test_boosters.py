"""Booster effect and intervals on hand-made courses; Wilcoxon against a known result."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.alignment import align
from analysis.boosters import booster_effect, booster_intervals
from tests.analysis.helpers import scores, sessions


def _course(patient, before, after, booster_day=30):
    s = sessions((0, "dosing", None), (3, "dosing", None), (booster_day, "booster", None),
                 patient=patient)
    a = scores((0, 20), (10, 8), (booster_day - 2, before), (booster_day + 5, after),
               patient=patient)
    return s, a


def test_pairs_by_hand():
    parts = [_course("a", 15, 8), _course("b", 12, 11), _course("c", 9, 9), _course("d", 16, 6)]
    s = pd.concat([p[0] for p in parts], ignore_index=True)
    a = pd.concat([p[1] for p in parts], ignore_index=True)
    res = booster_effect(align(a, s), instrument="PHQ9")
    pairs = res.pairs.set_index("patient_id")
    assert pairs["change"].tolist() == [-7, -1, 0, -10]
    assert pairs.loc["a", ["pre_day", "post_day", "booster_day"]].tolist() == [28, 35, 30]
    # pre: 15 (-25%), 12, 9 (-55%: in response), 16; post responses: 8 yes, 11 no, 6 yes
    assert (res.n_not_in_response_before, res.n_regained) == (3, 2)
    assert res.regain_rate == pytest.approx(2 / 3)
    # Wilcoxon on [-7, -1, 0, -10], zero dropped: ranks 2, 1, 3 all negative -> W = 0
    ref = stats.wilcoxon([-7, -1, -10])
    assert res.wilcoxon_statistic == 0 and res.pvalue == pytest.approx(ref.pvalue)
    assert res.median_change == pytest.approx(-4)


def test_scores_outside_the_windows_are_not_paired():
    s = sessions((0, "dosing", None), (30, "booster", None))
    # 15 days before (outside 14) and the booster day itself (0 days after) do not count
    a = scores((0, 20), (15, 14), (30, 6), (50, 7))
    res = booster_effect(align(a, s), instrument="PHQ9")
    assert res.n_pairs == 0 and res.pvalue is None and res.median_change is None


def test_second_booster_pairs_within_its_own_interval():
    s = sessions((0, "dosing", None), (30, "booster", None), (40, "booster", None))
    a = scores((0, 20), (28, 14), (35, 8), (39, 12), (45, 7))
    pairs = booster_effect(align(a, s), instrument="PHQ9").pairs
    assert pairs[["booster_index", "pre_total", "post_total"]].to_numpy().tolist() == [
        [1, 14, 8], [2, 12, 7]]


def test_booster_intervals():
    s = sessions((0, "dosing"), (30, "booster"), (58, "booster"), (100, "booster"))
    iv = booster_intervals(align(scores((0, 20)), s))
    assert iv["interval_days"].tolist() == [28, 42] and iv["booster_index"].tolist() == [2, 3]
    assert np.isfinite(iv["interval_days"]).all()
