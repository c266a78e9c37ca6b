"""The bundled sample data: deterministic, in the import formats, realistic in shape."""

import pandas as pd

from analysis import per_course_outcomes, summarize_rates, summarize_survival
from sample_data.generate import SAMPLE_DIR, generate


def test_generator_is_deterministic():
    a = generate(40, seed=7)
    b = generate(40, seed=7)
    pd.testing.assert_frame_equal(a.assessments, b.assessments)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    assert not generate(40, seed=8).assessments.equals(a.assessments)


def test_bundled_csvs_are_the_seeded_output(sample_frames):
    patients, sessions, _ = sample_frames
    fresh = generate(300, seed=2025)
    assert patients["patient_id"].tolist() == fresh.patients["patient_id"].tolist()
    assert len(sessions) == len(fresh.sessions)
    header = (SAMPLE_DIR / "assessments.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["patient_id", "instrument", "administered_at", "total"]
    wide = (SAMPLE_DIR / "assessments_wide_example.csv").read_text().splitlines()[0]
    assert wide.startswith("patient_id,administered_at,") and "phq9_total" in wide


def test_shape_follows_the_literature(sample_alignment, sample_frames):
    patients, sessions, scored = sample_frames
    assert len(patients) == 300
    assert set(sessions["route"].dropna()) == {"IV", "IM", "IN", "SL"}
    assert set(patients["clinic_id"]) == {"north", "central", "coast"}
    c = sample_alignment.courses
    assert (c["course_number"] == 2).sum() >= 15                   # returning patients
    dropout = (c["induction_doses"] < 4).mean()
    assert 0.3 < dropout < 0.6                                     # about half stop early
    o = per_course_outcomes(sample_alignment)
    r = summarize_rates(o).query("instrument == 'PHQ9'").set_index("outcome")
    completers = o[(o.instrument == "PHQ9") & (o.induction_doses >= 4)]
    resp = completers["endpoint_response"].dropna().mean()
    assert 0.45 < resp < 0.8                                       # ~50–70% among completers
    assert r.loc["endpoint_response", "n"] > 150
    km = summarize_survival(o, endpoint="durability", instrument="PHQ9").curves[0].km
    assert 14 <= km.median <= 90                                   # weeks, not days or years
    assert scored["total"].isna().sum() > 0                        # missing items planted
    assert sample_alignment.assessments["superseded"].sum() > 0    # same-day repeats planted
