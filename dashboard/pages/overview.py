"""Clinic overview for directors: headline rates, onset, durability, breakdowns, attrition."""

import streamlit as st

from analysis import Settings
from dashboard import auth, charts, components, data, security, state

settings = Settings()
url = data.current_url()
filters = state.get_filters()
st.title("Clinic overview")
if data.frames(url).assessments.empty:
    components.empty_state()
    st.stop()
view = data.overview(url, settings, filters)
st.caption(f"{filters.describe()} · {view.n_courses} courses of {view.n_patients} patients · "
           "rates per course with Wilson 95% intervals")

cards = st.columns(5)
cards[0].metric("Active patients", view.n_active, border=True,
                help="Seen (a session or a score) in the last 90 days of the data; "
                     f"{view.n_patients} patients in all have a course in the filtered data")
cards[1].metric("Courses started", view.n_courses, border=True)
components.rate_metric(cards[2], view.rates, "endpoint_response", "Response")
components.rate_metric(cards[3], view.rates, "endpoint_remission", "Remission")
components.rate_metric(cards[4], view.rates, "rapid_response", "Rapid response")

counts = data.signal_counts(url, settings, filters)
label = (f"Signals now: {counts.get('safety', 0)} safety review(s), "
         f"{counts.get('fading', 0)} fading response(s), "
         f"{counts.get('off_track', 0)} off track in induction")
if security.can_see_patient_pages(auth.current_user()):
    st.page_link("dashboard/pages/signals.py", icon=":material/notifications:", label=label)
else:
    st.caption(label)

onset, durability, breakdowns, trends, attrition = st.tabs(
    ["Rapid onset", "Durability & boosters", "Breakdowns", "Trend", "Attrition"])
with onset:
    st.plotly_chart(charts.trajectory_figure(
        view.trajectories, value="pct_change",
        title="Change from baseline by days since first dose (all instruments)"),
        key="overview_trajectory")
    st.plotly_chart(charts.weekly_response_figure(view.weekly, instrument=filters.instrument),
                    key="overview_weekly")
    components.definitions_note(settings, "response_reduction", "rapid_window_days",
                                "trajectory_bins")
with durability:
    left, right = st.columns(2)
    if view.durability is not None:
        left.plotly_chart(charts.km_figure(view.durability, title="Still in response",
                                           xaxis_title="Days since first response"),
                          key="overview_km_durability")
    else:
        left.info("No responders yet: durability is not estimable.")
    if view.boosters is not None:
        right.plotly_chart(charts.km_figure(view.boosters, title="Not yet boosted",
                                            xaxis_title="Days since induction end",
                                            yaxis_title="Share without a booster"),
                           key="overview_km_boosters")
    components.definitions_note(settings, "relapse_confirmations", "endpoint_window_days")
with breakdowns:
    by = st.segmented_control("Break down by", ["route", "indication", "clinic_id",
                                                "clinician_id", "course_type"],
                              default="route", key="overview_breakdown",
                              format_func=lambda v: v.replace("_id", "").replace("_", " "))
    by = by or "route"
    parts = data.breakdown(url, settings, filters, by)
    st.plotly_chart(charts.rates_figure(parts.rates, by=by, outcome="endpoint_response",
                                        title=f"Response at endpoint by {by}",
                                        suppress_below=settings.min_cell_size),
                    key="overview_rates_by")
    if parts.durability is not None:
        st.plotly_chart(charts.km_figure(parts.durability, title=f"Still in response, by {by}",
                                         xaxis_title="Days since first response"),
                        key="overview_km_by")
with trends:
    st.plotly_chart(charts.trend_figure(view.monthly, outcome="endpoint_response",
                                        title="Response at endpoint by month of course start"),
                    key="overview_trend")
with attrition:
    st.plotly_chart(charts.funnel_figure(view.funnel), key="overview_funnel")
    components.definitions_note(settings, "min_induction_doses_completed")
