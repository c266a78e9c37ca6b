"""KAP Outcomes: the Streamlit entry point (page config, sign-in, shared filters, navigation)."""

from pathlib import Path
from urllib.parse import urlparse

import streamlit as st

from dashboard import auth, components, data, security
from dashboard.config import settings_in_force
from dashboard.labels import md

# a local icon: a material-symbol page icon makes the browser fetch it from an outside font host,
# and an app holding patient data makes no request to any host but its own
ICON = Path(__file__).resolve().parent / "dashboard" / "assets" / "icon.png"
st.set_page_config(page_title="KAP Outcomes", page_icon=str(ICON), layout="wide")
url = data.current_url()
if auth.mode() == "clinic" and not auth.signed_in():
    # a deep link (/patient?patient=P1) opened while signed out: open it after sign-in
    page_path = urlparse(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
    auth.remember_requested_page(page_path, st.query_params.to_dict())
user = auth.require_user(data.engine(url))
if auth.mode() == "clinic":
    with st.sidebar:
        st.caption(f"Signed in as **{md(user.username)}** ({user.role})")
        st.button("Sign out", on_click=auth.logout, key="auth_logout")
if "assessments" in data.stored(url):     # an indexed probe: no records are loaded here
    components.sidebar_filters(data.attributes(url, settings_in_force()))
pages = [st.Page("dashboard/pages/overview.py", title="Clinic overview",
                 icon=":material/monitoring:", default=True)]
if security.can_see_patient_pages(user):
    pages += [st.Page("dashboard/pages/caseload.py", title="Caseload",
                      icon=":material/groups:"),
              st.Page("dashboard/pages/patient.py", title="Patient trajectory",
                      icon=":material/person:"),
              st.Page("dashboard/pages/signals.py", title="Signals",
                      icon=":material/notifications:")]
if security.can_see_safety(user):
    pages.append(st.Page("dashboard/pages/safety.py", title="Session safety",
                         icon=":material/health_and_safety:", url_path="safety"))
if security.can_export(user):
    pages.append(st.Page("dashboard/pages/export.py", title="Export", icon=":material/download:"))
if security.can_import(user):
    pages.append(st.Page("dashboard/pages/data_page.py", title="Data",
                         icon=":material/upload_file:", url_path="data"))
if security.can_admin(user):
    pages.append(st.Page("dashboard/pages/admin.py", title="Admin",
                         icon=":material/admin_panel_settings:"))
pages.append(st.Page("dashboard/pages/definitions.py", title="Definitions",
                     icon=":material/menu_book:"))
navigation = st.navigation(pages)
components.rebuild_banner(url, settings_in_force())
next_page = st.session_state.pop("auth_next_page", None)
if next_page:
    target = next((p for p in pages if p.url_path == next_page), None)
    if target is not None and target.url_path:
        st.switch_page(target, query_params=st.query_params.to_dict())
navigation.run()
