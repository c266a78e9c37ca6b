"""The Safety page and the patient's session detail render from a database (AppTest), and one
truth holds for safety figures: the page's cards, the export table, the report's section and
``kap-outcomes safety --json`` agree for the same filters."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import Settings, align, course_attributes
from analysis.safety import SAFETY_OUTCOMES, session_safety
from dashboard import data, state, views
from dashboard.cli import main
from dashboard.db import make_engine
from dashboard.db.repository import load_frames, load_safety
from dashboard.exports.report import parse_period, report_html
from dashboard.exports.tables import safety_table
from dashboard.state import Filters
from tests.dashboard.test_app import APP


def _safety_page(at: AppTest) -> AppTest:
    return at.switch_page("dashboard/pages/safety.py").run()


def test_safety_page_renders_cards_tabs_and_charts(demo_db):
    at = _safety_page(AppTest.from_file(str(APP), default_timeout=90).run())
    assert not at.exception
    assert at.title[0].value == "Session safety"
    assert [m.label for m in at.metric] == ["BP excursion", "Any adverse event",
                                            "Severe or serious event", "Monitoring complete"]
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")
              for c in at.get("plotly_chart")]
    assert any(t.startswith("Share of dosing sessions") for t in titles)
    assert any("by route" in t for t in titles)
    assert any(" by quarter" in t or " by month" in t for t in titles)
    # a filter narrows the sessions
    n_all = int(re.search(r"(\d+) sessions of", at.caption[0].value).group(1))
    at.multiselect(key=state.CLINIC_KEY).select("coast").run()
    n_coast = int(re.search(r"(\d+) sessions of", at.caption[0].value).group(1))
    assert not at.exception and 0 < n_coast < n_all


def test_cards_equal_the_view_and_the_export_table(demo_db):
    url = f"sqlite:///{demo_db}"
    at = _safety_page(AppTest.from_file(str(APP), default_timeout=90).run())
    view = data.safety(url, Settings(), Filters())
    table = data.export_safety(url, Settings(), Filters(), None)
    for metric, outcome in zip(at.metric, ("bp_excursion", "any_adverse_event",
                                           "severe_or_serious", "monitoring_complete"),
                               strict=True):
        cell = view.headline.cell(outcome)
        row = table[(table["outcome"] == outcome) & (table["unit"] == "per session")].iloc[0]
        assert metric.value == f"{cell['rate']:.0%}"
        assert (row["with_flag"], row["assessed"]) == (int(cell["k"]), int(cell["n"]))


def test_session_detail_on_the_patient_page(demo_db):
    url = f"sqlite:///{demo_db}"
    table = data.safety_table(url, Settings())
    pid = table.loc[table["bp_excursion"].fillna(False).astype(bool), "patient_id"].iloc[0]
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("dashboard/pages/patient.py").run()
    at.text_input(key="patient_query").input(pid).run()
    assert not at.exception
    assert "Dosing sessions: vital signs and events" in [s.value for s in at.subheader]
    sessions = next(d.value for d in at.dataframe if "Excursion" in d.value.columns)
    assert len(sessions) == int((table["patient_id"] == pid).sum())
    assert "yes" in sessions["Excursion"].tolist()
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")
              for c in at.get("plotly_chart")]
    assert any(t.startswith("Session of ") for t in titles)


FILTERS = [dict(), dict(clinics=("coast",)), dict(routes=("IV",)), dict(indications=("TRD",))]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(map(str, f.values())) or "all")
def test_one_truth_for_safety(tmp_path, filters):
    """For the same filters: the view's session counts equal counts an analyst derives from
    ``kap-outcomes safety --json``, the export table equals the view, and the report's safety
    table equals the export for a period."""
    db = tmp_path / "d.db"
    assert main(["--db", str(db), "demo", "--as-is"]) == 0
    engine = make_engine(f"sqlite:///{db}")
    frames, sf = load_frames(engine), load_safety(engine)
    al = align(frames.assessments, frames.sessions, settings=Settings())
    attrs = course_attributes(al, frames.patients)
    table = session_safety(al.sessions, sf.monitoring, sf.events)
    settings = Settings(min_cell_size=1)    # raw counts (withholding is tested apart)
    view = views.safety_view(views.safety_mask(table, attrs, **filters), sf.events,
                             settings=settings)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(db), "safety", "--json"]) == 0
    rows = pd.DataFrame([json.loads(line) for line in out.getvalue().splitlines()])
    rows["session_at"] = pd.to_datetime(rows["session_at"])
    keep = views.course_mask(attrs, **filters)
    in_view = table.merge(keep[["patient_id", "course_id"]], on=["patient_id", "course_id"])
    rows = rows.merge(in_view[["patient_id", "session_at"]], on=["patient_id", "session_at"])
    assert len(rows) == view.n_sessions
    for outcome, column in (("bp_excursion", "bp_excursion"), ("sedated", "sedated"),
                            ("monitoring_complete", "monitoring_complete")):
        cell = view.headline.cell(outcome)
        known = rows[column].dropna()
        assert (int(cell["k"]), int(cell["n"])) == (int(known.astype(bool).sum()), len(known))
    events = rows["adverse_events"].gt(0)
    cell = view.headline.cell("any_adverse_event")
    assert (int(cell["k"]), int(cell["n"])) == (int(events.sum()), len(events))
    export = safety_table(view)
    for outcome in SAFETY_OUTCOMES:
        row = export[(export["outcome"] == outcome) & (export["unit"] == "per session")]
        if view.headline.cell(outcome) is None:
            continue
        assert int(row["with_flag"].iloc[0]) == int(view.headline.cell(outcome)["k"])
    # the report: the sessions dated in a quarter, the same cells as the view of that quarter
    period = parse_period("2025Q2")
    page = report_html(frames, period, settings=settings, safety=sf,
                       **{k: v for k, v in (("clinic_ids", filters.get("clinics", ())),
                                            ("routes", filters.get("routes", ())),
                                            ("indications", filters.get("indications", ())))})
    quarter = views.safety_view(views.safety_mask(
        table, attrs, start=period.start.date(),
        end=(period.end - pd.Timedelta(days=1)).date(), **filters), sf.events,
        settings=settings)
    assert f"{quarter.n_sessions} dosing sessions dated" in page
    cell = quarter.headline.cell("bp_excursion")
    assert f"{cell['rate']:.0%} ({int(cell['k'])} of {int(cell['n'])})" in page


def test_export_page_offers_the_safety_table(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("dashboard/pages/export.py").run()
    at.selectbox(key="export_table_kind").select("Session safety").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert {"Per", "Outcome", "With the flag", "Assessed"} <= set(shown.columns)
    assert "Severe or serious events (count)" in set(shown["Outcome"])
    at.selectbox(key="export_by").select("route").run()
    by_route = at.dataframe[0].value
    assert not at.exception and "Route" in by_route.columns


def test_a_count_of_events_never_reveals_a_small_group_of_patients():
    """12 severe events of 3 patients: the page lists them, a shared table says "<11" (a
    count of events is not a count of patients); 12 events of 12 patients are counted."""
    def view_of(n_patients: int, per_patient: int):
        at = pd.Timestamp("2025-03-03 10:00")
        rows = [{"patient_id": f"P{i}", "session_at": at + pd.Timedelta(days=j),
                 "kind": "dosing", "route": "IV", "dose_mg": 35.0}
                for i in range(n_patients) for j in range(per_patient)]
        sessions = pd.DataFrame(rows)
        events = sessions[["patient_id", "session_at"]].assign(
            event="nausea", severity="severe", serious=False, resolved_before_discharge=True)
        table = session_safety(sessions, pd.DataFrame(), events)
        return views.safety_view(table.assign(course_id="1"), events, settings=Settings())

    few = view_of(3, 4)
    assert few.n_serious == 12 and few.n_serious_shared is None
    assert safety_table(few).iloc[-1]["with_flag"] == "<11"
    many = view_of(12, 1)
    assert many.n_serious_shared == 12 and safety_table(many).iloc[-1]["with_flag"] == 12


def test_safety_charts_show_only_what_the_tables_show(demo_db):
    """The all-flags chart and the trend chart draw exactly the cells the view (and so the
    export table) shows; a withheld cell is named as withheld, never drawn."""
    from dashboard import charts
    from dashboard.labels import SAFETY_SHORT

    view = data.safety(f"sqlite:///{demo_db}", Settings(), Filters(clinics=("coast",)))
    fig = charts.safety_rates_figure(view.headline, outcomes=SAFETY_OUTCOMES,
                                     labels=SAFETY_SHORT, title="t")
    shown = {SAFETY_SHORT[o]: view.headline.cell(o) for o in SAFETY_OUTCOMES
             if view.headline.cell(o) is not None}
    bars = dict(zip(fig.data[0].y, fig.data[0].x, strict=True))
    assert bars == {k: c["rate"] for k, c in shown.items() if pd.notna(c["rate"])}
    withheld = {k for k, c in shown.items() if pd.isna(c["rate"])}
    assert withheld, "the coast clinic has withheld safety cells"
    assert set(fig.data[2].y) == withheld
    assert all(t.startswith("withheld") for t in fig.data[2].text)
    for outcome in ("bp_excursion", "any_adverse_event"):
        table, _ = views.safety_trend(view, outcome)
        trend = charts.safety_trend_figure(table, outcome=outcome, title="t")
        cells = table.outcome(outcome)
        drawn = dict(zip(trend.data[-1].x, trend.data[-1].y, strict=True)) if len(
            trend.data) else {}
        assert drawn == dict(zip(cells.loc[cells["rate"].notna(), "group"],
                                 cells.loc[cells["rate"].notna(), "rate"], strict=True))
