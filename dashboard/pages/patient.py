"""Patient trajectory for clinicians: scores, sessions, thresholds, item 9, expected course."""

import streamlit as st

from analysis import Settings
from dashboard import auth, charts, components, data, security
from dashboard.labels import md

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
if patient_id is None and data.hidden_patient(url, query, user):
    data.audit(url, actor=auth.actor(), action="view_patient_denied", target_kind="patient",
               target_id=query.strip())
if patient_id is None and query:
    matches = data.find_patients(url, query, user)
    if not matches:
        st.warning(f"No patient id contains {md(repr(query))}.")
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
if not data.audit(url, actor=actor, action="view_patient", target_kind="patient",
                  target_id=patient_id):
    st.error("The audit log could not be written just now (the database is busy, perhaps with "
             "an import), so the patient is not shown. Try again in a minute.")
    st.stop()
if view.assessments.empty:
    st.warning("No scores recorded for this patient yet.")
now = data.as_of()
patient_signals = data.patient_signals(url, settings, patient_id, user)
for sig in patient_signals.itertuples():
    when = f"{sig.score_at:%Y-%m-%d}, {sig.days_ago} days ago"
    status = "" if sig.status == "open" else f" · {sig.status}" + (
        f" (assigned to {sig.assigned_to})" if isinstance(sig.assigned_to, str) else "")
    text = f"**{md(sig.label)}** ({md(when)}){md(status)}: {md(sig.reason)}"
    if sig.priority <= 1:
        st.error(text, icon=":material/warning:")
    else:
        st.warning(text, icon=":material/notifications:")
st.plotly_chart(charts.patient_figure(view.assessments, view.sessions,
                                      reliable_change=dict(settings.reliable_change_points),
                                      expected=view.expected), key="patient_timeline")
st.caption("Shaded: severity bands. Dashed: baseline; dotted: response (−50%) and reliable "
           "change thresholds. Grey band (induction): the 10th–90th percentile of other "
           "patients' scores at that point who started at the same baseline (quantile "
           f"regression; shown where at least {settings.expected_min_courses} other courses "
           "give that history).")
st.subheader("Per-course outcomes")
components.outcome_table(view.outcomes)
