"""Clinic overview (placeholder until the dashboard issue lands): headline rates on sample data."""

import streamlit as st

from analysis import Settings
from dashboard import data

settings = Settings()
st.title("KAP Outcomes — clinic overview")
st.caption("Bundled synthetic sample data (no real patients). Rates are per treatment course, "
           "with Wilson 95% intervals and their n.")
rates = data.sample_rates(settings)
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
