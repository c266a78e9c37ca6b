"""The app renders from a database (Streamlit AppTest)."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis import per_course_outcomes
from analysis.signals import SAFETY_KINDS
from dashboard import state
from dashboard.cli import main
from sample_data.generate import load_sample

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def _charts(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_overview_renders_with_rates_and_charts(demo_db, sample_alignment):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Clinic overview"
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Current patients", "Courses started"]
    assert labels[2:] == ["Response", "Remission", "Rapid response"]
    assert at.caption[0].value.startswith("PHQ-9 ·")  # the instrument of the cards, by name
    expected = per_course_outcomes(sample_alignment)
    _, sessions, _ = load_sample()
    last = sessions.groupby("patient_id")["session_at"].max()
    assert 0 < int(at.metric[0].value) <= expected["patient_id"].nunique()
    assert int(at.metric[0].value) >= (last >= last.max() - pd.Timedelta(days=90)).sum()
    assert at.metric[1].value == str(len(expected.drop_duplicates(["patient_id", "course_id"])))
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert any(t.startswith("Change from baseline by days") for t in titles)
    assert any(t.startswith("Still in response") for t in titles)
    assert any("by route" in t for t in titles)
    assert any(t.startswith("From course start") for t in titles)


def test_overview_filters_change_the_numbers(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    patients_all = int(at.metric[1].value)
    at.multiselect(key=state.CLINIC_KEY).select("coast").run()
    assert not at.exception
    patients_coast = int(at.metric[1].value)
    assert 0 < patients_coast < patients_all
    assert "clinic: coast" in at.caption[0].value
    at.selectbox(key=state.INSTRUMENT_KEY).select("GAD7").run()
    assert not at.exception and at.caption[0].value.startswith("GAD-7")
    at.multiselect(key=state.ROUTE_KEY).select("SL").run()   # coast has no SL: empty cohort
    assert not at.exception


def test_empty_database_shows_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{tmp_path / 'empty.db'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "kap-outcomes demo" in at.info[0].value


def test_patient_page_switch_and_audit(demo_db):
    from dashboard.db import make_engine
    from dashboard.db.repository import audit_events

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("dashboard/pages/patient.py").run()
    assert not at.exception and at.title[0].value == "Patient trajectory"
    assert "Choose a patient" in at.info[0].value
    at.text_input(key="patient_query").input("P00000").run()
    assert at.selectbox(key="patient_pick_P00000").options[:2] == ["P000001", "P000002"]
    at.selectbox(key="patient_pick_P00000").select("P000002").run()
    assert not at.exception
    figs = _charts(at)
    assert any(t["name"].startswith("PHQ-9, course 1") for t in figs[0]["data"])
    outcomes = next(d.value for d in at.dataframe if "Baseline → endpoint" in d.value.columns)
    assert outcomes["Course"].tolist()[0].startswith("course-1 (")
    header = " ".join(m.value for m in at.markdown)
    for field in ("Clinic", "Clinician", "Indication", "Route", "Phase", "Last contact",
                  "Next score due", "Open signals"):
        assert f"**{field}**" in header, field
    at.text_input(key="patient_query").input("P000003").run()   # the exact id opens
    assert not at.exception
    assert any(t["name"].startswith("PHQ-9") for t in _charts(at)[0]["data"])
    # case matters: p000003 may be another patient; it is offered as a match, never opened
    at.text_input(key="patient_query").input("p000003").run()
    assert not at.get("plotly_chart")
    assert at.selectbox(key="patient_pick_p000003").options == ["P000003"]
    at.text_input(key="patient_query").input("nobody").run()
    assert "No patient id contains" in at.warning[0].value
    events = audit_events(make_engine(f"sqlite:///{demo_db}"))
    assert events["target_id"].tolist()[:2] == ["P000003", "P000002"]
    assert set(events["action"]) == {"view_patient", "import"}


def test_data_page_history_and_completeness(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("dashboard/pages/data_page.py").run()
    assert not at.exception and at.title[0].value == "Data"
    history = at.dataframe[0].value
    assert len(history) == 5 and set(history["kind"]) == {
        "patients", "sessions", "assessments", "monitoring", "adverse_events"}
    completeness = at.dataframe[1].value
    assert {"Instrument", "Reason", "Courses", "Share (%)", "Meaning"} <= set(completeness.columns)
    assert "lost_to_follow_up" in set(completeness["Reason"])


def _stale(demo_db):
    """The demo's derived tables marked as made under no settings (as after an upgrade)."""
    from dashboard.db import make_engine, repository

    engine = make_engine(f"sqlite:///{demo_db}")
    with engine.begin() as conn:
        repository.clear_derived_key(conn)
    st.cache_data.clear()
    return engine


def test_stale_derived_outcomes_are_rebuilt_in_the_background(demo_db, monkeypatch):
    """Outcomes made under other settings (or an earlier version) are rebuilt by the app
    itself, in a background thread: every page shows the progress meanwhile (and still
    renders, from the records), the rebuild is audited, and the page after it says nothing."""
    import threading

    from analysis import Settings
    from dashboard import rebuilds
    from dashboard.db import derived
    from dashboard.db.repository import audit_events

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception and not at.info     # current: nothing to say
    engine = _stale(demo_db)
    go, real = threading.Event(), derived.rebuild

    def held(*args, **kwargs):
        assert go.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(derived, "rebuild", held)
    at.run()
    assert not at.exception
    assert "Updating the stored outcomes" in at.info[0].value
    assert len(at.get("progress")) == 1
    assert at.metric, "the overview still renders while the rebuild runs"
    at.switch_page("dashboard/pages/data_page.py").run()
    assert "Updating the stored outcomes" in at.info[0].value
    assert not [b for b in at.button if b.key == "data_rebuild"]
    go.set()
    job = rebuilds.current(engine, Settings()).wait(120)
    assert job.error is None and job.patients == 300 and job.done == job.total == 300
    assert derived.is_current(engine, Settings())
    events = audit_events(engine)
    assert "derive" in set(events["action"]) and rebuilds.SYSTEM_ACTOR in set(events["actor"])
    at.run()
    assert not at.exception and not at.info and not at.warning


def test_a_failed_background_rebuild_is_shown_and_can_be_tried_again(demo_db, monkeypatch):
    from analysis import Settings
    from dashboard import rebuilds
    from dashboard.db import derived

    engine = _stale(demo_db)
    real = derived.rebuild

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(derived, "rebuild", broken)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert rebuilds.current(engine, Settings()).wait(60).error == "RuntimeError"
    at.run()
    at.run()   # a failed attempt is not retried by itself
    assert "failed (RuntimeError)" in at.warning[0].value
    assert rebuilds.current(engine, Settings()).error == "RuntimeError"
    monkeypatch.setattr(derived, "rebuild", real)
    at.switch_page("dashboard/pages/data_page.py").run()
    at.button(key="data_rebuild").click().run()
    assert not at.exception
    assert rebuilds.current(engine, Settings()).wait(120).error is None
    assert derived.is_current(engine, Settings())
    at.run()
    assert not at.warning and not at.info


def test_upload_preview_and_import(demo_db):
    # AppTest cannot drive st.file_uploader: the page's calls are tested here and the widget
    # itself in the browser test (tests/e2e).
    from dashboard import data
    url = f"sqlite:///{demo_db}"
    bad = data.preview_import(url, "bad.csv", b"patient_id,instrument,administered_at,total\n"
                                              b"P000001,PHQ9,2025-09-01,31\n")
    assert not bad.ok and bad.problems() == ["line 2, total: 31 is outside 0–27 for PHQ9"]
    good = b"patient_id,instrument,administered_at,total\nP000001,PHQ9,2025-09-01,12\n"
    preview = data.preview_import(url, "good.csv", good)
    assert preview.ok and preview.rows_added == 1
    report = data.run_import(url, "good.csv", good, actor="test")
    assert report.ok and report.rows_added == 1
    assert data.preview_import(url, "good.csv", good).rows_skipped == 1


def test_definitions_page(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("dashboard/pages/definitions.py").run()
    assert not at.exception
    settings_table = at.dataframe[0].value
    assert "rapid_window_days" in settings_table["Setting"].tolist()
    assert len(at.dataframe[1].value) == 3


def _expected_signals(db, as_of):
    """The signals the data layer should list: the score signals and the session signals."""
    from analysis import Settings, align
    from analysis.safety import session_safety
    from analysis.signals import current_signals
    from dashboard.db import make_engine
    from dashboard.db.repository import load_frames, load_safety

    engine = make_engine(f"sqlite:///{db}")
    f = load_frames(engine, item_columns=("item_9",))
    sf = load_safety(engine)
    al = align(f.assessments, f.sessions, settings=Settings())
    return current_signals(al, as_of=pd.Timestamp(as_of), sessions=session_safety(
        al.sessions, sf.monitoring, sf.events, settings=al.settings))


def test_signals_page_current_patients_and_workflow(demo_db, monkeypatch):
    from dashboard.db import make_engine
    from dashboard.db.repository import audit_events

    now = pd.Timestamp.now().floor("min")
    monkeypatch.setenv("KAP_OUTCOMES_AS_OF", f"{now:%Y-%m-%d %H:%M}")
    current, old = _expected_signals(demo_db, now)
    assert len(current) > 0 and len(old) > 0          # the demo is dated up to yesterday
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    line = next(c.value for c in at.caption if c.value.startswith("Open signals for current"))
    n_safety = int(current["kind"].isin(SAFETY_KINDS).sum())
    assert line.startswith(f"Open signals for current patients: {n_safety} safety")
    assert at.get("page_link")[0].proto.label == "Open the signals"
    at.switch_page("dashboard/pages/signals.py").run()
    assert not at.exception and at.title[0].value == "Signals"
    table = at.dataframe[0].value
    assert len(table) == len(current)
    assert table["signal"].iloc[0].startswith("Safety")           # safety first, in words
    assert table["patient_id"].tolist() == current["patient_id"].tolist()
    assert table["trajectory"].iloc[0] == f"/patient?patient={table['patient_id'].iloc[0]}"
    assert "not seen" in at.expander[0].label.lower()
    # resolve the first signal: it leaves the list, is audited, and returns with "show handled"
    first = table.iloc[0]
    at.radio(key="signal_action").set_value("Resolve").run()
    at.text_input(key="signal_note").input("called the patient; safety plan reviewed").run()
    at.button(key="signal_save").click().run()
    assert not at.exception
    after = at.dataframe[0].value
    assert len(after) == len(table) - 1
    at.toggle(key="signals_show_handled").set_value(True).run()
    handled = at.dataframe[0].value
    row = handled[(handled["patient_id"] == first["patient_id"])
                  & (handled["signal"] == first["signal"])]
    assert row["status"].tolist()[:1] == ["resolved"]
    # snooze the next one until a date; assign a third
    at.toggle(key="signals_show_handled").set_value(False).run()
    at.radio(key="signal_action").set_value("Snooze").run()
    at.button(key="signal_save").click().run()
    assert len(at.dataframe[0].value) == len(table) - 2
    at.radio(key="signal_action").set_value("Assign").run()
    at.text_input(key="signal_assignee").input("clin-NO-2").run()
    at.button(key="signal_save").click().run()
    assigned = at.dataframe[0].value
    assert "clin-NO-2" in set(assigned["assigned"]) and len(assigned) == len(table) - 2
    events = audit_events(make_engine(f"sqlite:///{demo_db}"))
    assert {"view_signals", "signal_resolved", "signal_snoozed",
            "signal_acknowledged"} <= set(events["action"])
    # a snooze that has run out is open again
    monkeypatch.setenv("KAP_OUTCOMES_AS_OF", f"{now + pd.Timedelta(days=8):%Y-%m-%d %H:%M}")
    st.cache_resource.clear()
    st.cache_data.clear()
    at.run()
    statuses = set(at.dataframe[0].value["status"]) if at.dataframe else set()
    assert "snoozed" not in statuses
    # the patient page shows the patient's open signal, dated
    pid = assigned["patient_id"].iloc[0]
    at.switch_page("dashboard/pages/patient.py").run()
    at.text_input(key="patient_query").input(pid).run()
    texts = [e.value for e in [*at.error, *at.warning]]
    assert any("days ago" in t for t in texts)


def test_signals_cli_json(demo_db, capsys):
    now = pd.Timestamp.now().floor("min")
    assert main(["--db", str(demo_db), "signals", "--json", "--as-of",
                 f"{now:%Y-%m-%d %H:%M}"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    current, _ = _expected_signals(demo_db, now)
    assert [r["patient_id"] for r in rows] == current["patient_id"].tolist()
    assert {"patient_id", "clinic_id", "kind", "label", "date", "reason", "priority",
            "status", "assigned_to", "snooze_until"} <= set(rows[0])
    assert rows[0]["status"] == "open" and rows[0]["kind"] in SAFETY_KINDS
    assert main(["--db", str(demo_db), "signals", "--as-of", "not a date"]) == 2


def test_export_page_tables_and_chart(demo_db):
    from dashboard.db import make_engine
    from dashboard.db.repository import audit_events

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("dashboard/pages/export.py").run()
    assert not at.exception and at.title[0].value == "Export"
    assert "n = " in at.caption[0].value
    at.selectbox(key="export_by").select("clinician_id").run()
    table = at.dataframe[0].value
    assert "Clinician" in table.columns and "Patients" in table.columns  # human headers
    sizes = [v for v in table["Patients"] if v not in ("<11", "‡")]
    assert all(int(v) >= 11 for v in sizes)  # small clinicians pooled or withheld
    assert at.selectbox(key="export_period").value == "last-quarter"   # the latest mature
    at.selectbox(key="export_format").select("svg").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception
    assert at.download_button(key="export_chart_download").label == "Download SVG"
    at.selectbox(key="export_table_kind").select("Attrition funnel").run()
    funnel = at.dataframe[0].value
    assert funnel["Stage"].tolist()[0] == "Started a course" and not at.exception
    at.selectbox(key="export_table_kind").select("Completeness").run()
    assert "Reason" in at.dataframe[0].value.columns
    assert any(o.startswith("Response by clinician (PHQ-9)")
               for o in at.selectbox(key="export_chart").options)
    at.button(key="export_extract").click().run()
    assert at.download_button(key="export_extract_csv").label.startswith("Download extract")
    events = audit_events(make_engine(f"sqlite:///{demo_db}"))
    assert {"chart", "research_extract"} <= set(events["target_kind"])


def test_export_downloads_stay_and_are_named_for_what_they_hold(demo_db):
    from dashboard.db import make_engine
    from dashboard.db.repository import audit_events

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("dashboard/pages/export.py").run()
    at.selectbox(key="export_format").select("svg").run()
    at.button(key="export_prepare").click().run()
    assert at.download_button(key="export_chart_download").label == "Download SVG"
    # another widget changes: the prepared chart's download stays
    at.selectbox(key="export_table_kind").select("Attrition funnel").run()
    assert at.download_button(key="export_chart_download").label == "Download SVG"
    # the chart itself changes: the stale download goes
    at.selectbox(key="export_chart").select(at.selectbox(key="export_chart").options[1]).run()
    assert not [b for b in at.download_button if b.key == "export_chart_download"]
    # the funnel table's downloads are audited as the funnel, not as rates
    at.download_button(key="export_csv").click().run()
    events = audit_events(make_engine(f"sqlite:///{demo_db}"))
    assert "attrition funnel csv" in set(events["detail"].dropna())
    # one breakdown selector drives the charts and the tables
    at.selectbox(key="export_by").select("route").run()
    assert any(o.startswith("Response by route") for o in at.selectbox(key="export_chart").options)
    assert "Route" in at.dataframe[0].value.columns or "Stage" in at.dataframe[0].value.columns


def test_an_import_made_elsewhere_is_seen_without_a_restart(demo_db, tmp_path):
    """The CLI (another process) imports a new course while this app process holds its caches:
    the next page run shows it (the caches are keyed by the data version), with no clear()."""
    import datetime as dt

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    before = int(at.metric[1].value)
    day = dt.date.today() - dt.timedelta(days=20)
    sessions = tmp_path / "s.csv"
    sessions.write_text(f"patient_id,session_at,kind\nP-ELSE,{day}T10:00,dosing\n")
    scores = tmp_path / "a.csv"
    scores.write_text("patient_id,instrument,administered_at,total\n"
                      f"P-ELSE,PHQ9,{day - dt.timedelta(days=1)},20\n")
    assert main(["--db", str(demo_db), "import", str(sessions), str(scores)]) == 0
    at.run()
    assert not at.exception and int(at.metric[1].value) == before + 1


def test_signals_are_computed_for_the_day_not_the_minute(monkeypatch):
    """The whole clinic's signals are keyed by the end of today (recomputed once a day and
    after an import), not at every minute's turn; a fixed as-of date is used as given."""
    from dashboard import data

    monkeypatch.delenv("KAP_OUTCOMES_AS_OF", raising=False)
    today = pd.Timestamp.now().normalize()
    assert data.signal_clock() == f"{today:%Y-%m-%d} 23:59"
    monkeypatch.setenv("KAP_OUTCOMES_AS_OF", "2025-06-01 10:30")
    assert data.signal_clock() == "2025-06-01 10:30"


def test_long_lists_come_in_pages_and_act_on_the_page_shown(demo_db, monkeypatch):
    """A network's Signals page lists tens of thousands of signals: the table and the picker
    hold one page; saving acts on the row chosen on that page."""
    from dashboard import components

    now = pd.Timestamp.now().floor("min")
    monkeypatch.setenv("KAP_OUTCOMES_AS_OF", f"{now:%Y-%m-%d %H:%M}")
    monkeypatch.setattr(components, "PAGE_ROWS", 3)
    current, _ = _expected_signals(demo_db, now)
    assert len(current) > 6
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("dashboard/pages/signals.py").run()
    assert not at.exception
    pages = -(-len(current) // 3)
    assert at.number_input(key="signals_page").label == f"Page (of {pages:,})"
    assert at.dataframe[0].value["patient_id"].tolist() == current["patient_id"].tolist()[:3]
    assert any(c.value == f"Signals 1–3 of {len(current):,}" for c in at.caption)
    at.number_input(key="signals_page").set_value(2).run()
    page2 = at.dataframe[0].value
    assert page2["patient_id"].tolist() == current["patient_id"].tolist()[3:6]
    assert len(at.selectbox(key="signal_pick").options) == 3
    at.radio(key="signal_action").set_value("Resolve").run()
    at.button(key="signal_save").click().run()
    assert not at.exception
    at.toggle(key="signals_show_handled").set_value(True).run()
    at.number_input(key="signals_page").set_value(2).run()
    handled = at.dataframe[0].value
    first = page2.iloc[0]
    row = handled[(handled["patient_id"] == first["patient_id"])
                  & (handled["signal"] == first["signal"]) & (handled["date"] == first["date"])]
    assert row["status"].tolist() == ["resolved"]
    # the caseload pages alike
    at.switch_page("dashboard/pages/caseload.py").run()
    assert not at.exception and len(at.dataframe[0].value) == 3
