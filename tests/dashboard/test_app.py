"""The app renders on the sample data (Streamlit AppTest)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def test_overview_renders_with_rates():
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.startswith("KAP Outcomes")
    labels = [m.label for m in at.metric]
    assert "Response at endpoint" in labels
    assert all("%" in m.value for m in at.metric)
    at.selectbox(key="overview_instrument").select("GAD7").run()
    assert not at.exception
