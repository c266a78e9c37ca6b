"""Hostile and careless input: a clear answer, no traceback, no leak, no wrong patient.

One regression test per finding of the hardening review (the hostile files are made here), on
SQLite and PostgreSQL wherever a database is involved.
"""

from __future__ import annotations

import io
import json
import threading
import tracemalloc

import openpyxl
import pytest

from dashboard.cli import main
from dashboard.db import repository
from dashboard.importers import import_file

H = "patient_id,instrument,administered_at,total\n"


def _seed(engine) -> None:
    assert import_file(engine, b"patient_id,clinic_id,clinician_id\nP1,coast,c1\nP2,north,n1\n",
                       name="p.csv").ok


def _problems(report) -> str:
    return " | ".join(report.problems()) + " | " + (report.file_error or "")


# 1. data on the wrong clinic's patient; placing unknown patients -------------------------
def test_a_clinic_column_is_never_ignored(engine):
    """The natural key is clinic + id (issue 14): a row naming P1 of north never lands on
    coast's P1; it is north's own P1, a new patient, and the report says so."""
    _seed(engine)
    r = import_file(engine, b"patient_id,clinic_id,instrument,administered_at,total\n"
                    b"P1,north,PHQ9,2025-09-01,10\n", name="a.csv")
    assert r.ok and r.patients_created == ["P1@north"]
    assert any("patient id P1 of clinic north is a new patient, apart from the patient with "
               "that id in clinic coast (shown as P1@north)" in w for w in r.warnings)
    frames = repository.load_frames(engine)
    assert list(frames.assessments["patient_id"]) == ["P1@north"]
    assert frames.patients.set_index("patient_id").loc["P1", "clinic_id"] == "coast"
    # an unknown patient is created in the clinic the file names
    r = import_file(engine, b"patient_id,clinic_id,instrument,administered_at,total\n"
                    b"P9,north,PHQ9,2025-09-01,10\n", name="b.csv")
    assert r.ok and r.patients_created == ["P9"]
    assert repository.load_frames(engine).patients.set_index("patient_id").loc["P9",
                                                                              "clinic_id"] == "north"


def test_patients_placed_in_main_can_be_moved_and_the_move_is_audited(engine):
    r = import_file(engine, (H + "P5,PHQ9,2025-09-01,10\n").encode(), name="a.csv")
    assert r.ok and any("clinic 'main'" in w for w in r.warnings)
    moved = import_file(engine, b"patient_id,clinic_id,clinician_id\nP5,coast,c7\n",
                        name="p.csv", actor="admin1")
    assert moved.ok and moved.patients_moved == ["P5"]
    p = repository.load_frames(engine).patients.set_index("patient_id")
    assert (p.loc["P5", "clinic_id"], p.loc["P5", "clinician_id"]) == ("coast", "c7")
    events = repository.audit_events(engine)
    row = events[events["action"] == "patient_moved"].iloc[0]
    assert row["target_id"] == "P5" and "main -> coast" in row["detail"]
    # other fields still never change silently
    r = import_file(engine, b"patient_id,clinic_id,indication\nP5,coast,PTSD\n", name="p3.csv")
    assert not r.ok and "contradicts the stored patient" in _problems(r)


# 2. tracebacks instead of messages ------------------------------------------------------
@pytest.mark.parametrize(("cell", "expected"), [
    ("2025-09-01T10:00+05", None), ("2025-09-01T10:00-03", None), ("2025-09-01T10+05:00", None),
    ("0001-01-01", "far outside any plausible date"), ("9999-12-31", "far outside"),
    ("2100-12-31", "in the future"), ("1900-01-01", "is before 2000-01-01"),
])
def test_dates_with_offsets_and_implausible_years(engine, cell, expected):
    _seed(engine)
    r = import_file(engine, (H + f"P1,PHQ9,{cell},10\n").encode(), name="d.csv", dry_run=True)
    if expected is None:
        assert r.ok, _problems(r)
    else:
        assert not r.ok and expected in _problems(r)


def test_user_add_without_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KAP_OUTCOMES_NEW_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["--db", str(tmp_path / "u.db"), "user", "add", "x", "--role", "quality"]) == 2
    assert "KAP_OUTCOMES_NEW_PASSWORD" in capsys.readouterr().err


# 4. concurrent imports --------------------------------------------------------------------
def test_concurrent_imports_are_serialized_not_crashed(engine):
    _seed(engine)
    rows = "".join(f"P1,PHQ9,2025-{m:02d}-{d:02d},{(m + d) % 27}\n" for m in range(1, 10)
                   for d in range(1, 28))
    data = (H + rows).encode()
    reports, errors = [], []

    def run():
        try:
            reports.append(import_file(engine, data, name="same.csv"))
        except Exception as exc:  # noqa: BLE001 - the test records any escape
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(reports) == 3
    assert all(r.ok for r in reports), [_problems(r) for r in reports]
    assert sorted(r.rows_added for r in reports) == [0, 0, 9 * 27]
    assert repository.counts(engine)["assessments"] == 9 * 27


def test_a_driver_integrity_error_is_a_message(monkeypatch, engine):
    import sqlite3

    _seed(engine)

    def boom(*args, **kwargs):
        raise sqlite3.IntegrityError("UNIQUE constraint failed: assessments.patient_id")

    monkeypatch.setattr(repository, "write_records", boom)
    r = import_file(engine, (H + "P1,PHQ9,2025-09-01,10\n").encode(), name="x.csv")
    assert not r.ok and "rejected by a database constraint" in _problems(r)
    assert "P1" not in _problems(r)


# 8. resource exhaustion from small files --------------------------------------------------
def test_spreadsheet_bomb_is_refused_before_loading(engine):
    wb = openpyxl.Workbook()
    ws = wb.active
    for col, value in zip("ABCD", ["patient_id", "instrument", "administered_at", "total"],
                          strict=True):
        ws[f"{col}1"] = value
    ws["XFD1048576"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    tracemalloc.start()
    r = import_file(engine, buf.getvalue(), name="bomb.xlsx", dry_run=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert r.too_large and "remove stray cells" in r.file_error
    assert peak < 50e6  # it used to reach 5.6 GB


def test_many_bad_rows_give_bounded_output(engine):
    nd = "\n".join(json.dumps({"resourceType": "Observation", "subject": {
        "reference": "Patient/P1"}, "code": {"coding": [{"code": "44261-6"}]},
        "valueInteger": 5, "effectiveDateTime": f"bad{i}"}) for i in range(2000)).encode()
    r = import_file(engine, nd, name="bad.ndjson", dry_run=True)
    text = "\n".join(r.problems())
    assert not r.ok and len(r.problems()) <= 1000 and len(text) < 200_000
    assert any("not listed" in w for w in r.warnings)


def test_caps_on_bytes_rows_and_columns(engine, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KAP_OUTCOMES_MAX_IMPORT_ROWS", "5")
    r = import_file(engine, (H + "P1,PHQ9,2025-09-01,1\n" * 6).encode(), name="r.csv",
                    dry_run=True)
    assert r.too_large and "over the cap of 5" in r.file_error
    monkeypatch.setenv("KAP_OUTCOMES_MAX_IMPORT_COLUMNS", "3")
    r = import_file(engine, (H + "P1,PHQ9,2025-09-01,1\n").encode(), name="c.csv", dry_run=True)
    assert r.too_large and "columns" in r.file_error
    monkeypatch.setenv("KAP_OUTCOMES_MAX_IMPORT_MB", "0.0001")
    path = tmp_path / "big.csv"
    path.write_bytes((H + "P1,PHQ9,2025-09-01,1\n" * 20).encode())
    url = str(engine.url) if engine.dialect.name == "sqlite" else None
    if url:
        assert main(["--db", url, "import", str(path)]) == 2          # exit 2: over a cap
        assert "over the cap" in capsys.readouterr().out


# 9. implausible values ----------------------------------------------------------------------
@pytest.mark.parametrize(("row", "expected"), [
    ("P\x1b1,PHQ9,2025-09-01,10", "control characters"),
    ("P\u200b1,PHQ9,2025-09-01,10", "invisible or non-printing"),
    ("\u202eP1,PHQ9,2025-09-01,10", "invisible or non-printing"),
    ("P" * 300 + ",PHQ9,2025-09-01,10", "longer than 64"),
    ("P1,PHQ9,2025-09-01,1_5", "not a plain number"),
    ("P1,PHQ9,2025-09-01,\u0661\u0665", "not a plain number"),
    ("P1,PHQ9,2025-09-01,\uff11\uff15", "not a plain number"),
    ("P1,PHQ9,2025-09-01," + "9" * 60, "outside"),
])
def test_implausible_values_are_refused(engine, row, expected):
    r = import_file(engine, (H + row + "\n").encode(), name="v.csv", dry_run=True)
    assert not r.ok and expected in _problems(r), _problems(r)
    assert all(len(p) < 400 for p in r.problems())        # a bad cell is not echoed whole


def test_dose_ceiling_and_fhir_booleans(engine):
    r = import_file(engine, b"patient_id,session_at,kind,route,dose_mg\n"
                    b"P1,2025-09-01T10:00,dosing,IV,1e300\n", name="s.csv", dry_run=True)
    assert not r.ok and "above 1000 mg" in _problems(r)
    obs = {"resourceType": "Observation", "subject": {"reference": "Patient/P1"},
           "code": {"coding": [{"code": "44261-6"}]}, "valueInteger": True,
           "effectiveDateTime": "2025-01-01"}
    r = import_file(engine, json.dumps(obs).encode(), name="o.json", dry_run=True)
    assert not r.ok and "valueInteger is True, not a number" in _problems(r)


def test_hostile_fhir_shapes_give_messages(engine):
    bodies = {
        b'{"resourceType":"Bundle","entry":{"a":1}}': "not a list",
        b'{"resourceType":"Bundle","entry":["x"]}': "not an object",
        b"[" * 100000 + b"]" * 100000: "nested too deeply",
        b'{"resourceType":"Observation","valueInteger":' + b"9" * 5000 + b"}": "thousands of",
        b'{"resourceType":"Observation","code":[1],"subject":"Patient/P1"}': "no PHQ-9/GAD-7",
    }
    for body, expected in bodies.items():
        r = import_file(engine, body, name="f.json", dry_run=True)
        assert not r.ok and expected in _problems(r), (body[:40], _problems(r))
    assert repository.counts(engine)["assessments"] == 0
