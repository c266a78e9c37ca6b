"""Patient view pieces in words (dashboard.views), worked by hand."""

import pandas as pd

from analysis import align, completeness, per_course_outcomes
from dashboard import views
from tests.analysis.helpers import scores, sessions


def test_outcome_rows_in_words_with_reasons():
    s = sessions((0, "dosing", None), (3, "dosing", None), (100, "dosing", None))
    a = pd.concat([scores((-1, 20), (2, 9), (10, 8), (30, 7)),      # course 1: baseline
                   scores((110, 12))], ignore_index=True)           # course 2: no baseline
    al = align(a, s)
    o = per_course_outcomes(al)
    rows = views.outcome_rows(o, completeness(al, o))
    first, second = rows.iloc[0], rows.iloc[1]
    assert first["Course"] == "course-1 (2025-01-01)" and first["Response"] == "yes"
    assert first["Baseline → endpoint"] == "20 → 8 (-60%)"
    assert first["First response (day)"] == "2"                    # whole days
    assert first["Response lasted (days)"].endswith("so far")      # censored
    assert second["Baseline → endpoint"] == "— (no baseline score)"
    assert second["Response"].startswith("— (")
    assert "Remission" in rows.columns and "endpoint_response" not in rows.columns


def test_header_for_a_patient_with_only_intake_scores():
    al = align(scores((0, 18), (20, 15)), sessions((0, "dosing", None)).iloc[0:0])
    h = views.patient_header("p1", {"clinic_id": "north"}, al.courses, al.assessments,
                             al.sessions, settings=al.settings,
                             as_of=pd.Timestamp("2025-02-01"), open_signals=0)
    assert (h.course, h.phase, h.next_due, h.clinic) == ("no course yet", "—", "—", "north")
    assert h.last_contact.startswith("2025-01-21")
