"""Chart builders return the figures they promise (traces, bands, n, colours)."""

import numpy as np
import pytest

from analysis import Settings, course_attributes, per_course_outcomes
from analysis.cohort import wide_bin_means
from dashboard import charts, views


@pytest.fixture(scope="module")
def results(sample_alignment, sample_frames):
    patients, _, _ = sample_frames
    outcomes = per_course_outcomes(sample_alignment)
    attrs = course_attributes(sample_alignment, patients)
    return sample_alignment, outcomes, attrs


@pytest.fixture(scope="module")
def overview(results):
    al, outcomes, attrs = results
    return views.overview_view(outcomes, wide_bin_means(al), attrs, instrument="PHQ9",
                               settings=Settings(),
                               n_current=0, as_of=al.assessments["administered_at"].max())


def test_trajectory_one_instrument_at_real_day_positions(overview):
    view = overview.trajectory
    fig = charts.trajectory_figure(view)
    lines = [t for t in fig.data if t.mode == "lines+markers+text"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in lines] == ["PHQ-9"] and len(bands) == 1
    assert "(PHQ-9)" in fig.layout.title.text and "all instruments" not in fig.layout.title.text
    shown = view.table[~view.table["withheld"]]
    # at the real day of each bin centre (0, 1.5, 5, 11, 21, 42, 73, 135) on a square-root axis
    assert list(lines[0].x) == pytest.approx(np.sqrt(shown["day_mid"]).tolist())
    assert shown["day_mid"].tolist()[:3] == [0.0, 1.5, 5.0]   # uneven bins, uneven spacing
    assert list(fig.layout.xaxis.ticktext)[:3] == ["0", "3", "7"]
    assert list(lines[0].text) == [f"n={int(n)}" for n in shown["n_courses"]]  # n per bin shown


def test_km_figure_truncates_and_prints_at_risk(overview):
    view = overview.durability
    fig = charts.km_figure(view, title="Durability", xaxis_title="days")
    curve = [t for t in fig.data if t.fill != "toself" and t.mode == "lines"][0]
    km = view.curves[0].km
    assert km.curve["at_risk"].min() >= 11                    # cut where fewer remain at risk
    assert max(curve.x) == km.curve["time"].max()
    texts = [a.text for a in fig.layout.annotations]
    assert "<b>At risk</b>" in texts and "<b>day 90</b>" in texts
    # the at-risk row: the counts at days 0 and 30, and <11 where fewer remain
    row = view.at_risk.iloc[0]
    assert str(int(row[0])) in texts and ("<11" in texts) == row.isna().any()
    assert km.median is None or km.median_ci.low is not None
    assert "n = " in fig.layout.title.text


def test_km_by_group_withholds_small_groups_and_tests_only_shown(results):
    _, outcomes, attrs = results
    view = views.breakdown_view(outcomes, attrs, instrument="PHQ9", by="clinician_id",
                                settings=Settings()).durability
    fig = charts.km_figure(view, title="Durability", xaxis_title="days")
    curves = [t for t in fig.data if t.fill != "toself" and t.mode == "lines"]
    assert len(curves) == len(view.curves)
    assert all(gc.km.n >= 11 for gc in view.curves)
    if view.withheld_groups:
        assert "not shown" in fig.layout.title.text
    if view.logrank is not None:
        assert view.logrank.df == len(view.curves) - 1


def test_rates_figure_draws_only_decided_cells(results):
    _, outcomes, attrs = results
    view = views.breakdown_view(outcomes, attrs, instrument="PHQ9", by="clinician_id",
                                settings=Settings())
    fig = charts.rates_figure(view.rates, outcome="endpoint_response", title="Response")
    cells = view.rates.outcome("endpoint_response")
    shown = cells[cells["rate"].notna()]
    bars = fig.data[0]
    assert list(bars.y) == shown.sort_values("rate")["group"].tolist()
    assert list(bars.x) == pytest.approx(shown.sort_values("rate")["rate"].tolist())
    withheld = cells[cells["rate"].isna()]
    if len(withheld):
        assert sorted(fig.data[1].y) == sorted(withheld["group"])
        assert all(t.startswith("withheld") for t in fig.data[1].text)
        assert not any(x for x in fig.data[1].x)               # nothing drawn for them


def test_funnel_and_trend(overview):
    f = charts.funnel_figure(overview.funnel)
    stages = overview.funnel.stages.set_index("stage")
    assert list(f.data[0].x)[0] == stages.loc["started", "n_courses"]
    cell = overview.headline.cell("endpoint_response")
    assert list(f.data[0].x)[3] == cell["k"] and list(f.data[0].x)[2] == cell["n"]
    assert "not estimable" in f.data[0].text[4]               # few followed 90 days here
    t = charts.trend_figure(overview.trend, title="Trend")
    line = [d for d in t.data if d.mode == "lines+markers+text"][0]
    shown = overview.trend.table[overview.trend.table["rate"].notna()]
    assert list(line.text) == [f"n={int(n)}" for n in shown["n"]]


def test_weekly_response_in_week_order(overview):
    w = overview.weekly
    fig = charts.weekly_response_figure(w.sample(frac=1, random_state=1), instrument="PHQ9")
    line = [d for d in fig.data if d.mode == "lines+markers"][0]
    shown = w[w["mean"].notna()].sort_values("bin_order")
    assert list(line.x) == shown["bin"].tolist()
    assert fig.layout.yaxis.tickformat == ".0%"


def test_patient_figure_courses_sessions_bands_and_item9(results):
    al, _, _ = results
    a = al.assessments
    two = al.courses.groupby("patient_id").size()
    pid = two[two >= 2].index[0]                       # a patient with two courses
    pa, ps = a[a.patient_id == pid], al.sessions[al.sessions.patient_id == pid]
    pc = al.courses[al.courses.patient_id == pid]
    fig = charts.patient_figure(pa, ps, reliable_change={"PHQ9": 6, "GAD7": 4, "PCL5": 10},
                                courses=pc)
    names = [t.name for t in fig.data]
    # each course its own segment, with its own baseline label
    assert "PHQ-9, course 1" in names and "PHQ-9, course 2" in names
    texts = [an.text for an in fig.layout.annotations if an.text]
    assert any(t.startswith("baseline") and "(course 1)" in t for t in texts)
    assert any(t.startswith("baseline") and "(course 2)" in t for t in texts)
    # sessions in neutral ink with a legend entry per kind, route on hover
    sess = [t for t in fig.data if t.name and t.name.endswith(" session")]
    assert {t.name for t in sess} >= {"dosing session"}
    assert all(t.marker.color in ("#444444", "#999999", "#bbbbbb") for t in sess)
    dosing = next(t for t in sess if t.name == "dosing session")
    assert all(txt.startswith("dosing ") and len(txt) > 7 for txt in dosing.text)  # the route
    # severity bands shaded and labelled
    assert {"minimal", "mild", "moderate", "severe"} <= set(texts)
    # item 9 in its own small panel (a separate y axis, not a secondary axis of PHQ-9)
    item9 = next(t for t in fig.data if t.name == "PHQ-9 item 9")
    assert item9.yaxis not in ("y", "y2") or len(fig.layout.annotations) > 0
    # days since first dose of a chosen course
    day0 = pc["first_dose_at"].iloc[1]
    by_day = charts.patient_figure(pa, ps, reliable_change={"PHQ9": 6, "GAD7": 4, "PCL5": 10},
                                   courses=pc, day_zero=day0)
    seg = next(t for t in by_day.data if t.name == "PHQ-9, course 2")
    assert min(seg.x) > -31 and max(seg.x) < 400
    empty = charts.patient_figure(pa.iloc[0:0], ps.iloc[0:0], reliable_change={})
    assert isinstance(empty.to_dict(), dict)


def test_patient_figure_draws_scores_outside_any_course(results):
    from analysis import align
    from tests.analysis.helpers import scores
    from tests.analysis.helpers import sessions as make_sessions

    a = scores((0, 18), (20, 15), (40, 12))            # intake scores, no sessions at all
    al = align(a, make_sessions((100, "dosing", None)).iloc[0:0])
    fig = charts.patient_figure(al.assessments, al.sessions, reliable_change={"PHQ9": 6})
    loose = [t for t in fig.data if t.name and t.name.startswith("score outside any course")]
    assert len(loose) == 1 and list(loose[0].y) == [18, 15, 12]
