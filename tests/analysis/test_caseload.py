"""Caseload and the assessment schedule, worked by hand."""

import pandas as pd

from analysis.alignment import align
from analysis.caseload import caseload, schedule_status
from analysis.settings import Settings
from tests.analysis.helpers import at, scores, sessions

T = pd.Timestamp


def test_schedule_by_hand():
    s = Settings()  # weekly in induction, every 14 days for 90 days after it
    first, end = T("2025-01-01"), T("2025-01-15")
    # in induction, last score Jan 10: due Jan 17; on Jan 14 not yet due
    assert schedule_status(as_of=T("2025-01-14"), first_dose_at=first, induction_end_at=end,
                           last_score_at=T("2025-01-10"), settings=s) == (
        "induction", T("2025-01-17"), None)
    # after induction (Jan 20): every 14 days from the last score -> Jan 24, not overdue
    assert schedule_status(as_of=T("2025-01-20"), first_dose_at=first, induction_end_at=end,
                           last_score_at=T("2025-01-10"), settings=s)[1:] == (T("2025-01-24"), None)
    # Feb 1: 8 days overdue
    assert schedule_status(as_of=T("2025-02-01"), first_dose_at=first, induction_end_at=end,
                           last_score_at=T("2025-01-10"), settings=s)[2] == 8
    # no score at all: counted from the first dose
    assert schedule_status(as_of=T("2025-01-09"), first_dose_at=first, induction_end_at=end,
                           last_score_at=None, settings=s) == ("induction", T("2025-01-08"), 1)
    # more than 90 days after induction: nothing routine is due
    assert schedule_status(as_of=T("2025-04-20"), first_dose_at=first, induction_end_at=end,
                           last_score_at=T("2025-01-10"), settings=s) == (
        "beyond follow-up", None, None)


def test_caseload_rows_by_hand():
    s = pd.concat([sessions((0, "dosing", None), (3, "dosing", None), patient="a"),
                   sessions((0, "dosing", None), patient="b")], ignore_index=True)
    a = pd.concat([scores((-1, 20), (2, 12), (10, 8), patient="a"),
                   scores((-1, 18), patient="b"),
                   scores((5, 9), patient="c")], ignore_index=True)   # c: no sessions at all
    c = caseload(align(a, s), as_of=at(20)).set_index("patient_id")
    # a: induction ended day 3; last score day 10 -> due day 24; last PHQ-9 8 (-60%)
    assert c.loc["a", "phase"] == "follow-up" and c.loc["a", "next_due"] == at(24)
    assert c.loc["a", "PHQ9_last"] == 8 and round(c.loc["a", "PHQ9_change"], 2) == -0.6
    assert pd.isna(c.loc["a", "days_overdue"]) and c.loc["a", "days_since_score"] == 10
    # b: one dose (induction ended day 0), only the baseline: due day 13, 7 days overdue
    assert c.loc["b", "days_overdue"] == 7
    assert c.loc["b", "PHQ9_last"] == 18 and pd.isna(c.loc["b", "PHQ9_change"])  # no "+0%"
    # c: scores but no course
    assert c.loc["c", "phase"] == "no course yet" and c.loc["c", "PHQ9_last"] == 9
    assert c.index[0] == "b"                                   # most overdue first
