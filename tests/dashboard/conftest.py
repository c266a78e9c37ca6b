"""Database fixtures: every storage test runs on SQLite and on a real PostgreSQL server.

``scripts/test.sh`` starts PostgreSQL and sets ``KAP_TEST_PG_URL``. Without it the PostgreSQL
half fails (it is never skipped silently) unless ``KAP_TEST_SQLITE_ONLY=1`` is set on purpose.
"""

from __future__ import annotations

import os

import pytest

from dashboard.db import make_engine, upgrade
from dashboard.db.engine import fresh_schema

BACKENDS = ["sqlite", "postgresql"]


def _pg_url() -> str | None:
    url = os.environ.get("KAP_TEST_PG_URL")
    if not url and os.environ.get("KAP_TEST_SQLITE_ONLY") != "1":
        pytest.fail("KAP_TEST_PG_URL is not set: run ./scripts/test.sh, which starts PostgreSQL "
                    "(or set KAP_TEST_SQLITE_ONLY=1 to run the SQLite half alone)")
    return url


def fresh_engine(backend: str, tmp_path, revision: str = "head"):
    """An empty database of ``backend``, migrated to ``revision``."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'kap.db'}")
    else:
        url = _pg_url()
        if url is None:
            pytest.skip("PostgreSQL half disabled by KAP_TEST_SQLITE_ONLY=1")
        # one schema per test process, so two runs sharing the server never meet
        engine = make_engine(fresh_schema(url, f"kap_test_{os.getpid()}"))
    upgrade(engine, revision)
    return engine


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    eng = fresh_engine(request.param, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def backend_engine_0003(request, tmp_path):
    """A database of each back-end at revision 0003 (before session safety)."""
    eng = fresh_engine(request.param, tmp_path, "0003")
    yield eng
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def backend_engine_0004(request, tmp_path):
    """A database of each back-end at revision 0004 (before clinic-scoped patient ids)."""
    eng = fresh_engine(request.param, tmp_path, "0004")
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = fresh_engine("sqlite", tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def demo_db(tmp_path, monkeypatch):
    """The sample clinic in a fresh SQLite file, named by ``KAP_OUTCOMES_DB``, caches cleared."""
    import streamlit as st

    from dashboard.cli import main

    db = tmp_path / "demo.db"
    assert main(["--db", str(db), "demo"]) == 0
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{db}")
    st.cache_data.clear()
    st.cache_resource.clear()
    return db
