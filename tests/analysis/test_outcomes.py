"""Per-course outcomes on hand-worked courses, plus a brute-force cross-check on sample data."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis import schemas as S
from analysis.alignment import align
from analysis.outcomes import completeness, per_course_outcomes
from analysis.settings import Settings
from tests.analysis.helpers import scores, sessions


def untimed(*days_kinds):
    return sessions(*[(d, k, None) for d, k in days_kinds])


def outcome(a, s, settings=None):
    out = per_course_outcomes(align(a, s, settings=settings))
    assert len(out) == 1
    return out.iloc[0]


def test_fields_are_exactly_the_spec():
    settings = Settings(rapid_window_days=5)
    out = per_course_outcomes(align(scores((0, 20)), untimed((0, "dosing")), settings=settings))
    assert tuple(out.columns) == S.OUTCOME_FIELDS
    assert out.attrs == {}   # the settings travel with the Alignment, not in a frame's attrs


def test_full_course_by_hand():
    s = untimed((0, "dosing"), (3, "dosing"), (7, "dosing"), (10, "dosing"), (40, "dosing"))
    a = scores((-2, 20), (1, 14), (4, 9), (7, 8), (14, 6), (20, 12), (27, 13), (45, 7))
    o = outcome(a, s)
    assert (o.baseline_total, o.baseline_day) == (20, -2)
    assert (o.induction_doses, o.induction_end_day) == (4, 10)
    # rapid window (0, 7]: days 1, 4, 7; day 4 is -55% -> rapid response; early change at day 7
    assert o.rapid_response and o.early_pct_change == pytest.approx(-0.6)
    assert (o.days_to_response, o.response_censored, o.first_response_day) == (4, False, 4)
    # endpoint window [10, 24] before the day-40 booster: days 14 and 20 -> the last, day 20
    assert (o.endpoint_day, o.endpoint_total) == (20, 12)
    assert o.endpoint_pct_change == pytest.approx(-0.4)
    assert not o.endpoint_response and not o.endpoint_remission
    assert o.reliable_improvement and not o.reliable_deterioration   # -8 <= -6
    assert not o.clinically_significant_improvement                  # 12 is still >= 10
    # days 20 and 27 are two consecutive non-responses: relapse dated day 20, 16 days after day 4
    assert (o.relapse_day, o.durability_days, o.durability_censored) == (20, 16, False)
    assert (o.booster_count, o.days_to_first_booster, o.booster_censored) == (1, 30, False)


def test_booster_while_in_response_censors_at_the_booster():
    s = untimed((0, "dosing"), (3, "dosing"), (30, "booster"))
    o = outcome(scores((-1, 16), (2, 7), (10, 6), (35, 5)), s)
    assert (o.first_response_day, o.durability_days, o.durability_censored) == (2, 28, True)
    assert pd.isna(o.relapse_day)
    # endpoint: day 10 in [3, 17]; -10 points from 16 to 6: reliable and clinically significant
    assert (o.endpoint_total, o.endpoint_response) == (6, True)
    assert o.clinically_significant_improvement and not o.endpoint_remission


def test_unconfirmed_loss_then_booster_censors_at_last_score():
    s = untimed((0, "dosing"), (3, "dosing"), (30, "booster"))
    o = outcome(scores((-1, 16), (2, 7), (10, 10), (35, 5)), s)
    assert (o.durability_days, o.durability_censored) == (8, True)


def test_no_response_is_censored_before_the_booster():
    s = untimed((0, "dosing"), (3, "dosing"), (20, "booster"))
    o = outcome(scores((-1, 16), (2, 14), (9, 12), (25, 5)), s)
    assert (o.days_to_response, o.response_censored) == (9, True)
    assert pd.isna(o.first_response_day) and np.isnan(o.durability_days)
    assert pd.isna(o.durability_censored)


def test_no_baseline_no_endpoint_outcome():
    # definitions.md, denominators: without a baseline a course enters no rate, remission included
    o = outcome(scores((2, 4)), untimed((0, "dosing")))
    assert np.isnan(o.baseline_total) and pd.isna(o.rapid_response)
    assert pd.isna(o.days_to_response) and pd.isna(o.endpoint_response)
    assert o.endpoint_total == 4 and pd.isna(o.endpoint_remission)
    assert pd.isna(o.reliable_improvement) and pd.isna(o.clinically_significant_improvement)


def test_remission_only_for_courses_starting_at_or_above_caseness():
    # PHQ-9 caseness is 10: a course starting at 8 cannot remit (undefined), one at 10 can
    below = outcome(scores((-1, 8), (9, 3)), untimed((0, "dosing")))
    assert pd.isna(below.endpoint_remission) and pd.isna(below.clinically_significant_improvement)
    assert below.endpoint_response  # 8 -> 3 is still a response (-62.5%)
    at = outcome(scores((-1, 10), (9, 3)), untimed((0, "dosing")))
    assert at.endpoint_remission and at.reliable_improvement is not pd.NA


def test_no_score_in_rapid_window_is_unknown_not_false():
    s = untimed((0, "dosing"), (3, "dosing"), (10, "dosing"))
    o = outcome(scores((-1, 20), (12, 8)), s)
    assert pd.isna(o.rapid_response) and np.isnan(o.early_pct_change)
    assert o.days_to_response == 12


def test_relapse_confirmations_setting():
    s = untimed((0, "dosing"))
    a = scores((-1, 20), (2, 8), (9, 12), (16, 13), (23, 9))
    assert outcome(a, s).relapse_day == 9
    three = outcome(a, s, Settings(relapse_confirmations=3))
    assert pd.isna(three.relapse_day) and three.durability_censored
    assert three.durability_days == 21  # censored at the last score, day 23


def test_time_to_booster_censored_at_last_contact():
    s = untimed((0, "dosing"), (4, "dosing"), (60, "integration"))
    o = outcome(scores((-1, 20), (30, 10)), s)
    assert (o.days_to_first_booster, o.booster_censored) == (56, True)  # 60 - 4


def test_reliable_deterioration_and_thresholds_from_settings():
    s = untimed((0, "dosing"))
    o = outcome(scores((0, 10), (5, 16)), s)
    assert o.reliable_deterioration and not o.reliable_improvement
    lenient = outcome(scores((0, 10), (5, 16)), s,
                      Settings().with_threshold("PHQ9", reliable_change_points=7))
    assert not lenient.reliable_deterioration


def test_other_instruments_use_their_cut_offs():
    s = untimed((0, "dosing"))
    gad = outcome(scores((0, 12), (7, 7), instrument="GAD7"), s)
    # GAD-7: change -5 >= 4 reliable; baseline 12 >= caseness 8, endpoint 7 < 8 -> significant
    assert gad.reliable_improvement and gad.clinically_significant_improvement
    pcl = outcome(scores((0, 50), (7, 34), instrument="PCL5"), s)
    # PCL-5: -16 points (>= 10) but 34 is not below 33
    assert pcl.reliable_improvement and not pcl.endpoint_remission
    assert not pcl.clinically_significant_improvement


def test_one_row_per_course_and_instrument():
    s = untimed((0, "dosing"), (200, "dosing"))
    a = pd.concat([scores((0, 20), (5, 10)), scores((0, 12), instrument="GAD7"),
                   scores((199, 18))], ignore_index=True)
    out = per_course_outcomes(align(a, s))
    assert list(zip(out.course_id, out.instrument, strict=True)) == [
        ("course-1", "GAD7"), ("course-1", "PHQ9"), ("course-2", "GAD7"), ("course-2", "PHQ9")]


def test_completeness_reasons():
    s = pd.concat([
        untimed((0, "dosing"), (3, "dosing")).assign(patient_id="ok"),
        untimed((0, "dosing")).assign(patient_id="nobase"),
        untimed((0, "dosing"), (3, "dosing")).assign(patient_id="lost"),
        untimed((0, "dosing"), (3, "dosing"), (10, "booster")).assign(patient_id="boost"),
        untimed((0, "dosing"), (3, "dosing")).assign(patient_id="late"),
    ], ignore_index=True)
    a = pd.concat([
        scores((0, 20), (2, 9), (10, 8), patient="ok"),
        scores((5, 9), patient="nobase"),
        scores((0, 20), (1, 15), patient="lost"),
        scores((0, 20), (15, 8), patient="boost"),
        scores((0, 20), (30, 8), patient="late"),
    ], ignore_index=True)
    al = align(a, s)
    c = completeness(al).set_index("patient_id")
    assert c.loc["ok", ["baseline_status", "rapid_status", "endpoint_status"]].tolist() == \
        ["ok", "ok", "ok"]
    assert c.loc["nobase", "endpoint_status"] == "no_baseline"
    assert c.loc["nobase", "rapid_status"] == "no_baseline"
    assert c.loc["lost", "endpoint_status"] == "lost_to_follow_up"
    assert c.loc["boost", "endpoint_status"] == "booster_before_endpoint"
    assert c.loc["late", "endpoint_status"] == "no_endpoint_assessment"
    assert c.loc["late", "rapid_status"] == "no_rapid_assessment"
    assert not c.loc["lost", "completed_induction"]


def test_completeness_counts_repeats_and_unscored():
    s = untimed((0, "dosing"))
    c = completeness(align(scores((0, 20), (0, 21), (3, None)), s)).iloc[0]
    assert (c.n_assessments, c.n_usable, c.n_superseded, c.n_unscored) == (3, 1, 1, 1)


# --- an independent, loop-per-course implementation of the same definitions ----------------

def _reference(al, settings):
    """Straightforward per-course Python; shares nothing with outcomes.py but the aligned rows."""
    rows = []
    a = al.assessments
    for c in al.courses.itertuples():
        course_rows = a[(a.patient_id == c.patient_id) & (a.course_id == c.course_id)]
        for instr in sorted(a.loc[a.patient_id == c.patient_id, "instrument"].unique()):
            r = course_rows[(course_rows.instrument == instr) & course_rows.usable]
            r = r.sort_values("day", kind="stable")
            base = r[r.day <= 0]
            bt = base.total.iloc[-1] if len(base) else math.nan
            post = [x for x in r.itertuples() if x.day > 0 and x.booster_number == 0]
            fb = c.first_booster_day
            res = {"patient_id": c.patient_id, "course_id": c.course_id, "instrument": instr}
            resp = [(x.day, bool(x.is_response)) for x in post] if not math.isnan(bt) else []
            first = next((d for d, ok in resp if ok), None)
            res["first_response_day"] = first if first is not None else math.nan
            res["days_to_response"] = (first if first is not None else
                                       (resp[-1][0] if resp else math.nan))
            relapse, run = None, []
            if first is not None:
                for d, ok in resp:
                    if d < first:
                        continue
                    run = run + [d] if not ok else []
                    if len(run) == settings.relapse_confirmations:
                        relapse = run[0]
                        break
                if relapse is not None:
                    dur = relapse - first
                elif not math.isnan(fb) and resp[-1][1]:
                    dur = max(fb, resp[-1][0]) - first
                else:
                    dur = resp[-1][0] - first
            else:
                dur = math.nan
            res["relapse_day"] = relapse if relapse is not None else math.nan
            res["durability_days"] = dur
            ep = [x for x in post if c.induction_end_day <= x.day
                  <= c.induction_end_day + settings.endpoint_window_days]
            res["endpoint_total"] = ep[-1].total if ep else math.nan
            rapid = [ok for d, ok in resp if d <= settings.rapid_window_days]
            res["rapid_response"] = any(rapid) if rapid else None
            rows.append(res)
    return pd.DataFrame(rows)


def test_matches_independent_loop_implementation(sample_alignment):
    al = sample_alignment
    fast = per_course_outcomes(al).sort_values(["patient_id", "course_id", "instrument"])
    ref = _reference(al, al.settings).sort_values(["patient_id", "course_id", "instrument"])
    assert len(fast) == len(ref) > 500
    for col in ("first_response_day", "days_to_response", "relapse_day", "durability_days",
                "endpoint_total"):
        np.testing.assert_allclose(fast[col].to_numpy(dtype=float), ref[col].to_numpy(dtype=float),
                                   err_msg=col)
    fr = fast["rapid_response"].astype(object).where(fast["rapid_response"].notna(), None)
    assert fr.tolist() == ref["rapid_response"].tolist()


def test_completeness_lists_courses_never_assessed():
    s = pd.concat([untimed((0, "dosing")), untimed((0, "dosing")).assign(patient_id="silent")],
                  ignore_index=True)
    c = completeness(align(scores((0, 20)), s)).set_index("patient_id")
    assert c.loc["silent", "endpoint_status"] == "no_assessments"
    assert pd.isna(c.loc["silent", "instrument"])


def test_untimed_score_on_booster_date_never_gives_negative_durability():
    # day 0 at 15:30; an untimed score on day 30 counts as before the 12:00 booster that day,
    # with day 30 (calendar) while the booster is day 29.85: durability is censored at 30
    s = sessions((0, "dosing", "15:30"), (30, "booster", "12:00"))
    o = outcome(scores((-1, 20), (10, 8), (30, 7)), s)
    assert (o.first_response_day, o.durability_days, o.durability_censored) == (10, 20, True)
