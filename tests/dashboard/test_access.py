"""Access control: each role sees what it should and nothing else (AppTest + the data layer)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis import Settings
from dashboard import data
from dashboard.cli import main
from dashboard.db import make_engine
from dashboard.db.repository import audit_events, save_user
from dashboard.security import AccessDenied, User, hash_password, verify_password

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def clinic_db(tmp_path, monkeypatch):
    db = tmp_path / "clinic.db"
    assert main(["--db", str(db), "demo"]) == 0
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    h = hash_password(PASSWORD)
    save_user(engine, username="dir", role="director", password_hash=h, clinics=("north",))
    save_user(engine, username="doc", role="clinician", password_hash=h,
              clinician_id="clin-NO-1")
    save_user(engine, username="qa", role="quality", password_hash=h)
    save_user(engine, username="root", role="admin", password_hash=h)
    monkeypatch.setenv("KAP_OUTCOMES_DB", url)
    monkeypatch.setenv("KAP_OUTCOMES_MODE", "clinic")
    st.cache_data.clear()
    st.cache_resource.clear()
    return url


def login(username: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    assert at.title[0].value == "KAP Outcomes — sign in" and not at.metric
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def page_files(at: AppTest) -> list[str]:
    """The page scripts registered by st.navigation for this session (AppTest's registry)."""
    return [Path(str(info["script_path"])).stem for info in at._registered_pages.values()]


def test_passwords_are_argon2():
    h = hash_password(PASSWORD)
    assert h.startswith("$argon2id$") and PASSWORD not in h
    assert verify_password(h, PASSWORD) and not verify_password(h, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(ValueError):
        hash_password("short")


def test_clinic_mode_without_auth_shows_nothing(tmp_path, monkeypatch):
    db = tmp_path / "demo.db"
    assert main(["--db", str(db), "demo"]) == 0
    monkeypatch.setenv("KAP_OUTCOMES_DB", f"sqlite:///{db}")
    monkeypatch.setenv("KAP_OUTCOMES_MODE", "clinic")
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert "no authentication is configured" in at.error[0].value
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")
    assert main(["--db", str(db), "serve"]) == 2          # the server refuses to start too


def test_failed_login_shows_no_data_and_is_audited(clinic_db):
    at = login("doc", "wrong password!")
    assert at.error[0].value == "Wrong username or password."
    assert not at.metric and not at.get("plotly_chart")
    events = audit_events(make_engine(clinic_db))
    assert events.iloc[0]["action"] == "login_failed" and events.iloc[0]["actor"] == "doc"
    assert "wrong" not in " ".join(events["detail"].fillna(""))   # never the password


@pytest.mark.parametrize(("user", "pages"), [
    ("dir", ["overview", "caseload", "patient", "signals", "safety", "export", "definitions"]),
    ("doc", ["overview", "caseload", "patient", "signals", "safety", "definitions"]),
    ("qa", ["overview", "safety", "export", "definitions"]),
    ("root", ["overview", "data_page", "admin", "definitions"]),
])
def test_each_role_gets_its_pages(clinic_db, user, pages):
    at = login(user)
    assert at.title[0].value == "Clinic overview" and at.metric   # aggregates for everyone
    assert page_files(at) == pages


def test_clinician_sees_only_own_patients(clinic_db):
    at = login("doc")
    at.switch_page("dashboard/pages/patient.py").run()
    at.text_input(key="patient_query").input("P00").run()
    options = at.selectbox(key="patient_pick_P00").options
    patients = data.patients(clinic_db)
    own = set(patients.loc[patients.clinician_id == "clin-NO-1", "patient_id"])
    assert options and set(options) <= own
    foreign = sorted(set(patients.patient_id) - own)[0]
    at.text_input(key="patient_query").input(foreign).run()       # typing another id
    assert not at.get("plotly_chart") and "No patient id contains" in at.warning[0].value
    at.switch_page("dashboard/pages/signals.py").run()
    shown = set(at.dataframe[0].value["patient_id"]) if at.dataframe else set()
    assert shown <= own


def test_data_layer_refuses_forbidden_patients(clinic_db):
    p = data.patients(clinic_db)
    north = p.loc[p.clinic_id == "north", "patient_id"].iloc[0]
    coast = p.loc[p.clinic_id == "coast", "patient_id"].iloc[0]
    director = User("dir", "director", clinics=("north",))
    assert not data.patient(clinic_db, Settings(), north, director).assessments.empty
    for user, pid in ((director, coast), (User("qa", "quality"), north),
                      (User("root", "admin"), north),
                      (User("doc", "clinician", clinician_id="clin-NO-1"),
                       p.loc[p.clinician_id == "clin-NO-2", "patient_id"].iloc[0])):
        with pytest.raises(AccessDenied):
            data.patient(clinic_db, Settings(), pid, user)
    with pytest.raises(AccessDenied):
        data.patient(clinic_db, Settings(), "no-such-id", director)


def test_quality_cannot_open_patient_pages_directly(clinic_db):
    at = login("qa")
    for page in ("patient", "signals", "data_page", "admin"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"dashboard/pages/{page}.py")
    # and the pages themselves refuse, should one be reached another way
    page = AppTest.from_file(str(APP.parent / "dashboard/pages/patient.py"), default_timeout=60)
    page.session_state["auth_user"] = User("qa", "quality")
    page.session_state["auth_last_seen"] = time.time()
    page.run()
    assert "does not include patient-level pages" in page.error[0].value
    assert not page.get("plotly_chart")


def test_session_expires_and_logout(clinic_db, monkeypatch):
    at = login("dir")
    assert at.metric
    monkeypatch.setenv("KAP_OUTCOMES_SESSION_MINUTES", "0.001")
    time.sleep(0.2)
    at.run()
    assert "expired" in at.warning[0].value and not at.metric
    monkeypatch.setenv("KAP_OUTCOMES_SESSION_MINUTES", "30")
    at = login("dir")
    at.button(key="auth_logout").click().run()
    assert at.title[0].value == "KAP Outcomes — sign in" and not at.metric


def test_admin_reads_the_audit_log(clinic_db):
    at = login("root")
    at.switch_page("dashboard/pages/admin.py").run()
    assert not at.exception
    users = at.dataframe[0].value
    assert set(users["username"]) == {"dir", "doc", "qa", "root"}
    assert "password_hash" not in users.columns
    assert "login" in set(at.dataframe[1].value["action"])


def test_clinician_cannot_reach_exports(clinic_db):
    at = login("doc")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("dashboard/pages/export.py")
    page = AppTest.from_file(str(APP.parent / "dashboard/pages/export.py"), default_timeout=60)
    page.session_state["auth_user"] = User("doc", "clinician", clinician_id="clin-NO-1")
    page.run()
    assert "does not include exports" in page.error[0].value
    assert not page.get("download_button")


def _oidc_app(email: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                          "cookie_secret": "test-cookie-secret", "client_id": "x",
                          "client_secret": "y",
                          "server_metadata_url": "https://idp.invalid/.well-known/openid"}
    at.user["is_logged_in"] = True
    at.user["email"] = email
    return at.run()


def test_oidc_user_with_a_role_gets_in(clinic_db):
    save_user(make_engine(clinic_db), username="ada@clinic.example", role="quality",
              password_hash=None)
    at = _oidc_app("ada@clinic.example")
    assert not at.exception and at.title[0].value == "Clinic overview" and at.metric


def test_oidc_user_without_a_role_sees_nothing(clinic_db):
    at = _oidc_app("stranger@elsewhere.example")
    assert "has not given you a role" in at.error[0].value and not at.metric


def test_signals_by_role_and_workflow_scoped(clinic_db):
    p = data.patients(clinic_db)
    doc = User("doc", "clinician", clinician_id="clin-NO-1")
    director = User("dir", "director", clinics=("north",))
    from dashboard.state import Filters

    mine, _ = data.signals(clinic_db, Settings(), Filters(), doc)
    own = set(p.loc[p.clinician_id == "clin-NO-1", "patient_id"])
    assert set(mine["patient_id"]) <= own
    north, _ = data.signals(clinic_db, Settings(), Filters(), director)
    assert set(north["clinic_id"]) <= {"north"} and len(north) >= len(mine)
    # a clinician cannot act on another clinician's patient's signal (checked in the data layer)
    others = north[~north["patient_id"].isin(own)]
    if len(others):
        with pytest.raises(AccessDenied):
            data.save_signal(clinic_db, row=others.iloc[0], status="resolved", actor="doc",
                             user=doc)
    # quality has no signals page at all (and the page refuses if reached: see above)
    assert "signals" not in page_files(login("qa"))
    # the clinician works their own list in the page; the action is audited under their name
    at = login("doc")
    at.switch_page("dashboard/pages/signals.py").run()
    if at.dataframe:
        at.radio(key="signal_action").set_value("Acknowledge").run()
        at.button(key="signal_save").click().run()
        assert not at.exception
        events = audit_events(make_engine(clinic_db))
        assert ((events["action"] == "signal_acknowledged") & (events["actor"] == "doc")).any()


def test_caseload_by_role(clinic_db):
    p = data.patients(clinic_db)
    doc = User("doc", "clinician", clinician_id="clin-NO-1")
    director = User("dir", "director", clinics=("north",))
    mine = data.caseload(clinic_db, Settings(), doc)
    assert set(mine["patient_id"]) == set(p.loc[p.clinician_id == "clin-NO-1", "patient_id"])
    north = data.caseload(clinic_db, Settings(), director)
    assert set(north["clinic_id"]) == {"north"} and len(north) > len(mine)
    assert data.caseload(clinic_db, Settings(), User("qa", "quality")).empty
    at = login("doc")
    at.switch_page("dashboard/pages/caseload.py").run()
    assert not at.exception and at.title[0].value == "Caseload"
    current = at.dataframe[0].value                      # current patients by default
    assert set(current["patient_id"]) == set(
        mine.loc[mine["days_since_contact"] <= 90, "patient_id"])
    at.toggle(key="caseload_all").set_value(True).run()
    table = at.dataframe[0].value
    assert set(table["patient_id"]) == set(mine["patient_id"])
    assert table["PHQ-9"].str.match(r"^(—|\d+( \([+-]\d+%\))?)$").all()   # in words
    assert table["trajectory"].iloc[0] == f"/patient?patient={table['patient_id'].iloc[0]}"
    at.toggle(key="caseload_due").set_value(True).run()
    due = at.dataframe[0].value if at.dataframe else table.iloc[0:0]
    assert len(due) <= len(table)
    events = audit_events(make_engine(clinic_db))
    assert "view_caseload" in set(events["action"])
    assert "caseload" not in page_files(login("qa"))


def test_patient_progress_report_for_the_clinician_only(clinic_db):
    p = data.patients(clinic_db)
    own = p.loc[p.clinician_id == "clin-NO-1", "patient_id"].iloc[0]
    other = p.loc[p.clinician_id == "clin-NO-2", "patient_id"].iloc[0]
    doc = User("doc", "clinician", clinician_id="clin-NO-1")
    pdf = data.patient_report(clinic_db, Settings(), own, doc)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    with pytest.raises(AccessDenied):
        data.patient_report(clinic_db, Settings(), other, doc)
    with pytest.raises(AccessDenied):   # a director sees the patient but does not hand it out
        data.patient_report(clinic_db, Settings(), own, User("dir", "director",
                                                             clinics=("north",)))
    at = login("doc")
    at.switch_page("dashboard/pages/patient.py").run()
    at.text_input(key="patient_query").input(own).run()
    at.button(key="patient_report").click().run()
    assert not at.exception
    assert at.download_button(key="patient_report_download").label.startswith("Download")
    events = audit_events(make_engine(clinic_db))
    assert ((events["action"] == "patient_report") & (events["target_id"] == own)).any()
    at = login("dir")
    at.switch_page("dashboard/pages/patient.py").run()
    at.text_input(key="patient_query").input(own).run()
    assert not [b for b in at.button if b.key == "patient_report"]


def test_patient_report_text_has_only_that_patient():
    import pandas as pd

    from analysis import align
    from dashboard.exports.patient_report import patient_report_html
    from tests.analysis.helpers import scores, sessions

    al = align(scores((-1, 18), (10, 8), patient="P7"), sessions((0, "dosing", None),
                                                                patient="P7"))
    page = patient_report_html("P7", al.assessments, al.sessions, al.courses,
                               settings=Settings(), clinic_name="North Clinic")
    assert "North Clinic: your progress" in page and "P7" in page
    assert "went from 18 before treatment to 8" in page and "counts as a response" in page
    assert "percentile" not in page                      # no other patients' figures
    assert isinstance(pd.Timestamp.now(), pd.Timestamp)


def test_serious_event_list_by_role(clinic_db):
    """The severe/serious event list: a director sees their clinics' patients with links, a
    clinician their own, quality the same events without patient, day or time; the admin
    account has no Safety page. Every listing with patients is audited."""
    settings = Settings()
    from dashboard.state import Filters

    everyone = data.safety(clinic_db, settings, Filters()).serious
    director = data.serious_events(clinic_db, settings, Filters(), User("dir", "director",
                                                                        ("north",)))
    clinician = data.serious_events(clinic_db, settings, Filters(),
                                    User("doc", "clinician", (), "clin-NO-1"))
    quality = data.serious_events(clinic_db, settings, Filters(), User("qa", "quality"))
    assert len(everyone) > len(director) > 0
    assert set(director["patient_id"]) <= set(_patients_of(clinic_db, clinic="north"))
    assert set(clinician["patient_id"]) <= set(_patients_of(clinic_db, clinician="clin-NO-1"))
    assert len(quality) == len(everyone)
    assert not {"patient_id", "session_at", "course_id", "trajectory"} & set(quality.columns)
    at = login("dir")
    at.switch_page("dashboard/pages/safety.py").run()
    assert not at.exception and at.title[0].value == "Session safety"
    events = audit_events(make_engine(clinic_db))
    assert "view_serious_events" in events["action"].tolist()
    at = login("root")
    assert "safety" not in page_files(at)


def _patients_of(url: str, *, clinic: str | None = None, clinician: str | None = None) -> list:
    p = data.patients(url)
    if clinic:
        p = p[p["clinic_id"] == clinic]
    if clinician:
        p = p[p["clinician_id"] == clinician]
    return p["patient_id"].tolist()
