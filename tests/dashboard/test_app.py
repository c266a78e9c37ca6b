"""The app renders from a database (Streamlit AppTest)."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.cli import main

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


@pytest.fixture
def demo_db(tmp_path, monkeypatch):
    db = tmp_path / "demo.db"
    assert main(["--db", str(db), "demo"]) == 0
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{db}")
    st.cache_data.clear()
    st.cache_resource.clear()
    return db


def test_overview_renders_with_rates(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.startswith("KAP Outcomes")
    labels = [m.label for m in at.metric]
    assert "Response at endpoint" in labels
    assert all("%" in m.value for m in at.metric)
    at.selectbox(key="overview_instrument").select("GAD7").run()
    assert not at.exception


def test_empty_database_shows_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{tmp_path / 'empty.db'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "kap-outcomes demo" in at.info[0].value
