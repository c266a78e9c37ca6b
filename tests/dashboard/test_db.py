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
        assert MigrationContext.configure(conn).get_current_revision() == "0008"


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
        assert MigrationContext.configure(conn).get_current_revision() == "0008"
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
