"""Definitions: the settings in force and what every outcome means, with sources."""

import pandas as pd
import streamlit as st

from analysis import INSTRUMENTS, Settings
from analysis.outcomes import COMPLETENESS_REASONS

settings = Settings()
st.title("Definitions")
st.markdown(
    "Every number in KAP Outcomes follows from these rules. They are the defaults of one "
    "settings object; each figure states the ones it depends on.")
st.subheader("Settings in force")
st.dataframe(pd.DataFrame(settings.as_rows(), columns=["setting", "value", "meaning"]),
             hide_index=True, key="definitions_settings")
st.subheader("Outcomes in plain words")
st.markdown("""
- **Course**: a run of dosing sessions; a new one starts after more than 90 days without a dose.
  Day 0 is the first dose.
- **Baseline**: the latest score in the 30 days up to the first dose.
- **Response**: the total is at least 50% below baseline. **Remission**: below the instrument's
  remission cut-off.
- **Rapid response**: a response within 7 days of the first dose (unknown, not "no", when nobody
  measured in that week).
- **Endpoint**: the last score from the end of induction to 14 days later, before any booster.
- **Reliable improvement / deterioration**: a change of at least the reliable-change points
  (Jacobson & Truax 1991). **Clinically significant improvement**: reliable improvement from a
  baseline in the clinical range to an endpoint below it.
- **Durability**: days from the first response until two scores in a row are no longer a
  response; patients still responding are counted as censored (Kaplan–Meier).
- **Time to first booster**: days from the end of induction to the first booster (Kaplan–Meier).
- **Rates** carry Wilson 95% intervals and their n; aggregate exports hide any cell of fewer than
  11 patients.
""")
st.subheader("Instruments")
st.dataframe(pd.DataFrame([{
    "instrument": spec.name, "items": spec.n_items, "range": f"0–{spec.total_max}",
    "severity bands": ", ".join(f"{b.low}–{b.high} {b.label}" for b in spec.severity_bands)
    or "none (PCL-5)",
    "remission below": dict(settings.remission_below)[code],
    "caseness at": dict(settings.caseness_at)[code],
    "reliable change (points)": dict(settings.reliable_change_points)[code],
    "sources": "; ".join(spec.references)} for code, spec in INSTRUMENTS.items()]),
    hide_index=True, key="definitions_instruments")
st.subheader("Why an outcome can be missing")
st.dataframe(pd.DataFrame(list(COMPLETENESS_REASONS.items()), columns=["reason", "meaning"]),
             hide_index=True, key="definitions_reasons")
