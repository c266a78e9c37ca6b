"""Small-cell suppression on hand-made tables whose right answer is worked out here."""

import numpy as np
import pandas as pd
import pytest

from analysis.suppression import suppress_rates


def table(rows):
    df = pd.DataFrame(rows, columns=["route", "k", "n"])
    return df.assign(instrument="PHQ9", outcome="endpoint_response", n_patients=df["n"],
                     rate=df["k"] / df["n"], ci_low=0.0, ci_high=1.0)


def test_nothing_small_nothing_hidden():
    out = suppress_rates(table([("IV", 30, 60), ("IM", 20, 40)]), by=["route"])
    assert out["suppressed"].tolist() == ["", ""] and out["k"].tolist() == [30, 20]


def test_primary_and_complementary():
    # SL has 8 patients: primary. IV+IM+SL add up to the published total, so with SL alone
    # hidden SL = total - IV - IM; the smallest other group (IM, 25) is hidden too.
    out = suppress_rates(table([("IV", 30, 60), ("IM", 12, 25), ("SL", 3, 8)]), by=["route"])
    assert out["suppressed"].tolist() == ["", "complementary", "primary"]
    assert np.isnan(out.loc[1, "n"]) and np.isnan(out.loc[2, "n"]) and out.loc[0, "n"] == 60
    assert np.isnan(out.loc[1, "rate"]) and out.loc[0, "rate"] == pytest.approx(0.5)


def test_small_numerator_or_complement_hides_the_rate_not_n():
    # IV: 5 responders of 40 -> k < 11; IM: 33 of 40 -> 7 non-responders < 11; IN fine
    out = suppress_rates(table([("IV", 5, 40), ("IM", 33, 40), ("IN", 20, 40)]), by=["route"])
    assert out["suppressed"].tolist() == ["primary", "primary", ""]
    assert out["n"].tolist() == [40, 40, 40]            # the n are all shown
    assert np.isnan(out.loc[0, "k"]) and np.isnan(out.loc[1, "rate"])
    assert out.loc[2, "k"] == 20


def test_one_hidden_rate_forces_a_second():
    # only IV's rate is hidden (k = 4): total responders - IM's k would reveal it -> hide IM's too
    out = suppress_rates(table([("IV", 4, 30), ("IM", 15, 30)]), by=["route"])
    assert out["suppressed"].tolist() == ["primary", "complementary"]
    assert np.isnan(out["rate"]).all() and out["n"].tolist() == [30, 30]


def test_sets_are_separate_per_outcome():
    a = table([("IV", 30, 60), ("SL", 3, 8), ("IM", 15, 30)])
    b = table([("IV", 30, 60), ("SL", 3, 8), ("IM", 15, 30)]).assign(outcome="endpoint_remission")
    out = suppress_rates(pd.concat([a, b], ignore_index=True), by=["route"])
    assert out["suppressed"].tolist() == ["", "primary", "complementary"] * 2


def test_threshold_is_a_setting():
    out = suppress_rates(table([("IV", 30, 60), ("IM", 12, 25)]), by=["route"], min_cell_size=26)
    assert out["suppressed"].tolist() == ["complementary", "primary"]  # IM has 25 < 26
    with pytest.raises(ValueError):
        suppress_rates(table([("IV", 1, 2)]), by=["route"], min_cell_size=0)
