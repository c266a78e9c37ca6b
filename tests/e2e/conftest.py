"""End-to-end fixtures: `streamlit run` on a demo database, driven by Debian's Chromium.

Playwright drives the system browser (``/usr/bin/chromium``; ``playwright install`` cannot
download here). Screenshots are written to ``artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("KAP_CHROMIUM", "/usr/bin/chromium")
E2E_PASSWORD = "e2e-password-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path_factory, *, clinic: bool):
    db = tmp_path_factory.mktemp("e2e") / "demo.db"
    env = dict(os.environ, KAP_OUTCOMES_DB=f"sqlite:///{db}",
               KAP_OUTCOMES_MODE="clinic" if clinic else "local")
    subprocess.run([sys.executable, "-m", "dashboard.cli", "demo"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    # a patient with intake scores only (no session yet), placed in clinic north
    intake = db.parent / "intake.csv"
    today = time.strftime("%Y-%m-%d")
    intake.write_text("patient_id,clinic_id,instrument,administered_at,total\n"
                      f"P-INTAKE,north,PHQ9,2025-06-01,19\nP-INTAKE,north,PHQ9,2025-07-01,17\n"
                      f"P-INTAKE,north,GAD7,{today},12\n")
    subprocess.run([sys.executable, "-m", "dashboard.cli", "import", str(intake)], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    if clinic:
        for name, extra in (("doc", ["--role", "clinician", "--clinician-id", "clin-NO-1"]),
                            ("qa", ["--role", "quality"])):
            subprocess.run([sys.executable, "-m", "dashboard.cli", "user", "add", name, *extra],
                           cwd=ROOT, env=dict(env, KAP_OUTCOMES_NEW_PASSWORD=E2E_PASSWORD),
                           check=True, capture_output=True)
    return start_streamlit(env)


def start_streamlit(env: dict[str, str]):
    """``streamlit run`` of the app with ``env`` on a free local port, once it answers its
    health check: (base URL, process)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("streamlit did not start within 60 s")
    return url, proc


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    url, proc = _serve(tmp_path_factory, clinic=False)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def clinic_url(tmp_path_factory):
    url, proc = _serve(tmp_path_factory, clinic=True)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: scripts/test.sh installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run"])
        yield b
        b.close()


def _outside(url: str) -> bool:
    """True for a request to any host but this machine (data: and blob: URLs are local)."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
        return False
    return parts.hostname not in ("127.0.0.1", "localhost", "::1")


@pytest.fixture
def page(browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    # an app holding patient data makes no request to any host but its own
    pg.outside = []
    pg.on("request", lambda r: pg.outside.append(r.url) if _outside(r.url) else None)
    yield pg
    context.close()
    assert pg.outside == [], f"the app made requests to outside hosts: {pg.outside[:5]}"
