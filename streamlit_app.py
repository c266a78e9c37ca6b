"""KAP Outcomes: the Streamlit entry point (page config and navigation only)."""

import streamlit as st

st.set_page_config(page_title="KAP Outcomes", layout="wide")
page = st.navigation([st.Page("dashboard/pages/overview.py", title="Overview", default=True)])
page.run()
