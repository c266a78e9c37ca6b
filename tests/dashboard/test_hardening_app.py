"""Hardening of the app itself: tracebacks, audit gaps, sign-in, markdown, wrong patient,
local mode (AppTest; the browser half is in tests/e2e)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.cli import main
from dashboard.db import make_engine
from dashboard.db.repository import audit_events, save_user
from dashboard.security import User, can_view_patient, hash_password, parse_clinics

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app.py"
PASSWORD = "correct-horse-battery"


def test_local_mode_listens_on_localhost_and_shows_no_tracebacks():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["client"]["showErrorDetails"] == "none"


@pytest.fixture
def clinic(tmp_path, monkeypatch):
    db = tmp_path / "c.db"
    assert main(["--db", str(db), "demo"]) == 0
    url = f"sqlite:///{db}"
    eng = make_engine(url)
    save_user(eng, username="doc", role="clinician", password_hash=hash_password(PASSWORD),
              clinician_id="clin-NO-1")
    monkeypatch.setenv("KAP_OUTCOMES_DB", url)
    monkeypatch.setenv("KAP_OUTCOMES_MODE", "clinic")
    st.cache_data.clear()
    st.cache_resource.clear()
    return eng


def _login(name: str, password: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.text_input(key="auth_username").input(name)
    at.text_input(key="auth_password").input(password)
    at.button[0].click().run()
    return at


def test_a_password_typed_as_the_name_is_not_recorded(clinic):
    _login("MySecretPassw0rd", "whatever")
    events = audit_events(clinic)
    failed = events[events["action"] == "login_failed"]
    assert failed["actor"].tolist() == ["(unknown name)"]
    assert "MySecretPassw0rd" not in " ".join(events.fillna("").astype(str).values.ravel())


def test_lockout_after_repeated_failures(clinic, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)   # the per-session backoff, not tested
    for _ in range(5):
        at = _login("doc", "wrong password!")
        assert at.error[0].value == "Wrong username or password."
    at = _login("doc", PASSWORD)                        # the right one, too late
    assert "Too many failed sign-ins" in at.error[0].value and not at.metric


def test_unknown_names_cost_an_argon2_check_too(clinic, monkeypatch):
    calls = []
    import dashboard.auth as auth

    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    monkeypatch.setattr("time.sleep", lambda s: None)
    _login("nobody-by-this-name", "x" * 12)
    assert len(calls) == 1                               # same work as for a real account


def test_searching_a_foreign_exact_id_is_audited(clinic):
    at = _login("doc", PASSWORD)
    at.switch_page("dashboard/pages/patient.py").run()
    from dashboard import data

    p = data.patients(str(clinic.url))
    foreign = p.loc[p["clinician_id"] != "clin-NO-1", "patient_id"].iloc[0]
    at.text_input(key="patient_query").input(foreign).run()
    assert not at.get("plotly_chart")
    events = audit_events(clinic)
    denied = events[events["action"] == "view_patient_denied"]
    assert denied["target_id"].tolist() == [foreign] and denied["actor"].tolist() == ["doc"]


def test_imported_markdown_is_shown_as_text(tmp_path, monkeypatch):
    from dashboard import state

    db = tmp_path / "m.db"
    assert main(["--db", str(db), "demo"]) == 0
    hostile = "![c](http://host/x.png)"
    # a real patient placed in a clinic whose id is markdown (the natural key is clinic +
    # id, so a patients file would make a new patient there: the move is explicit)
    assert main(["--db", str(db), "patient", "move", "P000001", "--clinic", hostile]) == 0
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{db}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.multiselect(key=state.CLINIC_KEY).set_value([hostile]).run()
    caption = at.caption[0].value
    assert "\\!\\[c\\]\\(" in caption and "![c](" not in caption


def test_links_and_director_scopes_survive_odd_ids():
    from urllib.parse import quote

    assert quote("P000021&b", safe="") == "P000021%26b"   # the form data.signals links use
    assert parse_clinics('["north", "a,b"]') == ("north", "a,b")
    director = User("d", "director", clinics=parse_clinics('["a,b"]'))
    assert can_view_patient(director, clinic_id="a,b", clinician_id=None)
    assert not can_view_patient(director, clinic_id="a", clinician_id=None)


def test_data_page_one_bad_file_does_not_block_the_others(demo_db, monkeypatch):
    from dashboard import data

    real = data.preview_import

    def flaky(url, name, content, **options):
        if name == "crash.csv":
            raise RuntimeError("P000004 something internal")   # an unexpected failure
        return real(url, name, content, **options)

    monkeypatch.setattr(data, "preview_import", flaky)
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("dashboard/pages/data_page.py").run()
    good = b"patient_id,instrument,administered_at,total\nP000001,PHQ9,2025-09-01,14\n"
    at.file_uploader[0].set_value([("crash.csv", b"x", "text/csv"),
                                   ("good.csv", good, "text/csv")]).run()
    assert not at.exception
    texts = [re.sub(r"\\(.)", r"\1", e.value) for e in [*at.error, *at.success]]
    assert any("crash.csv" in t and "could not be read (RuntimeError)" in t for t in texts)
    assert any("good.csv" in t and "would add 1" in t for t in texts)
    assert not any("P000004" in t for t in texts)          # nothing of the error's text
    assert at.button(key="data_import").disabled


def test_data_page_clears_after_import_and_offers_the_problems(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("dashboard/pages/data_page.py").run()
    bad = b"patient_id,instrument,administered_at,total\nP000001,PHQ9,2025-09-01,31\n"
    at.file_uploader[0].set_value(("bad.csv", bad, "text/csv")).run()
    assert at.download_button[0].label.startswith("Download the problems of bad.csv")
    good = b"patient_id,instrument,administered_at,total\nP000001,PHQ9,2025-09-02,14\n"
    at.file_uploader[0].set_value(("good.csv", good, "text/csv")).run()
    at.button(key="data_import").click().run()
    assert not at.exception
    assert any("added 1" in s.value for s in at.success)
    assert at.file_uploader[0].value in (None, [])             # a fresh uploader
