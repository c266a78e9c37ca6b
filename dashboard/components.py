"""Reusable Streamlit pieces (st.* calls only; no arithmetic beyond formatting)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import Settings
from analysis.suppression import PROTECTING_MARK, WITHHELD_FOOTNOTE, primary_mark
from dashboard import state
from dashboard.labels import human_table, interval_label, md
from dashboard.views import RateTable

__all__ = ["patient_level_page", "sidebar_filters", "rate_metric", "definitions_note", "empty_state",
           "import_report", "completeness_table", "page_of", "PAGE_ROWS"]

#: Rows of a patient-level table sent to the browser at a time: a network's Signals page
#: lists about 29k signals and 105k "not seen" ones; sending them whole took seconds a run.
PAGE_ROWS = 200


_MEANING = {
    "endpoint_response": "At least 50% lower than baseline at the end of induction (last score "
                         "up to 14 days after the last induction dose).",
    "endpoint_remission": "Below the remission cut-off at the end of induction, among courses "
                          "that started at or above the caseness cut-off.",
    "rapid_response": "A response within 7 days of the first dose.",
}


def sidebar_filters(attrs: pd.DataFrame) -> None:
    """The shared filters (instrument, clinic, clinician, route, indication, start dates)."""
    with st.sidebar:
        st.header("Filters")
        st.selectbox("Instrument", ["PHQ9", "GAD7", "PCL5"], key=state.INSTRUMENT_KEY,
                     format_func={"PHQ9": "PHQ-9 (depression)", "GAD7": "GAD-7 (anxiety)",
                                  "PCL5": "PCL-5 (PTSD)"}.get)
        for key, col, label in ((state.CLINIC_KEY, "clinic_id", "Clinic"),
                                (state.CLINICIAN_KEY, "clinician_id", "Clinician"),
                                (state.ROUTE_KEY, "route", "Route"),
                                (state.INDICATION_KEY, "indication", "Indication")):
            options = sorted(attrs[col].dropna().astype(str).unique()) if len(attrs) else []
            st.multiselect(label, options, key=key, placeholder="All")
        if len(attrs):
            lo = attrs["first_dose_at"].min().date()
            hi = attrs["first_dose_at"].max().date()
            st.date_input("Courses started from", value=None, min_value=lo, max_value=hi,
                          key=state.START_KEY)
            st.date_input("Courses started until", value=None, min_value=lo, max_value=hi,
                          key=state.END_KEY)


def rate_metric(container, rates: RateTable, outcome: str, label: str) -> None:
    """A metric card drawn from the decided rates: the rate with its interval and "k of n", or
    "withheld" with the reason (never a number the tables withhold)."""
    cell = rates.cell(outcome)
    meaning = _MEANING.get(outcome, "")
    if cell is None:
        container.metric(label, "–", help="No course has this outcome defined.", border=True)
        return
    ci = interval_label(rates.confidence_level)
    if pd.isna(cell["rate"]):
        mark = (PROTECTING_MARK if cell["withheld"] == "protecting"
                else primary_mark(rates.min_cell_size))
        container.metric(label, "withheld", border=True,
                         help=f"{meaning} {WITHHELD_FOOTNOTE(rates.min_cell_size)}")
        n = "" if pd.isna(cell["n"]) else f" · n = {int(cell['n'])}"
        container.caption(f"{mark}: fewer than {rates.min_cell_size} with or without the "
                          f"outcome{n}")
        return
    unit = f"{rates.unit}s"
    container.metric(label, f"{cell['rate']:.0%}", border=True,
                     help=f"{meaning} {ci} {cell['ci_low']:.0%}–{cell['ci_high']:.0%} (Wilson), "
                          f"{int(cell['k'])} of {int(cell['n'])} {unit}")
    container.caption(f"{int(cell['k'])} of {int(cell['n'])} {unit} · {ci} "
                      f"{cell['ci_low']:.0%}–{cell['ci_high']:.0%}")


def rate_text(cell, rates: RateTable) -> str:
    """One decided cell as table text: ``12% (9–16%), 40 of 333`` or its withheld mark."""
    if cell is None:
        return "–"
    if pd.isna(cell["rate"]):
        return "withheld " + (PROTECTING_MARK if cell["withheld"] == "protecting"
                              else primary_mark(rates.min_cell_size))
    return (f"{cell['rate']:.0%} ({cell['ci_low']:.0%}–{cell['ci_high']:.0%}), "
            f"{int(cell['k'])} of {int(cell['n'])}")


def count_text(value, withheld: str, min_cell_size: int) -> str:
    """A count (or a median) as table text, or its withheld mark."""
    if withheld or pd.isna(value):
        return "withheld " + (PROTECTING_MARK if withheld == "protecting"
                              else primary_mark(min_cell_size))
    return f"{value:.0f}"


def definitions_note(settings: Settings, *names: str) -> None:
    """A caption stating the definitions a figure depends on."""
    rows = {n: (v, m) for n, v, m in settings.as_rows()}
    st.caption(" · ".join(f"{rows[n][1]} ({rows[n][0]})" for n in names if n in rows))


def patient_level_page(title: str, url: str):
    """The start of every patient-level page: the title, the role check (quality and admin
    accounts see a refusal) and the empty-database state. Returns the signed-in user."""
    from dashboard import auth, data, security

    user = auth.current_user()
    st.title(title)
    if not security.can_see_patient_pages(user):
        st.error("Your role does not include patient-level pages.")
        st.stop()
    if "assessments" not in data.stored(url):
        empty_state()
        st.stop()
    return user


def empty_state() -> None:
    """What a new user sees before any data is loaded."""
    st.info("No data yet. Load the bundled demo with `kap-outcomes demo`, or import your "
            "clinic's files on the **Data** page or with `kap-outcomes import FILE`.")


def import_report(report) -> None:
    """An import's (or preview's) summary and every rejected row."""
    if report.ok:
        st.success(md(report.summary()), icon=":material/check_circle:")
    else:
        st.error(md(report.summary()), icon=":material/error:")
        problems = report.problems()
        if problems:
            st.dataframe(pd.DataFrame(
                [(i.line, i.column, i.reason) for i in sorted(report.errors + report.conflicts)],
                columns=["line", "column", "reason"]), hide_index=True,
                column_config={"line": st.column_config.NumberColumn("Line", width="small"),
                               "column": st.column_config.TextColumn("Column", width="medium"),
                               "reason": st.column_config.TextColumn("Reason", width="large")})
    for warning in report.warnings:
        st.caption(f"Note: {md(warning)}")


def completeness_table(summary: pd.DataFrame) -> None:
    """Counts of courses by instrument and missing-outcome reason."""
    st.dataframe(human_table(summary).astype(str), hide_index=True, key="completeness_table")


def page_of(frame: pd.DataFrame, key: str, noun: str = "rows") -> pd.DataFrame:
    """The page of ``frame`` the user chose: all of it when it fits in :data:`PAGE_ROWS`,
    else a page picker and a "rows 201–400 of 29,134" caption above the table (the order is
    the caller's, so page 1 holds what matters most). A page past the end after the rows
    shrank shows the last page."""
    n = len(frame)
    if n <= PAGE_ROWS:
        return frame
    pages = -(-n // PAGE_ROWS)
    if int(st.session_state.get(key, 1)) > pages:
        st.session_state[key] = pages
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    page = int(left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages,
                                 value=1, step=1, key=key))
    start = (page - 1) * PAGE_ROWS
    right.caption(f"{noun.capitalize()} {start + 1:,}–{min(start + PAGE_ROWS, n):,} of {n:,}")
    return frame.iloc[start:start + PAGE_ROWS]


def rebuild_banner(url: str, settings: Settings) -> None:
    """What every page says while the stored outcomes are rebuilt in the background (a
    progress bar, refreshed every 2 s), or that the last rebuild failed; nothing when they
    are current. The page reruns itself once the rebuild ends."""
    from dashboard import data

    if data.background_rebuild(url, settings) is None:
        return

    @st.fragment(run_every=2)
    def banner() -> None:
        job = data.background_rebuild(url, settings)
        if job is None:
            return
        if job.running:
            done = (f"{job.done:,} of {job.total:,} patients" if job.total else
                    "waiting for an import or another instance's rebuild to end")
            st.info(f"Updating the stored outcomes to the current settings and version: {done}. "
                    "Until it ends, every page computes them from the records: the same "
                    "figures, more slowly.")
            st.progress(job.share)
        elif job.error:
            st.warning(f"Rebuilding the stored outcomes failed ({job.error}). Every page "
                       "computes them from the records (the same figures, more slowly) until "
                       "someone who imports data tries again on the Data page, or an "
                       "administrator runs `kap-outcomes derive`.")
        else:
            st.rerun(scope="app")

    banner()
