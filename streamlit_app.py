"""KAP Outcomes: the Streamlit entry point (page config, shared filters, navigation)."""

import streamlit as st

from analysis import Settings
from dashboard import components, data

st.set_page_config(page_title="KAP Outcomes", page_icon=":material/monitoring:", layout="wide")
url = data.current_url()
if not data.frames(url).assessments.empty:
    components.sidebar_filters(data.attributes(url, Settings()))
page = st.navigation([
    st.Page("dashboard/pages/overview.py", title="Clinic overview", icon=":material/monitoring:",
            default=True),
    st.Page("dashboard/pages/patient.py", title="Patient trajectory", icon=":material/person:"),
    st.Page("dashboard/pages/signals.py", title="Signals", icon=":material/notifications:"),
    st.Page("dashboard/pages/export.py", title="Export", icon=":material/download:"),
    st.Page("dashboard/pages/data_page.py", title="Data", icon=":material/upload_file:",
            url_path="data"),
    st.Page("dashboard/pages/definitions.py", title="Definitions", icon=":material/menu_book:"),
])
page.run()
