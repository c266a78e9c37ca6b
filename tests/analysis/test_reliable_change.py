"""Reliable and clinically significant change: the §2.6 worked example and §2.5 table."""

import pytest

from analysis.reliable_change import RCIParams, clinical_cutoffs, gln_rci, reliable_change_index
from analysis.settings import Settings, reliable_change_threshold


def test_worked_example_2_6():
    # clinical-reference.md §2.6 (a): pre 18, post 9, SD 5.5, r .84
    p = RCIParams(sd=5.5, reliability=0.84)
    assert p.se_measurement == pytest.approx(2.2)
    assert p.s_diff == pytest.approx(3.111270, abs=1e-6)
    assert reliable_change_index(18, 9, p) == pytest.approx(-2.892710, abs=1e-6)
    assert gln_rci(18, 9, mean_pre=15.4, params=p) == pytest.approx(-2.876459, abs=1e-6)
    cut = clinical_cutoffs(mean_dysfunctional=15.4, sd_dysfunctional=5.5, mean_functional=2.9,
                           sd_functional=3.5)
    assert (cut.a, cut.b, cut.c) == pytest.approx((4.4, 9.9, 7.761111), abs=1e-6)


@pytest.mark.parametrize(("sd", "r", "expected"), [
    # clinical-reference.md §2.5 [C]
    (5.5, 0.84, 6.10), (5.5, 0.89, 5.06), (4.5, 0.83, 5.14), (4.5, 0.92, 3.53),
    (14, 0.82, 16.46), (14, 0.94, 9.51),
])
def test_thresholds_table_2_5(sd, r, expected):
    assert reliable_change_threshold(sd, r) == pytest.approx(expected, abs=0.005)


def test_rci_sign_flips_when_pre_and_post_swap():
    p = RCIParams(sd=4.5, reliability=0.92)
    assert reliable_change_index(12, 5, p) == -reliable_change_index(5, 12, p)


def test_settings_derive_threshold_from_parameters():
    s = Settings().with_rci_parameters("GAD7", sd=4.5, reliability=0.92)
    assert s.thresholds("GAD7").reliable_change_points == pytest.approx(3.53, abs=0.005)
    assert s.thresholds("PHQ9").reliable_change_points == 6


def test_bad_parameters():
    with pytest.raises(ValueError, match="reliability"):
        RCIParams(sd=5, reliability=1.0)
    with pytest.raises(ValueError):
        clinical_cutoffs(mean_dysfunctional=1, sd_dysfunctional=0, mean_functional=0,
                         sd_functional=1)
