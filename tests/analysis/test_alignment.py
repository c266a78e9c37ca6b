"""Alignment rules of definitions.md, each on a hand-made case."""

import numpy as np
import pandas as pd
import pytest

from analysis.alignment import align
from analysis.exceptions import AnalysisError
from analysis.settings import Settings
from tests.analysis.helpers import at, scores, sessions


def test_courses_inferred_by_gap():
    # doses on days 0, 3, 6, 9; then day 100 (91 days after day 9 > 90) opens course 2
    s = sessions((0, "dosing"), (3, "dosing"), (6, "dosing"), (9, "dosing"), (100, "dosing"))
    c = align(scores((0, 20)), s).courses
    assert c["course_id"].tolist() == ["course-1", "course-2"]
    assert c["course_number"].tolist() == [1, 2]
    assert c["induction_doses"].tolist() == [4, 1]
    assert c["induction_end_day"].tolist() == [9.0, 0.0]


def test_gap_of_exactly_90_days_stays_in_course():
    s = sessions((0, "dosing"), (90, "dosing"))
    c = align(scores((0, 20)), s).courses
    assert len(c) == 1 and c.loc[0, "booster_count"] == 1 and c.loc[0, "first_booster_day"] == 90


def test_booster_kind_never_opens_a_course():
    s = sessions((0, "dosing"), (3, "dosing"), (200, "booster"))
    c = align(scores((0, 20)), s).courses
    assert len(c) == 1 and c.loc[0, "booster_count"] == 1


def test_induction_chain_breaks_on_gap_and_cap():
    # gap 21 > 14 ends induction after day 9
    s = sessions((0, "dosing"), (3, "dosing"), (6, "dosing"), (9, "dosing"), (30, "dosing"))
    c = align(scores((0, 20)), s).courses.iloc[0]
    assert (c.induction_doses, c.induction_end_day, c.booster_count, c.first_booster_day) == \
        (4, 9.0, 1, 30.0)
    # ten doses three days apart: the first 8 are induction (max_induction_doses), 2 boosters
    s = sessions(*[(3 * i, "dosing") for i in range(10)])
    c = align(scores((0, 20)), s).courses.iloc[0]
    assert (c.induction_doses, c.booster_count, c.induction_end_day) == (8, 2, 21.0)


def test_booster_kind_ends_induction():
    s = sessions((0, "dosing"), (3, "dosing"), (5, "booster"), (7, "dosing"))
    out = align(scores((0, 20)), s)
    c = out.courses.iloc[0]
    assert (c.induction_doses, c.booster_count, c.first_booster_day) == (2, 2, 5.0)
    doses = out.sessions[out.sessions["is_dose"]].sort_values("day")
    assert doses["is_booster"].tolist() == [False, False, True, True]


def test_given_course_ids_are_used():
    s = sessions((0, "dosing", "10:00", "A"), (3, "dosing", "10:00", "A"),
                 (20, "dosing", "10:00", "B"))
    c = align(scores((0, 20)), s).courses
    assert c["course_id"].tolist() == ["A", "B"]
    assert not c["course_id_inferred"].any()


def test_window_and_unassigned_assessments():
    s = sessions((100, "dosing"), (103, "dosing"))
    a = scores((69, 20), (70, 21), (150, 12))   # day -31, day -30, day 50
    out = align(a, s).assessments
    assert out["unassigned_reason"].tolist()[0] == "before_first_course"
    assert pd.isna(out.loc[0, "course_id"]) and pd.isna(out.loc[0, "phase"])
    assert out["course_id"].tolist()[1:] == ["course-1", "course-1"]
    assert out.loc[1, "day"] == -30 and out.loc[1, "phase"] == "baseline"
    assert out.loc[1, "baseline_total"] == 21  # 21 is the baseline, the day -31 score is not


def test_patient_without_doses():
    s = sessions((0, "dosing"))
    a = pd.concat([scores((0, 20)), scores((0, 15), patient="p2")], ignore_index=True)
    out = align(a, s).assessments
    assert out["unassigned_reason"].iloc[1] == "no_dosing_sessions"
    assert pd.isna(out["unassigned_reason"].iloc[0])


def test_assessments_between_courses_belong_to_the_earlier_one():
    # course 2 starts day 200, its window opens day 170: day 169 is still course 1
    s = sessions((0, "dosing"), (200, "dosing"))
    out = align(scores((0, 20), (169, 15), (170, 18)), s).assessments
    assert out["course_id"].tolist() == ["course-1", "course-1", "course-2"]
    assert out["day"].tolist() == [0.0, 169.0, -30.0]


def test_day_rules_timed_and_untimed():
    s = sessions((0, "dosing", "10:00"), (3, "dosing", "10:00"))
    a = scores((0, 20),            # untimed on day 0: before the dose
               (0, 19, "09:00"),   # timed, before the dose
               (0, 12, "13:00"),   # timed, after: 3 h = 0.125 day
               (3, 11),            # untimed on a dosing day: before dose 2
               (3, 9, "16:00"))    # after dose 2
    out = align(a, s).assessments
    assert out["day"].tolist() == pytest.approx([0, -1 / 24, 0.125, 3, 3.25])
    assert out["phase"].tolist() == ["baseline", "baseline", "induction", "induction", "follow_up"]
    assert out["dose_number"].tolist() == [0, 0, 1, 1, 2]
    # the latest day <= 0 score is the timed 09:00 one (19), not the untimed midnight one
    assert out["baseline_total"].unique().tolist() == [19.0]


def test_untimed_dose_counts_after_same_day_scores():
    s = sessions((0, "dosing", None), (2, "dosing", None))
    out = align(scores((0, 20), (0, 18, "15:00"), (1, 12)), s).assessments
    assert out["day"].tolist() == [0, 0, 1]
    assert out["dose_number"].tolist() == [0, 0, 1]
    assert out["phase"].tolist() == ["baseline", "baseline", "induction"]


def test_phase_maintenance_after_first_booster():
    s = sessions((0, "dosing"), (3, "dosing"), (40, "dosing"))
    out = align(scores((-2, 20), (2, 12), (10, 9), (45, 8)), s).assessments
    assert out["phase"].tolist() == ["baseline", "induction", "follow_up", "maintenance"]
    assert out["booster_number"].tolist() == [0, 0, 0, 1]


def test_same_day_repeats_later_counts():
    s = sessions((0, "dosing"))
    a = scores((-1, 20, "09:00"), (-1, 22, "15:00"), (5, 10), (5, 11))
    out = align(a, s).assessments
    assert out["superseded"].tolist() == [True, False, True, False]
    assert out["baseline_total"].iloc[0] == 22
    # the same day on both sides of a dose is not a repeat
    out = align(scores((0, 20, "08:00"), (0, 10, "14:00")), sessions((0, "dosing"))).assessments
    assert not out["superseded"].any()


def test_change_response_remission():
    s = sessions((0, "dosing"))
    out = align(scores((0, 18), (2, 9), (4, 10), (6, 4)), s).assessments
    assert out["change"].tolist() == [0, -9, -8, -14]
    assert out["pct_change"].tolist() == pytest.approx([0, -0.5, -8 / 18, -14 / 18])
    assert out["is_response"].tolist() == [False, True, False, True]  # -50% exactly responds
    assert out["is_remission"].tolist() == [False, False, False, True]


def test_zero_baseline_leaves_response_undefined():
    out = align(scores((0, 0), (2, 3)), sessions((0, "dosing"))).assessments
    assert np.isnan(out.loc[1, "pct_change"]) and pd.isna(out.loc[1, "is_response"])
    assert out.loc[1, "change"] == 3


def test_unscored_rows_kept_but_not_used():
    out = align(scores((0, None), (-3, 20), (2, 8)), sessions((0, "dosing"))).assessments
    assert out["usable"].tolist() == [False, True, True]
    assert out["baseline_total"].iloc[2] == 20


def test_integration_sessions_are_not_doses():
    s = sessions((0, "dosing"), (1, "integration"), (3, "dosing"), (-5, "preparation"))
    out = align(scores((0, 20)), s)
    assert out.courses.loc[0, "induction_doses"] == 2
    integ = out.sessions[out.sessions["kind"] == "integration"].iloc[0]
    assert integ["course_id"] == "course-1" and integ["day"] == 1 and not integ["is_dose"]


def test_settings_change_the_rules():
    s = sessions((0, "dosing"), (20, "dosing"))
    default = align(scores((0, 20)), s).courses.iloc[0]
    wider = align(scores((0, 20)), s, settings=Settings(induction_gap_days=21)).courses.iloc[0]
    assert (default.induction_doses, wider.induction_doses) == (1, 2)


def test_validation_errors_name_the_problem():
    with pytest.raises(AnalysisError, match="missing column"):
        align(pd.DataFrame({"patient_id": ["p"]}), sessions((0, "dosing")))
    bad = sessions((0, "dosing")).assign(kind="infusion")
    with pytest.raises(AnalysisError, match="kind must be one of"):
        align(scores((0, 20)), bad)
    with pytest.raises(AnalysisError, match="unparseable timestamp"):
        align(scores((0, 20)).assign(administered_at="not a date"), sessions((0, "dosing")))


def test_timezone_aware_input_keeps_wall_clock():
    s = sessions((0, "dosing", "10:00"))
    s["session_at"] = s["session_at"].dt.tz_localize("America/New_York")
    a = scores((0, 12, "13:00"))
    a["administered_at"] = a["administered_at"].dt.tz_localize("America/New_York")
    assert align(a, s).assessments["day"].iloc[0] == pytest.approx(0.125)
    assert at(0) == pd.Timestamp("2025-01-01")
