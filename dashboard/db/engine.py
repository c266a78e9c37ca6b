"""Engine creation: a SQLite file by default (WAL, foreign keys on), PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

__all__ = ["DEFAULT_URL", "database_url", "make_engine", "fresh_schema"]

#: Default database: a SQLite file in the working directory (zero set-up).
DEFAULT_URL = "sqlite:///kap_outcomes.db"


def database_url(explicit: str | None = None) -> str:
    """The database URL: ``explicit`` (``--db``), else ``KAP_OUTCOMES_DB``, else the default.

    A bare file path is taken as a SQLite file.
    """
    url = explicit or os.environ.get("KAP_OUTCOMES_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    return url


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`).

    SQLite gets WAL journaling (readers do not block the importer), enforced foreign keys and a
    busy timeout; PostgreSQL uses psycopg 3 (``postgresql://`` is mapped to ``postgresql+psycopg``).
    """
    url = database_url(url)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def fresh_schema(base_url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (created empty, dropped first if it
    was there): one server holds many isolated databases for tests and benchmarks."""
    from sqlalchemy import text

    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return url
