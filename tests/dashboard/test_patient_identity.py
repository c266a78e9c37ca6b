"""Clinic-scoped patient ids (issue 14): the natural key of a patient is clinic + the clinic's
own id, so two clinics of a network may use the same pseudonymous id for two people. On
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from dashboard.cli import main
from dashboard.db import repository
from dashboard.importers import import_file
from dashboard.importers.identity import key_candidates, patient_key

PATIENTS = b"patient_id,clinic_id,clinician_id\nP1,coast,c1\nP1,north,n1\nP2,north,n1\n"
SESSIONS = (b"patient_id,clinic_id,session_at,kind,route,dose_mg\n"
            b"P1,coast,2025-03-03T10:00,dosing,IV,35\n"
            b"P1,north,2025-03-04T10:00,dosing,IN,56\n")
SCORES_HEAD = "patient_id,clinic_id,instrument,administered_at,total\n"


def _two_clinics(engine) -> None:
    r = import_file(engine, PATIENTS, name="p.csv")
    assert r.ok and r.patients_created == ["P1", "P1@north", "P2"]
    assert import_file(engine, SESSIONS, name="s.csv").ok


def test_the_same_id_in_two_clinics_is_two_patients(engine):
    _two_clinics(engine)
    frames = repository.load_frames(engine)
    p = frames.patients.set_index("patient_id")
    assert p.loc["P1", ["source_id", "clinic_id", "clinician_id"]].tolist() == ["P1", "coast",
                                                                                "c1"]
    assert p.loc["P1@north", ["source_id", "clinic_id", "clinician_id"]].tolist() == [
        "P1", "north", "n1"]
    s = frames.sessions.set_index("patient_id")
    assert (s.loc["P1", "route"], s.loc["P1@north", "route"]) == ("IV", "IN")
    # scores with the clinic column land on each clinic's own patient; a re-import adds nothing
    scores = (SCORES_HEAD + "P1,coast,PHQ9,2025-03-01,20\nP1,north,PHQ9,2025-03-01,11\n").encode()
    first = import_file(engine, scores, name="a.csv")
    assert first.ok and first.rows_added == 2 and first.patients_created == []
    again = import_file(engine, scores, name="a.csv")
    assert again.ok and (again.rows_added, again.rows_skipped) == (0, 2)
    a = repository.load_frames(engine).assessments.set_index("patient_id")["total"]
    assert a.to_dict() == {"P1": 20.0, "P1@north": 11.0}


def test_a_file_without_a_clinic_works_while_its_ids_are_unambiguous(engine):
    _two_clinics(engine)
    before = repository.counts(engine)
    bad = import_file(engine, b"patient_id,instrument,administered_at,total\n"
                      b"P2,PHQ9,2025-03-01,9\nP1,PHQ9,2025-03-01,20\n", name="a.csv")
    assert not bad.ok and repository.counts(engine) == before   # all or nothing
    assert [str(i) for i in bad.conflicts] == [
        "line 3, patient_id: patient id P1 is used by more than one clinic (coast, north): add "
        "a clinic_id column, or import the file with --clinic"]
    ok = import_file(engine, b"patient_id,instrument,administered_at,total\n"
                     b"P2,PHQ9,2025-03-01,9\n", name="b.csv")
    assert ok.ok and ok.rows_added == 1 and ok.patients_created == []
    assert repository.load_frames(engine).assessments["patient_id"].tolist() == ["P2"]


def test_a_whole_file_for_one_clinic(engine):
    _two_clinics(engine)
    scores = b"patient_id,instrument,administered_at,total\nP1,PHQ9,2025-03-01,11\n"
    r = import_file(engine, scores, name="a.csv", clinic="north")
    assert r.ok and r.rows_added == 1
    assert repository.load_frames(engine).assessments["patient_id"].tolist() == ["P1@north"]
    mixed = import_file(engine, (SCORES_HEAD + "P1,coast,PHQ9,2025-03-08,20\n").encode(),
                        name="m.csv", clinic="north")
    assert not mixed.ok and [str(i) for i in mixed.errors] == [
        "line 2, clinic_id: names clinic coast, but the file is imported for clinic north"]
    hostile = import_file(engine, scores, name="a.csv", clinic="x\u202e")
    assert not hostile.ok and "--clinic must be a clinic id" in hostile.file_error


def test_monitoring_rows_find_the_session_of_their_clinics_patient(engine):
    _two_clinics(engine)
    head = "patient_id,clinic_id,session_at,point,minutes_after_dose,systolic,diastolic\n"
    r = import_file(engine, (head + "P1,north,2025-03-04T10:00,pre,-5,120,80\n").encode(),
                    name="m.csv")
    assert r.ok and r.rows_added == 1
    safety = repository.load_safety(engine)
    assert safety.monitoring["patient_id"].tolist() == ["P1@north"]
    # coast's P1 has no session at that time: the row is refused, never moved to north's
    wrong = import_file(engine, (head + "P1,coast,2025-03-04T10:00,pre,-5,121,80\n").encode(),
                        name="m2.csv")
    assert not wrong.ok and "no dosing session of patient P1 at 2025-03-04 10:00" in \
        wrong.conflicts[0].reason
    unknown = import_file(engine, (head + "P1,south,2025-03-04T10:00,pre,-5,121,80\n").encode(),
                          name="m3.csv")
    assert not unknown.ok and [str(i) for i in unknown.conflicts] == [
        "line 2, patient_id: no patient P1 of clinic south is stored: import the patients or "
        "sessions file first"]


def test_a_patient_waiting_in_main_is_placed_by_the_first_file_naming_a_clinic(engine):
    r = import_file(engine, b"patient_id,instrument,administered_at,total\nP5,PHQ9,2025-09-01,"
                    b"10\n", name="a.csv")
    assert r.ok and r.patients_created == ["P5"]
    placed = import_file(engine, b"patient_id,clinic_id,session_at,kind\n"
                         b"P5,coast,2025-09-02T10:00,dosing\n", name="s.csv", actor="admin1")
    assert placed.ok and placed.patients_created == [] and placed.patients_moved == ["P5"]
    p = repository.load_frames(engine).patients.set_index("patient_id")
    assert p.loc["P5", "clinic_id"] == "coast" and len(p) == 1
    events = repository.audit_events(engine)
    assert "main -> coast" in events[events["action"] == "patient_moved"].iloc[0]["detail"]


def test_metrics_json_names_the_clinic_and_the_clinics_own_id(tmp_path, capsys):
    db = str(tmp_path / "k.db")
    for name, data in (("p.csv", PATIENTS), ("s.csv", SESSIONS)):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a.csv").write_text(
        SCORES_HEAD + "".join(f"P1,{c},PHQ9,2025-03-{d:02d},{t}\n" for c, ts in
                              (("coast", (20, 12)), ("north", (18, 17)))
                              for d, t in zip((1, 20), ts, strict=True)))
    assert main(["--db", db, "import", str(tmp_path / "p.csv"), str(tmp_path / "s.csv"),
                 str(tmp_path / "a.csv")]) == 0
    capsys.readouterr()
    assert main(["--db", db, "metrics", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    got = {(r["clinic_id"], r["source_id"]): (r["patient_id"], r["baseline_total"])
           for r in rows}
    assert got == {("coast", "P1"): ("P1", 20.0), ("north", "P1"): ("P1@north", 18.0)}


def test_patient_move_refuses_to_merge_two_patients(tmp_path, capsys):
    db = str(tmp_path / "k.db")
    (tmp_path / "p.csv").write_bytes(PATIENTS)
    assert main(["--db", db, "import", str(tmp_path / "p.csv")]) == 0
    capsys.readouterr()
    assert main(["--db", db, "patient", "move", "P1@north", "--clinic", "coast"]) == 1
    assert "clinic coast already has a patient with id P1 (P1)" in capsys.readouterr().err
    assert main(["--db", db, "patient", "move", "P2", "--clinic", "coast"]) == 0
    assert main(["--db", db, "patient", "move", "P404", "--clinic", "coast"]) == 1


def test_upgrade_from_0004_gives_each_stored_patient_its_id(backend_engine_0004):
    engine = backend_engine_0004
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO clinics (clinic_id) VALUES ('coast')"))
        conn.execute(text("INSERT INTO patients (patient_id, clinic_id) VALUES ('P1', 'coast')"))
    from dashboard.db import upgrade

    upgrade(engine)
    p = repository.load_frames(engine).patients
    assert p[["patient_id", "source_id", "clinic_id"]].values.tolist() == [["P1", "P1", "coast"]]
    r = import_file(engine, PATIENTS, name="p.csv")
    assert r.ok and r.patients_created == ["P1@north", "P2"]
    with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
        conn.execute(text("INSERT INTO patients (patient_id, source_id, clinic_id) VALUES "
                          "('X', 'P1', 'coast')"))


def test_keys_stay_unique_and_short():
    assert patient_key("P1", "north", taken=set()) == "P1"
    assert patient_key("P1", "north", taken={"P1"}) == "P1@north"
    long_id, long_clinic = "p" * 60, "c" * 60
    key = patient_key(long_id, long_clinic, taken={long_id})
    assert key is not None and len(key) <= 64 and key.startswith("p" * 51 + "@")
    # an id that looks like another's key gets the hashed form, never a shared key
    assert patient_key("P1@north", "north", taken={"P1@north", "P1@north@north"}) == \
        key_candidates("P1@north", "north")[2]
    assert patient_key("P1", "north", taken=set(key_candidates("P1", "north"))) is None


def test_a_large_lookup_reads_the_table_and_finds_the_same_patients(engine, monkeypatch):
    """Above ``_WHOLE_TABLE_IDS`` ids the stored patients are read whole and filtered in
    memory: the same rows as the IN-list queries."""
    _two_clinics(engine)
    asks = [(["P1"], []), (["P2", "nobody"], ["P1@north"]), ([], ["P1", "P9"]), ([], [])]
    with engine.connect() as conn:
        small = [repository.patients_named(conn, s, k) for s, k in asks]
        monkeypatch.setattr(repository, "_WHOLE_TABLE_IDS", -1)
        large = [repository.patients_named(conn, s, k) for s, k in asks]
    for a, b in zip(small, large, strict=True):
        key = ["patient_id", "source_id", "clinic_id"]
        assert sorted(map(tuple, a[key].to_numpy().tolist())) == \
            sorted(map(tuple, b[key].to_numpy().tolist()))
    assert sorted(large[1]["patient_id"]) == ["P1@north", "P2"]
