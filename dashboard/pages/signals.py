"""Signals for clinicians: who is off track, whose improvement is fading, who needs a safety review."""

import streamlit as st

from analysis import Settings
from dashboard import auth, components, data, security, state

settings = Settings()
url = data.current_url()
filters = state.get_filters()
user = auth.current_user()
st.title("Signals")
if not security.can_see_patient_pages(user):
    st.error("Your role does not include patient-level pages.")
    st.stop()
if data.frames(url).assessments.empty:
    components.empty_state()
    st.stop()
st.caption("From each patient's latest scores. Safety first (PHQ-9 item 9 ≥ 2 high priority, "
           "≥ 1 review); then fading responses (a reliable rise from the best score since the "
           "first dose, or one score no longer in response); then courses off track in induction "
           "(above the 90th percentile of patients who started in the same severity band). "
           "Use the sidebar's clinic and clinician filters for your own patients.")
sig = data.signals(url, settings, filters, user)
counts = sig["kind"].value_counts()
cols = st.columns(4)
for col, (kind, label) in zip(cols, [("safety_high_priority", "Safety: high priority"),
                                     ("safety_review", "Safety: review"),
                                     ("fading", "Fading response"),
                                     ("off_track", "Off track")], strict=True):
    col.metric(label, int(counts.get(kind, 0)), border=True)
if sig.empty:
    st.success("No signals for the patients in view.")
    st.stop()
st.dataframe(
    sig[["kind", "patient_id", "instrument", "day", "reason", "clinician_id", "clinic_id",
         "trajectory"]],
    hide_index=True, key="signals_table",
    column_config={
        "kind": st.column_config.TextColumn("signal"),
        "day": st.column_config.NumberColumn("day of course", format="%.0f"),
        "trajectory": st.column_config.LinkColumn("open", display_text="trajectory →"),
    })
