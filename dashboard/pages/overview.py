"""Clinic overview (first version): headline rates from the database, with n and 95% CIs."""

import streamlit as st

from analysis import Settings
from dashboard import data

settings = Settings()
url = data.current_url()
st.title("KAP Outcomes — clinic overview")
if data.frames(url).assessments.empty:
    st.info("No data yet. Load the bundled demo with `kap-outcomes demo`, or import your "
            "clinic's files with `kap-outcomes import FILE`.")
    st.stop()
st.caption("Rates are per treatment course, with Wilson 95% intervals and their n.")
rates = data.rates(url, settings)
instrument = st.selectbox("Instrument", ["PHQ9", "GAD7", "PCL5"], key="overview_instrument")
shown = rates[rates["instrument"] == instrument]
cols = st.columns(3)
for col, outcome, label in zip(cols, ["endpoint_response", "endpoint_remission",
                                      "rapid_response"],
                               ["Response at endpoint", "Remission at endpoint",
                                "Rapid response (≤7 days)"], strict=True):
    row = shown[shown["outcome"] == outcome]
    if row.empty:
        col.metric(label, "–")
        continue
    r = row.iloc[0]
    col.metric(label, f"{r.rate:.0%}", help=f"95% CI {r.ci_low:.0%}–{r.ci_high:.0%}, n = {r.n}",
               border=True)
    col.caption(f"95% CI {r.ci_low:.0%}–{r.ci_high:.0%} · n = {r.n} courses")
st.dataframe(shown, hide_index=True)
