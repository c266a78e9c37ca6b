"""Importers against real databases (SQLite and PostgreSQL): the import rules of data-formats.md."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from analysis import align, per_course_outcomes, score_assessments
from dashboard.db import repository
from dashboard.db.models import ImportBatch, assessments_table
from dashboard.importers import import_file
from sample_data.generate import SAMPLE_DIR, load_sample

PATIENTS = b"patient_id,clinic_id,indication\nP1,north,Treatment-resistant depression\nP2,,ptsd\n"


def csv(text: str) -> bytes:
    return text.encode("utf-8")


def snapshot(engine) -> dict:
    """Everything stored, for "exactly as before" comparisons."""
    f = repository.load_frames(engine)
    return {"counts": repository.counts(engine), "assessments": f.assessments,
            "sessions": f.sessions, "patients": f.patients}


def assert_unchanged(before: dict, after: dict) -> None:
    assert before["counts"] == after["counts"]
    for key in ("assessments", "sessions", "patients"):
        pd.testing.assert_frame_equal(before[key], after[key])


def test_sample_imports_and_reimport_adds_nothing(engine):
    reports = [import_file(engine, SAMPLE_DIR / f) for f in
               ("patients.csv", "sessions.csv", "assessments.csv")]
    assert all(r.ok for r in reports), [r.problems()[:3] for r in reports]
    patients, sessions, assessments = load_sample()
    c = repository.counts(engine)
    assert (c["patients"], c["sessions"], c["assessments"]) == (
        len(patients), len(sessions), len(assessments))
    again = import_file(engine, SAMPLE_DIR / "assessments.csv")
    assert again.ok and again.rows_added == 0 and again.rows_skipped == len(assessments)
    assert repository.counts(engine)["assessments"] == len(assessments)
    history = repository.import_history(engine)
    assert len(history) == 4
    assert history.iloc[0]["rows_added"] == 0 and len(history.iloc[0]["sha256"]) == 64


def test_outcomes_from_database_equal_outcomes_from_files(engine):
    for f in ("patients.csv", "sessions.csv", "assessments.csv"):
        assert import_file(engine, SAMPLE_DIR / f).ok
    frames = repository.load_frames(engine)
    from_db = per_course_outcomes(align(score_assessments(frames.assessments), frames.sessions))
    _, sessions, assessments = load_sample()
    from_csv = per_course_outcomes(align(score_assessments(assessments), sessions))
    pd.testing.assert_frame_equal(from_db, from_csv, check_dtype=False)


def test_every_bad_row_is_reported_and_nothing_written(engine):
    assert import_file(engine, PATIENTS, name="p.csv").ok
    before = snapshot(engine)
    bad = csv("patient_id,instrument,administered_at,total,item_1,item_2,item_3,item_4,item_5,"
              "item_6,item_7,item_8,item_9\n"
              "P1,PHQ9,2025-03-01,5,1,1,1,1,1,0,0,0,0\n"          # fine
              "P1,PHQ9,2025-03-08,,5,1,1,1,1,0,0,0,0\n"           # line 3: item 1 out of range
              "P1,BDI,2025-03-09,10,,,,,,,,,\n"                   # line 4: unknown instrument
              "P1,GAD7,14/03/2025,6,,,,,,,,,\n"                   # line 5: slash date
              "P2,PHQ9,2025-03-10,30,,,,,,,,,\n"                  # line 6: total out of range
              "P2,PHQ9,2025-03-11,9,1,1,1,1,1,1,1,1,0\n"          # line 7: total != items
              ",GAD7,2025-03-12,abc,,,,,,,,,\n")                  # line 8: id, not a number
    report = import_file(engine, bad, name="bad.csv")
    assert not report.ok and report.rows_added == 0
    assert report.problems() == [
        "line 3, item_1: 5 is outside 0–3 for PHQ9",
        "line 4, instrument: 'BDI' is not PHQ9, GAD7 or PCL5",
        "line 5, administered_at: '14/03/2025' is a slash date: say whether it is day-first or "
        "month-first (--dayfirst / --monthfirst); it is never guessed",
        "line 6, total: 30 is outside 0–27 for PHQ9",
        "line 7, total: total 9 disagrees with the item sum 8",
        "line 8, patient_id: missing",
        "line 8, total: 'abc' is not a number",
    ]
    assert report.rows_rejected == 6
    assert_unchanged(before, snapshot(engine))


def test_conflict_is_reported_never_overwritten(engine):
    first = csv("patient_id,instrument,administered_at,total\nP1,PHQ9,2025-03-01T09:30,12\n"
                "P1,PHQ9,2025-03-08,8\n")
    assert import_file(engine, first, name="a.csv").ok
    before = snapshot(engine)
    second = csv("patient_id,instrument,administered_at,total\nP1,PHQ9,2025-03-01T09:30,14\n"
                 "P1,GAD7,2025-03-01,5\n")
    report = import_file(engine, second, name="b.csv")
    assert not report.ok and [c.line for c in report.conflicts] == [2]
    assert "never overwritten" in report.conflicts[0].reason
    assert_unchanged(before, snapshot(engine))


def test_aliases_semicolons_bom_and_new_patients(engine):
    data = ("\ufeffPatient ID;Measure;Date;Total Score\n"
            "0042;phq-9;2025-03-01T09:30+02:00;12\n"
            "0042;GAD 7;2025-03-01;8\n").encode("utf-8")
    report = import_file(engine, data, name="export.csv")
    assert report.ok and report.kind == "assessments" and report.patients_created == ["0042"]
    a = repository.load_frames(engine).assessments
    assert a["patient_id"].tolist() == ["0042", "0042"]           # leading zeros kept
    assert a["instrument"].tolist() == ["GAD7", "PHQ9"]
    # the UTC offset is dropped: the clinic's wall-clock time is kept
    assert a["administered_at"].max() == pd.Timestamp("2025-03-01 09:30")
    assert repository.load_frames(engine).patients["clinic_id"].tolist() == ["main"]


@pytest.mark.parametrize(("flag", "expected"), [("dayfirst", "2025-03-04"),
                                                ("monthfirst", "2025-04-03")])
def test_explicit_date_order(engine, flag, expected):
    data = csv("patient_id,instrument,administered_at,total\nP1,PHQ9,04/03/2025,10\n")
    report = import_file(engine, data, name="d.csv", date_order=flag)
    assert report.ok
    assert repository.load_frames(engine).assessments["administered_at"].iloc[0] == \
        pd.Timestamp(expected)


def test_impossible_date_is_reported(engine):
    data = csv("patient_id,instrument,administered_at,total\nP1,PHQ9,2025-02-30,10\n")
    report = import_file(engine, data, name="d.csv")
    assert report.problems() == ["line 2, administered_at: '2025-02-30' is not a real date"]


def test_within_file_repeats(engine):
    data = csv("patient_id,instrument,administered_at,total\nP1,PHQ9,2025-03-01,10\n"
               "P1,PHQ9,2025-03-01,10\nP1,PHQ9,2025-03-02,10\nP1,PHQ9,2025-03-02,11\n")
    report = import_file(engine, data, name="r.csv")
    assert not report.ok
    assert report.problems() == ["line 5, administered_at: contradicts line 4 (same patient_id, "
                                 "instrument, administered_at, different values)"]
    ok = import_file(engine, data.rsplit(b"\n", 2)[0] + b"\n", name="r2.csv")
    assert ok.ok and ok.duplicates_in_file == 1 and ok.rows_added == 2


def test_wide_form_equals_long_form(engine, sqlite_engine):
    wide = SAMPLE_DIR / "assessments_wide_example.csv"
    report = import_file(engine, wide)
    assert report.ok and report.kind == "assessments"
    stored = repository.load_frames(engine).assessments
    frame = pd.read_csv(wide, dtype={"patient_id": str})
    n_cells = int(frame[[c for c in frame.columns if c.endswith("_total")]].notna().sum().sum())
    assert len(stored) == n_cells
    _, _, long = load_sample()
    long = long.set_index(["patient_id", "instrument", "administered_at"])["total"]
    got = stored.set_index(["patient_id", "instrument", "administered_at"])["total"]
    assert (long.loc[got.index].to_numpy() == got.to_numpy()).all()


def test_sessions_kinds_routes_and_courses(engine):
    data = csv("patient_id,session_at,kind,route,dose_mg,course_id\n"
               "P1,2025-01-01T10:00,Infusion,intravenous,35,A\n"
               "P1,2025-01-03T10:00,ketamine,IV,35,A\n"
               "P1,2025-01-04T10:00,integration,IV,,A\n"
               "P1,2025-03-01T10:00,booster,iv,35,A\n")
    report = import_file(engine, data, name="s.csv")
    assert report.ok and report.kind == "sessions"
    s = repository.load_frames(engine).sessions
    assert s["kind"].tolist() == ["dosing", "dosing", "integration", "booster"]
    # route kept for doses only (missing is None or NaN depending on the pandas version)
    assert [None if pd.isna(v) else v for v in s["route"]] == ["IV", "IV", None, "IV"]
    assert set(s["course_id"]) == {"A"} and repository.counts(engine)["courses"] == 1
    bad = csv("patient_id,session_at,kind,route,dose_mg\nP1,2025-01-05,nap,IV,-3\n"
              "P1,2025-01-06,dosing,rectal,\n")
    assert import_file(engine, bad, name="b.csv").problems() == [
        "line 2, dose_mg: -3 is negative",
        "line 2, kind: 'nap' is not a session kind (dosing, booster, integration, preparation)",
        "line 3, route: 'rectal' is not a route (IV, IM, IN, SL, PO)",
    ]


def test_xlsx_import(engine):
    buf = io.BytesIO()
    pd.DataFrame({"patient_id": ["007", "007"], "instrument": ["PHQ9", "GAD7"],
                  "administered_at": [pd.Timestamp("2025-03-01 09:30"),
                                      pd.Timestamp("2025-03-01")],
                  "total": [12, 7]}).to_excel(buf, index=False)
    report = import_file(engine, buf.getvalue(), name="scores.xlsx")
    assert report.ok, report.problems()
    a = repository.load_frames(engine).assessments
    assert a["patient_id"].tolist() == ["007", "007"]
    assert sorted(a["total"].tolist()) == [7.0, 12.0]


def _observation(code, value, when="2025-03-01T09:00:00Z", patient="P9"):
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
            "valueInteger": value}


def test_fhir_bundle_and_ndjson(engine):
    phq_items = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
                 "44253-3", "44260-8"]
    entries = [_observation(code, 1) for code in phq_items] + [_observation("44261-6", 9)]
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://loinc.org/q/69737-5",
          "subject": {"reference": "Patient/P9"}, "authored": "2025-03-02T10:00:00",
          "item": [{"linkId": code, "answer": [{"valueCoding": {"code": "LA6570-1"}}]}
                   for code in ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9",
                                "69689-8", "69736-7"]]}
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in entries + [qr]]}
    report = import_file(engine, json.dumps(bundle).encode(), name="bundle.json")
    assert report.ok, report.problems()
    a = repository.load_frames(engine).assessments.set_index("instrument")
    assert a.loc["PHQ9", "total"] == 9 and a.loc["PHQ9", "item_9"] == 1
    assert a.loc["GAD7", "total"] == 14  # 7 items x "more than half the days" (2)
    ndjson = "\n".join(json.dumps(_observation("44261-6", 30, patient="P8"))
                       for _ in range(1)).encode()
    bad = import_file(engine, ndjson, name="obs.ndjson")
    assert bad.problems() == ["line 1 (Observation), total: 30 is outside 0–27 for PHQ9"]


def test_dry_run_writes_nothing(engine):
    before = snapshot(engine)
    report = import_file(engine, SAMPLE_DIR / "patients.csv", dry_run=True)
    assert report.ok and report.rows_added == 300 and report.dry_run
    assert "would add 300" in report.summary()
    assert_unchanged(before, snapshot(engine))


def test_failure_in_the_middle_of_a_file_leaves_the_database_as_before(engine, monkeypatch):
    for f in ("patients.csv", "sessions.csv"):
        assert import_file(engine, SAMPLE_DIR / f).ok
    before = snapshot(engine)
    calls = {"n": 0}
    real = repository._write_chunk

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the first chunk is already in the database by now
            raise RuntimeError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(repository, "_CHUNK", 200)
    monkeypatch.setattr(repository, "_write_chunk", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        import_file(engine, SAMPLE_DIR / "assessments.csv")
    assert calls["n"] == 2
    assert_unchanged(before, snapshot(engine))


def test_database_enforces_ranges_itself(engine):
    assert import_file(engine, PATIENTS, name="p.csv").ok
    t = assessments_table
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(t).values(patient_id="P1", instrument="GAD7",
                                      administered_at=pd.Timestamp("2025-01-01").to_pydatetime(),
                                      total=22, prorated=False))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(t).values(patient_id="P1", instrument="PHQ9",
                                      administered_at=pd.Timestamp("2025-01-01").to_pydatetime(),
                                      total=3, item_10=1, prorated=False))
    with pytest.raises(IntegrityError), engine.begin() as conn:  # unknown patient
        conn.execute(insert(t).values(patient_id="nobody", instrument="PHQ9",
                                      administered_at=pd.Timestamp("2025-01-01").to_pydatetime(),
                                      total=3, prorated=False))
    with engine.connect() as conn:
        assert conn.execute(select(ImportBatch.__table__.c.kind)).scalars().all() == ["patients"]


def test_file_level_errors(engine):
    cases = {
        b"": "the file is empty",
        b"patient_id,instrument,administered_at,total\n": "header but no data rows",
        b"\xff\xfepatient": "not UTF-8",
        b"patient_id,Patient-ID,total\nP1,P1,3\n": "appears twice",
        b"patient_id,session_at\nP1,2025-01-01\n": "needs the column(s) kind",
    }
    for data, message in cases.items():
        kind = "sessions" if b"session_at" in data else None
        report = import_file(engine, data, name="x.csv", kind=kind)
        assert not report.ok and message in report.file_error, (data, report.file_error)
    assert repository.counts(engine)["import_batches"] == 0


def test_random_fractional_prorating_is_marked(engine):
    data = csv("patient_id,instrument,administered_at,item_1,item_2,item_3,item_4,item_5,item_6,"
               "item_7\nP1,GAD7,2025-03-01,1,1,1,1,1,1,\n")
    assert import_file(engine, data, name="a.csv", max_missing_items=1).ok
    a = repository.load_frames(engine).assessments.iloc[0]
    assert a["prorated"] and a["total"] == pytest.approx(7.0) and pd.isna(a["item_7"])
    assert np.isnan(pd.to_numeric(pd.Series([a["item_7"]]), errors="coerce")[0])


def test_load_frames_filters_quote_safely(engine):
    data = csv("patient_id,clinic_id\nO'Brien,north\nP2,coast\n")
    assert import_file(engine, data, name="p.csv").ok
    scores = csv("patient_id,instrument,administered_at,total\nO'Brien,PHQ9,2025-03-01,12\n"
                 "P2,PHQ9,2025-03-01,7\n")
    assert import_file(engine, scores, name="a.csv").ok
    one = repository.load_frames(engine, patient_ids=["O'Brien"])
    assert one.assessments["patient_id"].tolist() == ["O'Brien"]
    north = repository.load_frames(engine, clinic_ids=["north"])
    assert north.patients["patient_id"].tolist() == ["O'Brien"]
    assert north.assessments["administered_at"].dtype == "datetime64[ns]"
    nobody = repository.load_frames(engine, patient_ids=["x') OR ('1'='1"])
    assert nobody.assessments.empty and nobody.patients.empty


@pytest.mark.parametrize("quoted", [False, True])
def test_blank_lines_are_skipped_and_rows_keep_their_file_lines(quoted):
    """Blank lines (empty, spaces and tabs, delimiters only) are not rows, and every row keeps
    its line in the file: the same with the C parser (no quotes) as with the csv module (a
    quoted cell sends the file there)."""
    from dashboard.importers.reading import read_file

    first = '"P1"' if quoted else "P1"
    text = (f"patient_id,instrument,administered_at,total\n{first},PHQ9,2025-01-01,20\n\n"
            " \t \n,,,\nP2,GAD7,2025-01-02,9\n  ,  ,\t,\nP3,PHQ9,2025-01-03,\n")
    raw = read_file(csv(text), name="s.csv")
    assert raw.lines == [2, 6, 8]
    assert raw.frame.astype(object).values.tolist() == [
        ["P1", "PHQ9", "2025-01-01", "20"], ["P2", "GAD7", "2025-01-02", "9"],
        ["P3", "PHQ9", "2025-01-03", ""]]
    # no trailing newline, and a file of blank lines only
    assert read_file(csv(text.rstrip("\n")), name="s.csv").lines == [2, 6, 8]
    with pytest.raises(Exception, match="no data rows"):
        read_file(csv("patient_id,total\n\n , \n"), name="s.csv")


def test_a_bad_cell_after_blank_lines_names_its_file_line(engine):
    report = import_file(engine, csv("patient_id,instrument,administered_at,total\n\n\n"
                                     "P1,PHQ9,2025-01-01,99\n"), name="s.csv")
    assert [(e.line, e.column) for e in report.errors] == [(4, "total")]


def _same_by_loop(a: pd.Series, b: pd.Series) -> np.ndarray:
    """The comparison rule, value by value (the reference for the vectorized one)."""
    out = []
    for x, y in zip(a.to_numpy(dtype=object), b.to_numpy(dtype=object), strict=True):
        if pd.isna(x):
            out.append(True)
        elif pd.isna(y):
            out.append(False)
        else:
            try:
                out.append(float(x) == float(y))
            except (TypeError, ValueError):
                out.append(str(x) == str(y))
    return np.array(out, dtype=bool)


def test_the_comparison_with_stored_values_follows_the_rule_value_by_value():
    """A re-import compares each given cell with the stored one: missing in the file is "not
    given", numbers as numbers ("3" equals 3.0), anything else as text."""
    from dashboard.importers.service import _same

    rng = np.random.default_rng(5)
    pool = [None, np.nan, pd.NA, 0, 1, 3, 3.0, 2.5, "3", "3.0", "2.5", "mild", "severe", "",
            True, False]
    for dtype in ("object", "float", "boolean", "str", "Int64"):
        for _ in range(30):
            n = 40
            if dtype == "object":
                a = pd.Series(rng.choice(np.array(pool, dtype=object), n), dtype=object)
                b = pd.Series(rng.choice(np.array(pool, dtype=object), n), dtype=object)
            elif dtype == "str":
                words = np.array(["mild", "severe", "3", "3.0", "x"], dtype=object)
                a = pd.Series(rng.choice(words, n), dtype="str").where(rng.random(n) > .2)
                b = pd.Series(rng.choice(words, n), dtype="str").where(rng.random(n) > .2)
            else:
                hi = 2 if dtype == "boolean" else 3
                a = pd.Series(rng.integers(0, hi, n)).astype(dtype).where(rng.random(n) > .2)
                b = pd.Series(rng.integers(0, hi, n)).astype(dtype).where(rng.random(n) > .2)
            assert (_same(a, b) == _same_by_loop(a, b)).all(), (dtype, a.tolist(), b.tolist())
