"""Monitoring and adverse-event imports on SQLite and PostgreSQL: the score importers' rules
(all or nothing, every bad cell with its line, database-enforced ranges, idempotent re-import,
conflicts refused, provenance), rows matched to stored dosing sessions, and fuzzing."""

from __future__ import annotations

import csv as csvlib
import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from analysis import align
from analysis.safety import session_safety
from dashboard.db import repository
from dashboard.db.models import AdverseEvent, Monitoring, Session
from dashboard.importers import import_file
from sample_data.generate import SAMPLE_DIR

SESSIONS = (b"patient_id,session_at,kind,route,dose_mg,weight_kg\n"
            b"P1,2025-03-03T10:00,dosing,IN,56,\n"
            b"P1,2025-03-06T10:00,dosing,IN,84,\n"
            b"P2,2025-03-04T09:00,dosing,IV,35,70\n"
            b"P2,2025-03-05T09:00,integration,,,\n")
HEAD = ("patient_id,session_at,point,minutes_after_dose,systolic,diastolic,heart_rate,spo2,"
        "sedation_moaas,dissociation,dissociation_scale\n")


def _with_sessions(engine) -> None:
    assert import_file(engine, SESSIONS, name="sessions.csv").ok


def test_sample_safety_files_import_once_and_read_back(engine):
    for name in ("patients", "sessions", "assessments", "monitoring", "adverse_events"):
        report = import_file(engine, SAMPLE_DIR / f"{name}.csv")
        assert report.ok, report.problems()[:3]
    monitoring = pd.read_csv(SAMPLE_DIR / "monitoring.csv")
    events = pd.read_csv(SAMPLE_DIR / "adverse_events.csv")
    c = repository.counts(engine)
    assert (c["monitoring"], c["adverse_events"]) == (len(monitoring), len(events))
    for name, n in (("monitoring", len(monitoring)), ("adverse_events", len(events))):
        again = import_file(engine, SAMPLE_DIR / f"{name}.csv")
        assert again.ok and again.rows_added == 0 and again.rows_skipped == n
    history = repository.import_history(engine)
    assert history["kind"].tolist()[:2] == ["adverse_events", "monitoring"]
    # what the database gives back is what the files say
    stored = repository.load_safety(engine)
    m = stored.monitoring.sort_values(["patient_id", "session_at", "minutes_after_dose"])
    assert m["systolic"].sum() == monitoring["systolic"].sum()
    assert m["dissociation"].sum() == monitoring["dissociation"].sum()
    assert int(stored.events["serious"].sum()) == int((events["serious"] == "yes").sum())
    # and the analysis of the stored record equals the analysis of the files
    frames = repository.load_frames(engine)
    sessions = align(frames.assessments, frames.sessions).sessions
    from_db = session_safety(sessions, stored.monitoring, stored.events)
    files = monitoring.assign(session_at=pd.to_datetime(monitoring["session_at"]))
    ev = events.assign(session_at=pd.to_datetime(events["session_at"]),
                       serious=events["serious"].eq("yes"))
    from_files = session_safety(sessions, files, ev)
    cols = ["bp_excursion", "sedated", "monitoring_complete", "adverse_events",
            "max_systolic_rise", "minutes_to_discharge", "marked_dissociation"]
    pd.testing.assert_frame_equal(from_db[cols], from_files[cols], check_dtype=False)


def test_every_bad_cell_is_reported_with_its_line_and_nothing_is_written(engine):
    _with_sessions(engine)
    before = repository.counts(engine)
    data = (HEAD + "P1,2025-03-03T10:00,pre,5,120,80,,,,,\n"           # pre after the dose
            "P1,2025-03-03T10:00,post,40,120,130,,,,,\n"                 # diastolic above systolic
            "P1,2025-03-03T10:00,post,60,,,300,101,7,,\n"                # hr, spo2, moaas ranges
            "P1,2025-03-03T10:00,post,45,,,,,,12,\n"                     # dissociation, no scale
            "P1,2025-03-03T10:00,post,50,,,,,,95,CADSS\n"                # above CADSS 92
            "P1,2025-03-03T10:00,post,,130,80,,,,,\n"                    # post without minutes
            "P1,2025-03-03T10:00,later,30,130,80,,,,,\n"                 # unknown point
            "P1,2025-03-03T10:00,post,70,,,,,,,\n")                      # nothing measured
    report = import_file(engine, data.encode(), name="m.csv")
    assert not report.ok and repository.counts(engine) == before
    problems = report.problems()
    assert problems == [
        "line 2, minutes_after_dose: 5: a pre-dose row is at 0 or before (negative)",
        "line 3, diastolic: 130 is not below the systolic 120: swapped columns?",
        "line 4, heart_rate: 300 is outside the plausible 20–250",
        "line 4, sedation_moaas: 7 is outside the plausible 0–5",
        "line 4, spo2: 101 is outside the plausible 50–100",
        "line 5, dissociation_scale: missing: say which scale the dissociation value is on "
        "(CADSS 0–92 or a 0–10 rating)",
        "line 6, dissociation: 95 is outside the CADSS range 0–92",
        "line 7, minutes_after_dose: missing (a post-dose or discharge row needs its minutes "
        "after the dose)",
        "line 8, point: 'later' is not one of pre, post, discharge",
        "line 9, point: no measurement on this row (blood pressure, heart rate, SpO2, "
        "sedation or dissociation)",
    ]


def test_rows_must_match_a_stored_dosing_session(engine):
    _with_sessions(engine)
    before = repository.counts(engine)
    data = (HEAD + "P1,2025-03-03T10:00,pre,-5,120,80,,,,,\n"
            "P1,2025-03-03T10:05,post,40,150,90,,,,,\n"     # five minutes off
            "P2,2025-03-05T09:00,post,40,150,90,,,,,\n"     # an integration session
            "P9,2025-03-03T10:00,post,40,150,90,,,,,\n")    # an unknown patient
    report = import_file(engine, data.encode(), name="m.csv")
    assert not report.ok and repository.counts(engine) == before
    assert [(i.line, i.column) for i in report.conflicts] == [(3, "session_at"),
                                                              (4, "session_at"),
                                                              (5, "patient_id")]
    assert "no dosing session of patient P1 at 2025-03-03 10:05" in report.conflicts[0].reason
    assert report.conflicts[2].reason.startswith("no patient P9 is stored")
    assert report.patients_created == []


def test_reimport_skips_and_a_changed_value_is_a_conflict(engine):
    _with_sessions(engine)
    data = (HEAD + "P1,2025-03-03T10:00,pre,-5,120,80,70,98,5,,\n"
            "P1,2025-03-03T10:00,post,40,150,90,88,97,4,18,CADSS\n"
            "P1,2025-03-03T10:00,discharge,125,,,,,,,\n")
    first = import_file(engine, data.encode(), name="m.csv")
    assert first.ok and first.rows_added == 3
    again = import_file(engine, data.encode(), name="m.csv")
    assert again.ok and (again.rows_added, again.rows_skipped) == (0, 3)
    changed = import_file(engine, data.replace("150,90", "151,90").encode(), name="m.csv")
    assert not changed.ok
    assert [str(c) for c in changed.conflicts] == [
        "line 3, systolic: contradicts the stored monitoring row with the same patient_id, "
        "session_at, point, minutes_after_dose; stored data are never overwritten"]
    stored = repository.load_safety(engine).monitoring
    assert stored["systolic"].max() == 150


def test_adverse_events_codes_and_conflicts(engine):
    _with_sessions(engine)
    data = ("patient_id,session_at,event,severity,serious,resolved_before_discharge\n"
            "P1,2025-03-03T10:00,Nausea,mild,No,yes\n"
            "P1,2025-03-03T10:00,Hypertension,severe,YES,\n"
            "P2,2025-03-04T09:00,hallucination,mild,no,yes\n"
            "P2,2025-03-04T09:00,dizziness,worst,perhaps,\n")
    report = import_file(engine, data.encode(), name="ae.csv")
    assert [str(p) for p in report.errors] == [
        "line 4, event: 'hallucination' is not one of nausea, vomiting, dizziness, headache, "
        "elevated_blood_pressure, anxiety_agitation, excessive_sedation, other",
        "line 5, serious: 'perhaps' is not one of yes, no",
        "line 5, severity: 'worst' is not one of mild, moderate, severe"]
    good = "\n".join(data.splitlines()[:3]) + "\n"
    assert import_file(engine, good.encode(), name="ae.csv").rows_added == 2
    events = repository.load_safety(engine).events.sort_values("event")
    assert events["event"].tolist() == ["elevated_blood_pressure", "nausea"]
    assert events["serious"].tolist() == [True, False]
    assert events["resolved_before_discharge"].isna().tolist() == [True, False]
    worse = good.replace("Nausea,mild", "Nausea,moderate")
    assert not import_file(engine, worse.encode(), name="ae.csv").ok


def test_the_database_enforces_the_ranges_too(engine):
    _with_sessions(engine)
    with engine.connect() as conn:
        sid = conn.execute(select(Session.__table__.c.id)).scalars().first()
    bad = [(Monitoring, dict(session_id=sid, point="post", minutes_after_dose=40, systolic=400)),
           (Monitoring, dict(session_id=sid, point="pre", minutes_after_dose=10, systolic=120)),
           (Monitoring, dict(session_id=sid, point="post", minutes_after_dose=40,
                             dissociation=11, dissociation_scale="0-10")),
           (Monitoring, dict(session_id=sid, point="post", minutes_after_dose=40, systolic=80,
                             diastolic=90)),
           (AdverseEvent, dict(session_id=sid, event="nausea", severity="fatal",
                               serious=False)),
           (AdverseEvent, dict(session_id=sid, event="rash", severity="mild", serious=False)),
           (Session, dict(patient_id="P1", session_at=pd.Timestamp("2025-04-01").to_pydatetime(),
                          kind="dosing", weight_kg=5.0))]
    for model, values in bad:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(model.__table__).values(**values))


def test_xlsx_monitoring_file(engine):
    _with_sessions(engine)
    frame = pd.DataFrame({"Patient ID": ["P2", "P2"], "Session date": ["2025-03-04T09:00"] * 2,
                          "Time point": ["pre", "post"], "Minutes": [-10, 40],
                          "SBP": [132, 171], "DBP": [84, 99], "Pulse": [72, 90],
                          "MOAA/S": [5, 3]})
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    report = import_file(engine, buf.getvalue(), name="vitals.xlsx")
    assert report.ok and report.kind == "monitoring" and report.rows_added == 2
    m = repository.load_safety(engine).monitoring
    assert m["sedation_moaas"].tolist() == [5, 3]


SAFETY_HEADERS = ["patient_id", "session_at", "point", "minutes_after_dose", "systolic",
                  "diastolic", "heart_rate", "spo2", "sedation_moaas", "dissociation",
                  "dissociation_scale", "event", "severity", "serious",
                  "resolved_before_discharge"]
CELLS = st.one_of(
    st.sampled_from(["P1", "P2", "2025-03-03T10:00", "2025-03-04T09:00", "2025-03-05T09:00",
                     "pre", "post", "discharge", "-10", "0", "40", "125", "120", "80", "400",
                     "-1", "1e308", "NaN", "CADSS", "0-10", "nausea", "severe", "yes", "no",
                     "", " ", "\u202e", "3.5", "=1+1"]),
    st.text(max_size=8))


@st.composite
def safety_tables(draw):
    header = draw(st.lists(st.sampled_from(SAFETY_HEADERS), min_size=1, max_size=9))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=5))
    buf = io.StringIO()
    csvlib.writer(buf).writerows([header, *rows])
    return buf.getvalue().encode()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=safety_tables())
def test_hostile_safety_files_never_crash_or_half_import(engine, data):
    if repository.counts(engine)["sessions"] == 0:
        _with_sessions(engine)
    before = repository.counts(engine)
    report = import_file(engine, data, name="fuzz.csv")  # must not raise
    after = repository.counts(engine)
    if report.ok:
        assert after["import_batches"] == before["import_batches"] + 1
        assert after["sessions"] == before["sessions"]  # never creates sessions
    else:
        assert after == before, report.summary()


def test_recent_safety_rows_only(engine):
    """What the current signals read: the rows of dosing sessions from a date on (both
    back-ends, through whichever driver reads)."""
    _with_sessions(engine)
    data = (HEAD + "P1,2025-03-03T10:00,pre,-5,120,80,,,,,\n"
            "P1,2025-03-06T10:00,pre,-5,121,81,,,,,\n"
            "P2,2025-03-04T09:00,post,40,150,90,,,,,\n")
    assert import_file(engine, data.encode(), name="m.csv").ok
    assert import_file(engine, b"patient_id,session_at,event,severity,serious\n"
                       b"P1,2025-03-03T10:00,nausea,mild,no\n"
                       b"P1,2025-03-06T10:00,headache,mild,no\n", name="ae.csv").ok
    recent = repository.load_safety(engine, since=pd.Timestamp("2025-03-04 09:00"))
    assert sorted(recent.monitoring["systolic"]) == [121.0, 150.0]
    assert recent.events["event"].tolist() == ["headache"]
    every = repository.load_safety(engine)
    assert len(every.monitoring) == 3 and len(every.events) == 2
    assert str(every.monitoring["session_at"].dtype) == "datetime64[ns]"
