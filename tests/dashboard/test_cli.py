"""The kap-outcomes command line: exit codes scripts can rely on, and metrics --json."""

import json

from analysis.schemas import OUTCOME_FIELDS
from dashboard.cli import _safe_url, main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_metrics_and_reimport(tmp_path, capsys):
    db = str(tmp_path / "demo.db")
    code, out, _ = run(capsys, "--db", db, "demo")
    assert code == 0 and "300 patients" in out
    code, out, _ = run(capsys, "--db", db, "metrics", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) > 500
    assert all(tuple(r) == (*OUTCOME_FIELDS, "clinic_id", "source_id") for r in rows)
    assert {type(r["rapid_response"]) for r in rows} <= {bool, type(None)}
    code, out, _ = run(capsys, "--db", db, "demo")
    assert code == 0 and "added 0" in out


def test_import_exit_codes(tmp_path, capsys):
    db = str(tmp_path / "x.db")
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,instrument,administered_at,total\nP1,PHQ9,2025-01-01,99\n")
    code, out, _ = run(capsys, "--db", db, "import", str(bad))
    assert code == 1 and "line 2, total: 99 is outside 0–27 for PHQ9" in out
    assert "99" not in out.splitlines()[0]  # the summary line carries no cell values
    code, _, err = run(capsys, "--db", db, "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in err
    good = tmp_path / "good.csv"
    good.write_text("patient_id,instrument,administered_at,total\nP1,PHQ9,03/01/2025,9\n")
    code, out, _ = run(capsys, "--db", db, "import", "--dayfirst", "--dry-run", str(good))
    assert code == 0 and "would add 1" in out
    code, out, _ = run(capsys, "--db", db, "import", "--dayfirst", str(good))
    assert code == 0 and "added 1" in out


def test_metrics_on_empty_database(tmp_path, capsys):
    code, out, err = run(capsys, "--db", str(tmp_path / "e.db"), "metrics", "--json")
    assert code == 0 and out == "" and "no data yet" in err


def test_passwords_never_printed():
    assert _safe_url("postgresql+psycopg://kap:secret@db:5432/kap") == \
        "postgresql+psycopg://kap:***@db:5432/kap"
