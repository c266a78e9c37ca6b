"""Patient trajectory for clinicians: scores, sessions, thresholds, item 9, expected course."""

import streamlit as st

from analysis import Settings
from dashboard import auth, charts, components, data, security

settings = Settings()
url = data.current_url()
user = auth.current_user()
if not security.can_see_patient_pages(user):
    st.error("Your role does not include patient-level pages.")
    st.stop()
st.title("Patient trajectory")
if data.patient_ids(url).empty:
    components.empty_state()
    st.stop()
requested = st.query_params.get("patient", "")
query = st.text_input("Find a patient", value=requested, key="patient_query",
                      placeholder="Type a patient id or part of it")
patient_id = data.exact_patient(url, query, user)
if patient_id is None and query:
    matches = data.find_patients(url, query, user)
    if not matches:
        st.warning(f"No patient id contains {query!r}.")
    else:
        # keyed by the query so a new search starts a fresh choice
        patient_id = st.selectbox(f"{len(matches)} matching patient(s)", matches, index=None,
                                  key=f"patient_pick_{query}", placeholder="Choose one")
if patient_id is None:
    st.info("Choose a patient to see their scores, sessions and per-course outcomes.")
    st.stop()
st.query_params["patient"] = patient_id
actor = auth.actor()
try:
    view = data.patient(url, settings, patient_id, user)
except security.AccessDenied:
    data.audit(url, actor=actor, action="view_patient_denied", target_kind="patient",
               target_id=patient_id)
    st.error("No patient with that id is available to you.")
    st.stop()
data.audit(url, actor=actor, action="view_patient", target_kind="patient", target_id=patient_id)
if view.assessments.empty:
    st.warning("No scores recorded for this patient yet.")
flags = view.assessments[view.assessments["instrument"] == "PHQ9"].sort_values("administered_at")
if not flags.empty and "item_9" in flags.columns:
    last9 = flags["item_9"].dropna().tail(1)
    if not last9.empty and last9.iloc[0] >= 2:
        st.error(f"PHQ-9 item 9 = {int(last9.iloc[0])} at the latest assessment: high priority "
                 "review of suicidal thoughts.", icon=":material/warning:")
    elif not last9.empty and last9.iloc[0] >= 1:
        st.warning(f"PHQ-9 item 9 = {int(last9.iloc[0])} at the latest assessment: review.",
                   icon=":material/warning:")
st.plotly_chart(charts.patient_figure(view.assessments, view.sessions,
                                      reliable_change=dict(settings.reliable_change_points),
                                      expected=view.expected), key="patient_timeline")
st.caption("Shaded: severity bands. Dashed: baseline; dotted: response (−50%) and reliable "
           "change thresholds. Grey band: the clinic's 10th–90th percentile for patients who "
           "started in the same severity band (shown when at least 20 such courses exist).")
st.subheader("Per-course outcomes")
components.outcome_table(view.outcomes)
