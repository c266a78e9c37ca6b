"""Two app processes on one PostgreSQL (the path to many instances behind a load balancer): an
import through one is seen by the other on its next page run, without a restart — each process
keys its caches by the data version (the latest import's id)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import text

from dashboard.db import make_engine
from dashboard.db.engine import fresh_schema
from tests.e2e.conftest import ROOT, SHOTS, start_streamlit


@pytest.fixture(scope="module")
def two_apps():
    base = os.environ.get("KAP_TEST_PG_URL")
    if not base:
        pytest.fail("KAP_TEST_PG_URL is not set: run ./scripts/test.sh, which starts PostgreSQL")
    schema = f"kap_e2e_two_{os.getpid()}"
    url = fresh_schema(base, schema)
    engine = make_engine(url)
    env = dict(os.environ, KAP_OUTCOMES_DB=url, KAP_OUTCOMES_MODE="local")
    subprocess.run([sys.executable, "-m", "dashboard.cli", "demo"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    apps = [start_streamlit(env) for _ in range(2)]
    yield [u for u, _ in apps]
    for _, proc in apps:
        proc.terminate()
        proc.wait(timeout=10)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _courses_started(page, url: str) -> int:
    page.goto(url)
    page.get_by_role("heading", name="Clinic overview").first.wait_for(timeout=60_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Courses started")
    metric.first.wait_for(timeout=60_000)
    return int(re.search(r"(\d+)", metric.first.inner_text().split("started", 1)[1]).group(1))


def test_an_import_through_one_app_is_seen_by_the_other(page, two_apps, tmp_path):
    first, second = two_apps
    before = (_courses_started(page, first), _courses_started(page, second))
    assert before[0] == before[1] > 0
    day = dt.date.today() - dt.timedelta(days=20)
    sessions = tmp_path / "new_sessions.csv"
    sessions.write_text("patient_id,clinic_id,session_at,kind,route,dose_mg\n"
                        f"P-TWO,north,{day}T10:00,dosing,IV,35\n")
    scores = tmp_path / "new_scores.csv"
    scores.write_text("patient_id,instrument,administered_at,total\n"
                      f"P-TWO,PHQ9,{day - dt.timedelta(days=2)},18\n"
                      f"P-TWO,PHQ9,{day + dt.timedelta(days=7)},8\n")
    for path, added in ((sessions, "added 1"), (scores, "added 2")):
        page.goto(f"{first}/data")
        page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
        page.locator('input[type="file"]').set_input_files(str(path))
        page.get_by_role("button", name="Import").wait_for(timeout=30_000)
        page.get_by_text("would add").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Import").click()
        page.get_by_text(added).first.wait_for(timeout=30_000)
    # the other process never saw the import happen; its next page run reads the new version
    assert _courses_started(page, second) == before[1] + 1
    page.screenshot(path=str(SHOTS / "second-instance-after-import.png"), full_page=True)
    assert _courses_started(page, first) == before[0] + 1
