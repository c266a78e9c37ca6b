"""Export for quality teams: charts (PNG/SVG/PDF), tables (CSV/XLSX), the quarterly PDF report.

Everything exported is de-identified and small-cell suppressed; every export is audited.
"""

import os

import streamlit as st

from analysis import BREAKDOWNS
from analysis.suppression import WITHHELD_FOOTNOTE
from dashboard import auth, charts, components, data, security, state
from dashboard.config import settings_in_force
from dashboard.exports import figures, report, tables
from dashboard.labels import breakdown_label, human_table, instrument_name, md

settings = settings_in_force()
url = data.current_url()
if not security.can_export(auth.current_user()):
    st.error("Your role does not include exports.")
    st.stop()
filters = state.get_filters()
actor = auth.actor()
st.title("Export")
if "assessments" not in data.stored(url):
    components.empty_state()
    st.stop()
view = data.overview(url, settings, filters)
span = data.date_span(url, settings, filters)
footnote = (f"{filters.describe()} · courses started {span} · n = {view.n_courses} courses of "
            f"{view.n_patients} patients · response = ≥50% below baseline; remission below the "
            f"instrument cut-off among courses starting at or above caseness; endpoint = last "
            f"score ≤{settings.endpoint_window_days:g} days after induction; Wilson / "
            f"Kaplan–Meier {settings.confidence_level:.0%} intervals; "
            f"{WITHHELD_FOOTNOTE(settings.min_cell_size)}")
st.caption(f"Exports carry this footnote: {md(footnote)}")

name = instrument_name(filters.instrument)
options = {
    f"Change from baseline by day ({name})": lambda: charts.trajectory_figure(view.trajectory),
    f"Share in response by week ({name})": lambda: charts.weekly_response_figure(
        view.weekly, instrument=filters.instrument),
    f"Response by {view.trend.period} of course start ({name})": lambda: charts.trend_figure(
        view.trend, title=f"Response at endpoint by {view.trend.period} of course start "
                         f"({name})"),
    f"Attrition funnel ({name})": lambda: charts.funnel_figure(view.funnel),
}
if view.durability is not None:
    options[f"Durability, Kaplan–Meier ({name})"] = lambda: charts.km_figure(
        view.durability, title=f"Still in response ({name} responders)",
        xaxis_title="Days since first response",
            yaxis_title="Share still in response")
if view.boosters is not None:
    options["Time to first booster, Kaplan–Meier"] = lambda: charts.km_figure(
        view.boosters, title="Not yet boosted", xaxis_title="Days since induction end",
        yaxis_title="Share without a booster")
breakdown = st.selectbox("Break down charts and tables by", ["(overall)", *BREAKDOWNS],
                         key="export_by", format_func=lambda b: b if b == "(overall)"
                         else breakdown_label(b))
if breakdown not in ("(overall)", "start_month"):
    parts = data.breakdown(url, settings, filters, breakdown)
    label = breakdown_label(breakdown)
    options[f"Response by {label} ({name})"] = lambda: charts.rates_figure(
        parts.rates, outcome="endpoint_response",
        title=f"Response at endpoint by {label} ({name})")
    if parts.durability is not None:
        options[f"Durability by {label} ({name})"] = lambda: charts.km_figure(
            parts.durability, title=f"Still in response, by {label}",
            xaxis_title="Days since first response",
            yaxis_title="Share still in response")
st.subheader("Charts")
left, right = st.columns([3, 1])
chart = left.selectbox("Chart", list(options), key="export_chart")
fmt = right.selectbox("Format", list(figures.FORMATS), key="export_format")
chart_key = (chart, fmt, filters, footnote)
if st.button("Prepare chart", key="export_prepare"):
    with st.spinner("Rendering…"):
        blob = figures.figure_bytes(options[chart](), fmt, footnote=footnote)
    data.audit(url, actor=actor, action="export", target_kind="chart", detail=f"{chart} ({fmt})")
    st.session_state["export_chart_blob"] = (chart_key, blob)
prepared = st.session_state.get("export_chart_blob")
if prepared and prepared[0] == chart_key:  # stays until the chart, format or filters change
    st.download_button(f"Download {fmt.upper()}", prepared[1],
                       file_name=f"kap-{figures.slug(chart)}.{fmt}",
                       mime={"png": "image/png", "svg": "image/svg+xml",
                             "pdf": "application/pdf"}[fmt], key="export_chart_download")

st.subheader("Tables")
kind = st.selectbox("Table", ["Rates", "Attrition funnel", "Completeness", "Session safety"],
                    key="export_table_kind")
by = breakdown
if kind == "Rates":
    table = data.export_rates(url, settings, filters, None if by == "(overall)" else by)
elif kind == "Session safety":
    safety_by = by if by in ("route", "dose_band") else None
    table = data.export_safety(url, settings, filters, safety_by)
    st.caption("Shares of dosing sessions dated in the period (and of courses); by route or "
               "dose band when the breakdown above is one of them.")
else:
    table = data.export_counts(url, settings, filters, kind)
what = (f"rates by {by}" if kind == "Rates" else
        f"session safety by {by}" if kind == "Session safety" else kind.lower())
file_stem = f"kap-{figures.slug(what)}"
st.dataframe(human_table(table).astype(str), hide_index=True, key="export_table")
meta = [f"{filters.describe()} · courses started {span}"]
c1, c2 = st.columns(2)
c1.download_button("Download CSV", tables.to_csv_bytes(table, meta=meta, settings=settings),
                   file_name=f"{file_stem}.csv", mime="text/csv", key="export_csv",
                   on_click=lambda: data.audit(url, actor=actor, action="export",
                                               target_kind="table", detail=f"{what} csv"))
c2.download_button("Download XLSX", tables.to_xlsx_bytes(table, meta=meta, settings=settings),
                   file_name=f"{file_stem}.xlsx", key="export_xlsx",
                   on_click=lambda: data.audit(url, actor=actor, action="export",
                                               target_kind="table", detail=f"{what} xlsx"))

with st.expander("Patient-level research extract (de-identified)"):
    st.write("One row per course and instrument with a random id made for this export only, "
             "days from the first dose instead of dates, and no clinic patient ids. Share it "
             "only under a data-sharing agreement.")
    if st.button("Prepare extract", key="export_extract"):
        extract = data.research_extract(url, settings, filters)
        data.audit(url, actor=actor, action="export", target_kind="research_extract",
                   detail=f"{len(extract)} rows")
        st.download_button("Download extract (CSV)", tables.to_csv_bytes(
            extract, meta=["De-identified research extract"], settings=settings),
            file_name="kap-research-extract.csv", mime="text/csv", key="export_extract_csv")

st.subheader("Quality report (PDF)")
as_of = data.data_end(url)
relative = {"last-quarter": "Latest quarter with mature follow-up",
            "rolling-12m": "Rolling 12 months (mature)", "last-half": "Latest half-year",
            "last-year": "Latest year"}
named = {k: f"{v} ({report.parse_period(k, as_of=as_of).label})" for k, v in relative.items()}
choices = list(named) + list(reversed(data.quarters(url, settings)))
period = st.selectbox("Period (courses started in it)", choices, index=0, key="export_period",
                      format_func=lambda p: named.get(p, p))
st.caption("The report follows the sidebar's instrument, clinic, route and indication filters.")
report_key = (period, filters)
if st.button("Build report", key="export_report"):
    chosen = report.parse_period(period, as_of=as_of)
    bar = st.progress(0.0, text="Starting…")
    pdf = report.report_pdf(data.derived(url, settings), chosen, settings=settings,
                            clinic_ids=filters.clinics, instrument=filters.instrument,
                            routes=filters.routes, indications=filters.indications,
                            clinic_name=os.environ.get("KAP_OUTCOMES_CLINIC_NAME"),
                            as_of=as_of, safety=data.safety_frames(url),
                            progress=lambda i, n, what: bar.progress(i / n, text=what))
    data.audit(url, actor=actor, action="report", target_kind="period", target_id=chosen.label)
    st.session_state["export_report_blob"] = (report_key, chosen.label, pdf)
built = st.session_state.get("export_report_blob")
if built and built[0] == report_key:
    st.download_button("Download report", built[2],
                       file_name=f"kap-outcomes-{figures.slug(built[1])}.pdf",
                       mime="application/pdf", key="export_report_download")
