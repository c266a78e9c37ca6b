"""Chart builders return the figures they promise (traces, bands, n, colours)."""

import pandas as pd
import pytest

from analysis import (
    attrition_funnel,
    course_attributes,
    mean_trajectory,
    per_course_outcomes,
    summarize_rates,
    summarize_survival,
)
from dashboard import charts


@pytest.fixture(scope="module")
def results(sample_alignment, sample_frames):
    patients, _, _ = sample_frames
    outcomes = per_course_outcomes(sample_alignment)
    attrs = course_attributes(sample_alignment, patients)
    return sample_alignment, outcomes, attrs


def test_trajectory_has_band_and_line_per_instrument(results):
    al, _, _ = results
    traj = {c: mean_trajectory(al, instrument=c) for c in ("PHQ9", "GAD7")}
    fig = charts.trajectory_figure(traj)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in lines] == ["PHQ-9", "GAD-7"] and len(bands) == 2
    assert lines[0].line.color == charts.INSTRUMENT_COLOURS["PHQ9"]
    assert list(lines[0].x) == traj["PHQ9"]["bin"].tolist()
    assert lines[0].customdata[0][0] == traj["PHQ9"]["n_courses"].iloc[0]  # n on hover


def test_km_figure_by_route_states_logrank(results):
    _, outcomes, attrs = results
    s = summarize_survival(outcomes, endpoint="durability", instrument="PHQ9",
                           attributes=attrs, by="route")
    fig = charts.km_figure(s, title="Durability", xaxis_title="days")
    curves = [t for t in fig.data if t.fill != "toself"]
    assert len(curves) == len(s.curves)
    assert all("(n=" in t.name for t in curves) and "log-rank" in fig.layout.title.text
    assert all(t.line.shape == "hv" for t in curves)  # step function


def test_rates_figure_suppresses_small_groups(results):
    _, outcomes, attrs = results
    r = summarize_rates(outcomes, attributes=attrs, by=["clinician_id"])
    r = r[r["instrument"] == "PHQ9"]
    fig = charts.rates_figure(r, by="clinician_id", outcome="endpoint_response",
                              title="Response", suppress_below=11)
    shown = r[(r.outcome == "endpoint_response") & (r.n_patients >= 11)]
    assert len(fig.data[0].y) == len(shown)
    assert all("n=" in t for t in fig.data[0].text)
    if (r[r.outcome == "endpoint_response"].n_patients < 11).any():
        assert "not shown" in fig.layout.title.text


def test_funnel_and_trend(results):
    _, outcomes, attrs = results
    f = charts.funnel_figure(attrition_funnel(outcomes, instrument="PHQ9"))
    assert list(f.data[0].x)[0] == (outcomes.instrument == "PHQ9").sum()
    r = summarize_rates(outcomes, attributes=attrs, by=["start_month"])
    t = charts.trend_figure(r[r.instrument == "PHQ9"], outcome="endpoint_response",
                            title="Trend")
    assert [d.name for d in t.data if d.mode == "lines+markers"] == ["PHQ-9"]


def test_weekly_response_in_week_order(results):
    from analysis import week_bins
    al, _, _ = results
    w = mean_trajectory(al, instrument="PHQ9", value="is_response", bins=week_bins(12))
    fig = charts.weekly_response_figure(w.sample(frac=1, random_state=1), instrument="PHQ9")
    line = [d for d in fig.data if d.mode == "lines+markers"][0]
    assert list(line.x) == [f"week {i}" for i in range(1, len(w) + 1)]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_patient_figure_marks_sessions_thresholds_and_item9(results):
    al, _, _ = results
    a = al.assessments
    pid = a.loc[(a.instrument == "PHQ9") & a["item_9"].notna(), "patient_id"].iloc[0]
    pa = a[a.patient_id == pid]
    ps = al.sessions[al.sessions.patient_id == pid]
    fig = charts.patient_figure(pa, ps, reliable_change={"PHQ9": 6, "GAD7": 4, "PCL5": 10})
    names = [t.name for t in fig.data]
    assert "PHQ-9" in names and "PHQ-9 item 9" in names and "dosing session" in names
    texts = [a.text for a in fig.layout.annotations if a.text]
    assert any(t.startswith("baseline") for t in texts) and "response (−50%)" in texts
    assert len([s for s in fig.layout.shapes if s.type == "line"]) >= len(ps)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) >= 5  # PHQ-9's five severity bands are shaded
    empty = charts.patient_figure(pa.iloc[0:0], ps.iloc[0:0], reliable_change={})
    assert isinstance(empty.to_dict(), dict)
    assert pd.notna(pid)
