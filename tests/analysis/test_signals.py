"""Clinical signals on hand-made courses."""

import pandas as pd

from analysis.alignment import align
from analysis.signals import current_signals, fading_history
from tests.analysis.helpers import scores, sessions


def test_fading_history_by_hand():
    s = sessions((0, "dosing", None), (3, "dosing", None))
    # baseline 20; day 2: 8 (response); 9: 12 (lost, and 12 - 8 = 4 < 6); 16: 9 (response);
    # 23: 15 (lost; 15 - 8 = 7 >= 6 reliable); 30: 16 (second non-response: relapse confirmed)
    a = scores((0, 20), (2, 8), (9, 12), (16, 9), (23, 15), (30, 16))
    h = fading_history(align(a, s))
    assert h["day"].tolist() == [2, 9, 16, 23, 30]
    assert h["best"].tolist() == [8, 8, 8, 8, 8]
    assert h["lost_response"].tolist() == [False, True, False, True, False]
    assert h["deteriorated"].tolist() == [False, False, False, True, True]
    assert h["relapsed"].tolist() == [False, False, False, False, True]
    assert h["fading"].tolist() == [False, True, False, True, False]


def test_current_signals_safety_first_then_fading():
    s = pd.concat([sessions((0, "dosing", None), patient=p) for p in ("a", "b", "c")],
                  ignore_index=True)
    a = pd.concat([
        scores((0, 20), (2, 8), (9, 12), patient="a"),          # fading (lost response)
        scores((0, 20), (2, 8), patient="b").assign(item_9=[0, 2]),  # safety high priority
        scores((0, 20), (2, 8), patient="c").assign(item_9=[0, 1]),  # safety review
    ], ignore_index=True)
    sig = current_signals(align(a, s))
    assert sig[["patient_id", "kind"]].values.tolist() == [
        ["b", "safety_high_priority"], ["c", "safety_review"], ["a", "fading"]]
    assert "no longer a response" in sig.loc[2, "reason"]
    assert "item 9 = 2" in sig.loc[0, "reason"]


def test_off_track_needs_history_and_fires_above_the_band():
    n = 25
    s = pd.concat([sessions((0, "dosing", None), (3, "dosing", None), (6, "dosing", None),
                            patient=f"p{i}") for i in range(n + 1)], ignore_index=True)
    history = [scores((0, 16), (2, 8 + i % 5), patient=f"p{i}") for i in range(n)]
    late = scores((0, 16), (2, 15), patient=f"p{n}")   # still 15 on day 2, in induction
    al = align(pd.concat(history + [late], ignore_index=True), s)
    sig = current_signals(al, min_courses=20)
    off = sig[sig["kind"] == "off_track"]
    assert off["patient_id"].tolist() == [f"p{n}"]
    assert "above the 90th percentile" in off["reason"].iloc[0]
    assert current_signals(al, min_courses=100).query("kind == 'off_track'").empty
