"""Clinic overview for directors: headline rates, onset, durability, breakdowns, attrition.

Every figure here comes from one :class:`dashboard.views.OverviewView` (or BreakdownView), where
small cells were pooled and withheld once: this page only lays them out.
"""

import streamlit as st

from analysis import BREAKDOWNS
from dashboard import auth, charts, components, data, security, state
from dashboard.config import settings_in_force
from dashboard.labels import breakdown_label, instrument_name, md

settings = settings_in_force()
url = data.current_url()
filters = state.get_filters()
st.title("Clinic overview")
if "assessments" not in data.stored(url):
    components.empty_state()
    st.stop()
view = data.overview(url, settings, filters)
name = instrument_name(filters.instrument)
st.caption(f"{md(filters.describe())} · {view.n_courses} courses of {view.n_patients} patients · "
           f"rates per course with Wilson {settings.confidence_level:.0%} intervals · groups "
           f"and counts of fewer than {settings.min_cell_size} patients are withheld")

cards = st.columns(5)
cards[0].metric("Current patients", f"{view.n_current:,}", border=True,
                help=f"Seen (a session or a score) in the {settings.active_days:g} days to "
                     f"{data.as_of():%Y-%m-%d}, as on the Caseload and Signals pages"
                     + ("" if filters == state.Filters(instrument=filters.instrument) else
                        ", with a course that passes the filters")
                     + f"; {view.n_patients} patients in all have a course in the filtered data")
cards[1].metric("Courses started", f"{view.n_courses:,}", border=True)
components.rate_metric(cards[2], view.headline, "endpoint_response", "Response")
components.rate_metric(cards[3], view.headline, "endpoint_remission", "Remission")
components.rate_metric(cards[4], view.headline, "rapid_response", "Rapid response")

# the signal line is filled in last: every current patient's signals take a while to compute
# on a network's first view of the day, and the figures below need none of them
signal_line = st.empty()
signal_line.caption("Checking current patients' signals…")

onset, durability, breakdowns, trends, attrition = st.tabs(
    ["Rapid onset", "Durability & boosters", "Breakdowns", "Trend", "Attrition"])
with onset:
    st.plotly_chart(charts.trajectory_figure(view.trajectory), key="overview_trajectory")
    st.plotly_chart(charts.weekly_response_figure(view.weekly, instrument=filters.instrument),
                    key="overview_weekly")
    components.definitions_note(settings, "response_reduction", "rapid_window_days",
                                "trajectory_bins")
with durability:
    left, right = st.columns(2)
    if view.durability is not None:
        left.plotly_chart(charts.km_figure(view.durability,
                                           title=f"Still in response ({name} responders)",
                                           xaxis_title="Days since first response",
            yaxis_title="Share still in response"),
                          key="overview_km_durability")
    else:
        left.info(f"Durability is not shown: fewer than {settings.min_cell_size} patients "
                  "responded at endpoint in this view.")
    if view.boosters is not None:
        right.plotly_chart(charts.km_figure(view.boosters, title="Not yet boosted",
                                            xaxis_title="Days since induction end",
                                            yaxis_title="Share without a booster"),
                           key="overview_km_boosters")
    components.definitions_note(settings, "relapse_confirmations", "endpoint_window_days",
                                "min_cell_size")
with breakdowns:
    options = [b for b in BREAKDOWNS if b != "start_month"]
    by = st.segmented_control("Break down by", options, default="route",
                              key="overview_breakdown", format_func=breakdown_label)
    by = by or "route"
    parts = data.breakdown(url, settings, filters, by)
    st.plotly_chart(charts.rates_figure(parts.rates, outcome="endpoint_response",
                                        title=f"Response at endpoint by {breakdown_label(by)} "
                                              f"({name})"),
                    key="overview_rates_by")
    if parts.durability is not None:
        st.plotly_chart(charts.km_figure(parts.durability,
                                         title=f"Still in response, by {breakdown_label(by)}",
                                         xaxis_title="Days since first response",
            yaxis_title="Share still in response"),
                        key="overview_km_by")
with trends:
    st.plotly_chart(charts.trend_figure(view.trend, title=f"Response at endpoint by "
                                                          f"{view.trend.period} of course start "
                                                          f"({name})"),
                    key="overview_trend")
with attrition:
    st.plotly_chart(charts.funnel_figure(view.funnel), key="overview_funnel")
    components.definitions_note(settings, "min_induction_doses_completed", "min_cell_size")

counts = data.signal_counts(url, settings, filters, data.signal_clock())
label = (f"Open signals for current patients: {counts.get('safety', 0)} safety, "
         f"{counts.get('relapsed', 0)} relapsed, "
         f"{counts.get('fading', 0) + counts.get('fading_after_booster', 0)} fading, "
         f"{counts.get('not_responding', 0)} not responding, "
         f"{counts.get('off_track', 0)} off track in induction, "
         f"{counts.get('missing_bp_check', 0)} session records missing a blood pressure")
with signal_line.container():
    st.caption(label)   # a caption wraps at phone width (a page link's label is cut off)
    if security.can_see_patient_pages(auth.current_user()):
        st.page_link("dashboard/pages/signals.py", icon=":material/notifications:",
                     label="Open the signals")
