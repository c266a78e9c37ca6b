"""Patient trajectory for clinicians: scores, sessions, thresholds, item 9, expected course."""

import pandas as pd
import streamlit as st

from analysis.signals import SAFETY_KINDS
from dashboard import auth, charts, components, data, security, views
from dashboard.config import settings_in_force
from dashboard.labels import EVENT_LABELS, md

settings = settings_in_force()
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
safety = data.patient_safety(url, settings, patient_id, user)
now = data.as_of()
patient_signals = data.patient_signals(url, settings, patient_id, user)
header = views.patient_header(patient_id, view.profile, view.courses, view.assessments,
                              view.sessions, settings=settings, as_of=now,
                              open_signals=len(patient_signals))
st.subheader(f"{md(patient_id)} · {md(header.course)}")
top = st.columns(4)
top[0].markdown(f"**Clinic** {md(header.clinic)}  \n**Clinician** {md(header.clinician)}")
top[1].markdown(f"**Indication** {md(header.indication)}  \n**Route** {md(header.route)}")
top[2].markdown(f"**Phase** {md(header.phase)}  \n**Last contact** {md(header.last_contact)}")
top[3].markdown(f"**Next score due** {md(header.next_due)}  \n"
                f"**Open signals** {header.open_signals}")
for sig in patient_signals.itertuples():
    when = f"{sig.score_at:%Y-%m-%d}, {sig.days_ago} days ago"
    status = "" if sig.status == "open" else f" · {sig.status}" + (
        f" (assigned to {sig.assigned_to})" if isinstance(sig.assigned_to, str) else "")
    text = f"**{md(sig.label)}** ({md(when)}){md(status)}: {md(sig.reason)}"
    if sig.kind in SAFETY_KINDS:
        st.error(text, icon=":material/warning:")
    else:
        st.warning(text, icon=":material/notifications:")
ordered = view.courses.sort_values("course_number")
choices = [f"Course {int(c.course_number)}, days since its first dose"
           for c in ordered.itertuples()] + ["All courses, by date"]
# the latest course first: it fills the width (at phone width too); all courses on request
shown = st.selectbox("Show", choices, index=max(len(choices) - 2, 0),
                     key=f"patient_course_{patient_id}")
day_zero, x_range = None, None
if shown != choices[-1]:
    number = int(shown.split()[1].rstrip(","))
    course = ordered[ordered["course_number"] == number].iloc[0]
    day_zero = course["first_dose_at"]
    x_range = (-settings.baseline_window_days - 2, max(float(course["last_contact_day"]), 28) + 5)
st.plotly_chart(charts.patient_figure(view.assessments, view.sessions,
                                      reliable_change=dict(settings.reliable_change_points),
                                      expected=view.expected, courses=view.courses,
                                      day_zero=day_zero, x_range=x_range,
                                      safety=safety.sessions),
                key="patient_timeline")
st.caption("Each course is its own line with its own baseline (dashed), response (−50%) and "
           "reliable-change (dotted) marks; hollow points are scores outside any course (intake "
           "forms, scores with no session). Shaded: severity bands. Vertical lines: sessions "
           "(solid dosing, dashed booster, dotted integration, dash-dot preparation; route on "
           "hover); an orange × marks a dosing session with a safety flag or an adverse event "
           "(what happened on hover). Grey band (induction): the 10th–90th percentile of other patients' scores "
           "at that point who started at the same baseline (shown where at least "
           f"{settings.expected_min_courses} other courses give that history).")
for line in views.course_explanations(view.courses, view.sessions, settings):
    st.caption(md(line))
st.subheader("Dosing sessions: vital signs and events")
if safety.sessions.empty:
    st.info("No dosing session yet.")
else:
    ss = safety.sessions

    def flag(v) -> str:
        return "–" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else (
            "yes" if bool(v) else "no")

    rows = pd.DataFrame({
        "Session": ss["session_at"].dt.strftime("%Y-%m-%d %H:%M"),
        "Course": ss["course_id"], "No.": ss["session_number"].astype("Int64"),
        "Route": ss["route"], "Dose (mg)": ss["dose_mg"],
        "Pre-dose BP": [f"{a:.0f}/{b:.0f}" if pd.notna(a) and pd.notna(b) else "–"
                        for a, b in zip(ss["pre_systolic"], ss["pre_diastolic"], strict=True)],
        "Peak BP": [f"{a:.0f}/{b:.0f}" if pd.notna(a) and pd.notna(b) else "–"
                    for a, b in zip(ss["peak_systolic"], ss["peak_diastolic"], strict=True)],
        "Excursion": ss["bp_excursion"].map(flag), "Sedated": ss["sedated"].map(flag),
        "Peak dissociation": [f"{v:g} ({k})" if pd.notna(v) else "–"
                              for v, k in zip(ss["peak_dissociation"],
                                              ss["dissociation_scale"], strict=True)],
        "Events": ss["adverse_events"],
        "Discharge (min)": ss["minutes_to_discharge"],
        "Monitoring": [("complete" if c else r) for c, r in
                       zip(ss["monitoring_complete"], ss["incomplete_reason"], strict=True)],
    })
    st.dataframe(rows, hide_index=True, key="patient_sessions")
    labels = [f"{t:%Y-%m-%d %H:%M} · {r or ''} · session {int(n) if pd.notna(n) else '?'}"
              for t, r, n in zip(ss["session_at"], ss["route"], ss["session_number"],
                                 strict=True)]
    pick = st.selectbox("Session detail", range(len(ss)), index=len(ss) - 1,
                        format_func=labels.__getitem__, key=f"patient_session_{patient_id}")
    one = ss.iloc[pick]
    readings = safety.readings[safety.readings["session_at"] == one["session_at"]]
    events = safety.events[safety.events["session_at"] == one["session_at"]]
    if readings.empty:
        st.info("No monitoring recorded for this session.")
    else:
        st.plotly_chart(charts.vitals_figure(
            readings, one, excursion_at=(settings.excursion_systolic_at,
                                         settings.excursion_diastolic_at),
            title=f"Session of {labels[pick]}"), key="patient_vitals")
    said = charts.session_flag_text(one)
    st.caption(f"Flags: {md(said) if said else 'none'} · monitoring "
               f"{'complete' if one['monitoring_complete'] else md(one['incomplete_reason'])}")
    for e in events.itertuples():
        text = (f"{EVENT_LABELS.get(e.event, e.event)}, {e.severity}"
                + (", serious" if e.serious else "")
                + ("" if pd.isna(e.resolved_before_discharge) else
                   (", resolved before discharge" if e.resolved_before_discharge
                    else ", not resolved before discharge")))
        (st.error if e.serious or e.severity == "severe" else st.warning)(md(text))
    if len(ss) >= 3:
        st.plotly_chart(charts.tolerance_figure(ss, title="Across sessions: dissociation and "
                                                          "blood-pressure rise"),
                        key="patient_tolerance")
        for t in safety.tolerance.itertuples():
            if pd.notna(t.dissociation_slope):
                st.caption(md(f"{t.course_id}: peak dissociation {t.dissociation_first:g}"
                              f" → {t.dissociation_last:g} ({t.dissociation_scale}), "
                              f"{t.dissociation_slope:+.1f} per session (Theil–Sen)"))
st.subheader("Per-course outcomes")
table = views.outcome_rows(view.outcomes, view.completeness)
if table.empty:
    st.info("No treatment course yet: scores are shown above as they came.")
else:
    st.dataframe(table, hide_index=True, key="patient_outcomes")
if security.can_print_patient_report(user):
    if st.button("Prepare a progress report for the patient (PDF)", key="patient_report"):
        pdf = data.patient_report(url, settings, patient_id, user)
        data.audit(url, actor=actor, action="patient_report", target_kind="patient",
                   target_id=patient_id)
        st.session_state["patient_report_pdf"] = (patient_id, pdf)
    ready = st.session_state.get("patient_report_pdf")
    if ready and ready[0] == patient_id:
        st.download_button("Download the progress report", ready[1],
                           file_name="progress-report.pdf", mime="application/pdf",
                           key="patient_report_download")
