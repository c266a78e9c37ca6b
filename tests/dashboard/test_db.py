"""Schema and migrations: Alembic's first revision builds exactly the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from dashboard.db import database_url, make_engine, upgrade
from dashboard.db.models import Base


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {"patients", "sessions", "assessments", "courses", "clinics", "clinicians",
            "import_batches", "audit_log", "alembic_version"} <= tables


def test_upgrade_is_idempotent(engine):
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0009"


def test_sqlite_uses_wal_and_foreign_keys(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_database_url_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("KAP_OUTCOMES_DB", raising=False)
    assert database_url() == "sqlite:///kap_outcomes.db"
    monkeypatch.setenv("KAP_OUTCOMES_DB", str(tmp_path / "x.db"))
    assert database_url() == f"sqlite:///{tmp_path / 'x.db'}"
    assert database_url("postgresql://u:p@h/db") == "postgresql://u:p@h/db"
    assert make_engine("postgresql://u:p@localhost/db").dialect.driver == "psycopg"


def test_postgres_tests_use_their_own_schema(tmp_path):
    from tests.dashboard.conftest import fresh_engine

    engine = fresh_engine("postgresql", tmp_path)
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    assert schema.startswith("kap_test_")  # concurrent runs cannot drop each other's tables


def test_upgrade_from_0003_keeps_stored_data(backend_engine_0003):
    """A database with imports made before the session-safety revision upgrades in place: the
    imports keep their provenance, and the new kinds are accepted (SQLite widens the CHECK of
    a table other tables refer to without rebuilding it)."""
    from sqlalchemy import text

    from dashboard.importers import import_file

    engine = backend_engine_0003
    with engine.begin() as conn:  # what a 0003 database holds after an import (raw SQL: the
        # models are already at the new revision)
        conn.execute(text("INSERT INTO import_batches (file_name, sha256, kind, imported_at,"
                          " rows_total, rows_added, rows_skipped, patients_created) VALUES ("
                          "'s.csv', 'abc', 'sessions', '2025-01-01', 1, 1, 0, 1)"))
        batch = conn.execute(text("SELECT id FROM import_batches")).scalar_one()
        conn.execute(text("INSERT INTO clinics (clinic_id) VALUES ('main')"))
        conn.execute(text("INSERT INTO patients (patient_id, clinic_id, import_id) VALUES "
                          "('P1', 'main', :b)"), {"b": batch})
        conn.execute(text("INSERT INTO sessions (patient_id, session_at, kind, route, dose_mg, "
                          "import_id) VALUES ('P1', '2025-01-06 10:00:00', 'dosing', 'IN', 56, "
                          ":b)"), {"b": batch})
    upgrade(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
        assert conn.execute(text("SELECT count(*) FROM import_batches")).scalar_one() == 1
        assert conn.execute(text("SELECT import_id FROM sessions")).scalar_one() == batch
    report = import_file(engine, b"patient_id,session_at,event,severity,serious,"
                         b"resolved_before_discharge\nP1,2025-01-06T10:00,nausea,mild,no,yes\n",
                         name="ae.csv")
    assert report.ok and report.kind == "adverse_events" and report.rows_added == 1
    bad = import_file(engine, b"patient_id,session_at,kind,weight_kg\nP1,2025-01-07,dosing,"
                      b"900\n", name="s.csv")
    assert [str(p) for p in bad.errors] == [
        "line 2, weight_kg: 900 kg is outside 20–400 kg: a unit error?"]


def test_a_read_inside_a_transaction_equals_a_plain_read(engine):
    """The import's own read of what it wrote (``COPY … TO STDOUT`` on PostgreSQL, the sqlite3
    cursor on SQLite) gives the rows and values of a plain ``pandas.read_sql``: commas, quotes,
    the text "NA", empty cells, booleans, numbers and timestamps."""
    import pandas as pd
    from sqlalchemy import select

    from dashboard.db import repository
    from dashboard.db.models import Patient, Session, assessments_table
    from dashboard.importers import import_file

    assert import_file(engine, b'patient_id,clinician_id,indication,birth_year\n'
                       b'P1,"c,1",TRD,1980\nP2,"say ""hi""",,\n00123,NA,PTSD,1975\n',
                       name="p.csv").ok
    assert import_file(engine, b"patient_id,session_at,kind,route,dose_mg,weight_kg\n"
                       b"P1,2025-03-03T10:00,dosing,IV,35.5,70\n"
                       b"P2,2025-03-04T10:30:15,integration,,,\n", name="s.csv").ok
    assert import_file(engine, b"patient_id,instrument,administered_at,total,item_9\n"
                       b"P1,PHQ9,2025-03-01T09:00,15,1\nP1,GAD7,2025-03-01T09:00,9,\n",
                       name="a.csv").ok
    p, s, a = Patient.__table__, Session.__table__, assessments_table
    queries = [select(p.c.patient_id, p.c.source_id, p.c.clinician_id, p.c.indication,
                      p.c.birth_year),
               select(s.c.patient_id, s.c.session_at, s.c.kind, s.c.route, s.c.dose_mg,
                      s.c.weight_kg),
               select(a.c.patient_id, a.c.administered_at, a.c.total, a.c.prorated,
                      a.c.item_9),
               select(s.c.patient_id).where(s.c.patient_id == "nobody")]
    with engine.begin() as conn:
        for q in queries:
            here = repository._read_here(conn, q)
            plain = pd.read_sql(q, conn)
            for col in ("session_at", "administered_at"):   # SQLite gives ISO text
                for frame in (here, plain):
                    if col in frame:
                        frame[col] = repository._timestamps(frame[col])
            assert list(here.columns) == list(plain.columns)
            assert repository._same_rows(here, plain), (here, plain)
        clinicians = repository._read_here(conn, queries[0]).set_index("source_id")
        assert clinicians.loc["P1", "clinician_id"] == "c,1"
        assert clinicians.loc["P2", "clinician_id"] == 'say "hi"'
        assert clinicians.loc["00123", "clinician_id"] == "NA"


def test_a_large_write_checks_its_foreign_keys_once_and_still_refuses_orphans(engine,
                                                                               monkeypatch):
    """From ``BULK_FOREIGN_KEY_ROWS`` rows PostgreSQL checks the foreign keys once, after the
    write: the schema is the models' again afterwards, and a row naming no patient still
    fails the whole transaction (on SQLite the per-row checks do the same)."""
    import sqlite3

    import pandas as pd
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from dashboard.db import repository
    from dashboard.db.models import assessments_table
    from dashboard.importers import import_file

    monkeypatch.setattr(repository, "BULK_FOREIGN_KEY_ROWS", 1)
    assert import_file(engine, b"patient_id,instrument,administered_at,total\n"
                       b"P1,PHQ9,2025-03-01T09:00,15\nP2,PHQ9,2025-03-01T09:00,9\n",
                       name="a.csv").ok
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT count(*) FROM assessments")).scalar_one() == 2
    orphan = pd.DataFrame({"patient_id": ["nobody"], "instrument": ["PHQ9"],
                           "administered_at": [pd.Timestamp("2025-03-02 09:00")],
                           "total": [3.0], "prorated": [False]})
    with pytest.raises((IntegrityError, sqlite3.IntegrityError)), engine.begin() as conn:
        repository._bulk_insert(conn, assessments_table, orphan)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assessments")).scalar_one() == 2
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
