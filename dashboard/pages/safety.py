"""Session safety for directors: "is it safe the way we give it?" beside "does it work?".

Every figure comes from one :class:`dashboard.views.SafetyView` (small cells pooled and
withheld there); the benefit-beside-risk table puts the breakdown's response cells next to the
Safety view's own cells. This page only lays them out.
"""

import pandas as pd
import streamlit as st

from analysis.safety import SAFETY_OUTCOMES
from analysis.suppression import WITHHELD_FOOTNOTE
from dashboard import auth, charts, components, data, security, state, views
from dashboard.config import settings_in_force
from dashboard.exports import tables
from dashboard.labels import (
    EVENT_LABELS,
    SAFETY_SHORT,
    breakdown_label,
    instrument_name,
    interval_label,
    md,
    safety_outcome_label,
)

settings = settings_in_force()
url = data.current_url()
filters = state.get_filters()
user = auth.current_user()
st.title("Session safety")
if not security.can_see_safety(user):
    st.error("Your role does not include the Safety page.")
    st.stop()
if "sessions" not in data.stored(url):
    components.empty_state()
    st.stop()
view = data.safety(url, settings, filters)
labels = {o: safety_outcome_label(o, settings) for o in SAFETY_OUTCOMES}
ci = interval_label(settings.confidence_level)
st.caption(f"{md(filters.describe())} · dosing sessions dated in the period: {view.n_sessions} "
           f"sessions of {view.n_patients} patients ({view.n_courses} courses) · shares of "
           f"sessions with Wilson {ci}s on the effective number of sessions (sessions of one "
           "patient are not independent) · groups and counts of fewer than "
           f"{settings.min_cell_size} patients are withheld")
if view.n_sessions == 0:
    st.info("No dosing sessions in this view.")
    st.stop()
if "monitoring" not in data.stored(url):
    st.warning("No session monitoring has been imported yet: every session counts as "
               "incomplete and no vital-sign flag can be told. Import the monitoring and "
               "adverse-event files on the Data page (formats on the Definitions page).")


def rate_card(container, outcome: str, label: str) -> None:
    components.rate_metric(container, view.headline, outcome, label)


cards = st.columns(4)
rate_card(cards[0], "bp_excursion", "BP excursion")
rate_card(cards[1], "any_adverse_event", "Any adverse event")
rate_card(cards[2], "severe_or_serious", "Severe or serious event")
rate_card(cards[3], "monitoring_complete", "Monitoring complete")

overview, groups, trend, monitoring, benefit, serious = st.tabs(
    ["All flags", "By route, dose, session", "Trend", "Monitoring & discharge",
     "Benefit beside risk", f"Severe or serious events ({view.n_serious})"])
with overview:
    st.plotly_chart(charts.safety_rates_figure(
        view.headline, outcomes=SAFETY_OUTCOMES, labels=SAFETY_SHORT,
        title="Share of dosing sessions with each flag"), key="safety_all")
    rows = []
    for o in SAFETY_OUTCOMES:
        s_cell, c_cell = view.headline.cell(o), view.courses.cell(o)
        rows.append({"Flag": labels[o],
                     "Sessions": components.rate_text(s_cell, view.headline),
                     "Courses (any session)": components.rate_text(c_cell, view.courses)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("A course has a flag when any of its sessions had it; its monitoring is "
               "complete when every session's was. " + WITHHELD_FOOTNOTE(settings.min_cell_size))
with groups:
    by = st.segmented_control("Break down by", list(view.by),
                              default="route", key="safety_by", format_func=breakdown_label)
    by = by or "route"
    outcome = st.selectbox("Flag", SAFETY_OUTCOMES, format_func=labels.get, key="safety_flag")
    st.plotly_chart(charts.rates_figure(view.by[by], outcome=outcome,
                                        title=f"{labels[outcome]} by {breakdown_label(by)}"),
                    key="safety_by_chart")
    if by == "dose_band":
        st.caption("Dose bands are per route, in mg/kg where the session gives the patient's "
                   "weight and in mg where it does not (esketamine is dosed in mg).")
with trend:
    outcome_t = st.selectbox("Flag", SAFETY_OUTCOMES, format_func=labels.get,
                             key="safety_trend_flag")
    trend_table, period = views.safety_trend(view, outcome_t)
    st.plotly_chart(charts.safety_trend_figure(trend_table, outcome=outcome_t,
                                               title=f"{labels[outcome_t]}, by {period}"),
                    key="safety_trend_chart")
    if period == "quarter":
        st.caption("By quarter: fewer than half of the months had enough patients with and "
                   "without this flag to be shown.")
with monitoring:
    left, right = st.columns(2)
    left.subheader("Why a session's monitoring is incomplete")
    def counts(frame: pd.DataFrame, column: str) -> list[str]:
        return [components.count_text(v, w, settings.min_cell_size)
                for v, w in zip(frame[column], frame["withheld"], strict=True)]

    reasons = view.reasons.assign(sessions=lambda t: counts(t, "sessions"),
                                  patients=lambda t: counts(t, "patients"))
    left.dataframe(reasons.rename(columns={"incomplete_reason": "Reason",
                                           "sessions": "Sessions", "patients": "Patients"})
                   [["Reason", "Sessions", "Patients"]], hide_index=True, width="stretch")
    left.caption(f"Complete: a pre-dose blood pressure, one at least "
                 f"{settings.post_dose_check_minutes:g} minutes after the dose, and discharge "
                 "no earlier than " + ", ".join(f"{r} {m:g} min" for r, m in
                                                settings.discharge_minutes) + ".")
    right.subheader("Minutes to discharge, by route")
    d = view.discharge
    right.dataframe(pd.DataFrame({
        "Route": d["route"],
        "Sessions": counts(d, "sessions"), "Median": counts(d, "median"),
        "Quartiles": ["withheld" if w else f"{a:.0f}–{b:.0f}"
                      for a, b, w in zip(d["q1"], d["q3"], d["withheld"], strict=True)]}),
        hide_index=True, width="stretch")
with benefit:
    by_b = st.segmented_control("Side by side, by", ["route", "dose_band"], default="route",
                                key="safety_benefit_by", format_func=breakdown_label) or "route"
    br = data.benefit_risk(url, settings, filters, by_b)
    name = instrument_name(filters.instrument)

    st.dataframe(tables.benefit_risk_table(
        br, group=breakdown_label(by_b).capitalize(),
        response=f"Response at endpoint ({name}, per course)",
        outcomes={o: f"{labels[o]} (per session)"
                  for o in ("any_adverse_event", "bp_excursion", "sedated")}),
        hide_index=True, width="stretch")
    st.caption(f"Each cell as its own page shows it: response from the overview's breakdown "
               f"(courses by their first dose), safety from this page (sessions); {ci}. "
               "Observational: routes and doses are chosen for different patients, so the "
               "columns describe, they do not compare treatments.")
with serious:
    ev = data.serious_events(url, settings, filters, user)
    if ev.empty:
        st.success("No severe or serious adverse events in this view.")
    else:
        shown = pd.DataFrame({
            **({"Patient": ev["trajectory"]} if "trajectory" in ev.columns else {}),
            **({"Session": ev["session_at"].dt.strftime("%Y-%m-%d %H:%M")}
               if "session_at" in ev.columns else {"Month": ev["month"]}),
            "Event": ev["event"].map(lambda e: EVENT_LABELS.get(e, e)),
            "Severity": ev["severity"], "Serious": ev["serious"].map({True: "yes", False: "no"}),
            "Resolved before discharge": ev["resolved_before_discharge"].map(
                {True: "yes", False: "no"}).fillna("not recorded"),
            "Route": ev["route"], "Dose band": ev["dose_band"],
            "Session in course": ev["session_number"].astype("Int64")})
        config = {"Patient": st.column_config.LinkColumn(
            "Patient", display_text=r"/patient\?patient=(.*)")}
        shown = components.page_of(shown, "safety_serious_page", "events")
        st.dataframe(shown, hide_index=True, width="stretch", column_config=config)
        st.caption("Listed in full for the clinic's own safety review (never withheld here); "
                   "exports and the report give counts, withheld like every aggregate.")
        if "patient_id" in ev.columns:
            data.audit(url, actor=auth.actor(), action="view_serious_events",
                       target_kind="safety", detail=f"{len(ev)} events listed")
components.definitions_note(settings, "tachycardia_above", "desaturation_below",
                            "sedated_moaas_at_most", "marked_dissociation_cadss_above",
                            "min_cell_size")
