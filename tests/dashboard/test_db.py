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
        assert MigrationContext.configure(conn).get_current_revision() == "0003"


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
