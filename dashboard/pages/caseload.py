"""Caseload for clinicians (their patients) and directors (their clinics' patients): where each
patient stands, what is due or overdue, and open signals; each row opens the patient."""

import pandas as pd
import streamlit as st

from dashboard import auth, components, data
from dashboard.config import settings_in_force

settings = settings_in_force()
url = data.current_url()
user = components.patient_level_page("Caseload", url)
now = data.as_of()
table = data.caseload(url, settings, user)
data.audit(url, actor=auth.actor(), action="view_caseload", target_kind="caseload",
           detail=f"{len(table)} patients")
st.caption(f"As of {now:%Y-%m-%d}. A score is due every {settings.schedule_induction_days:g} "
           f"days during induction and every {settings.schedule_follow_up_days:g} days for "
           f"{settings.schedule_follow_up_window_days:g} days after it (the schedule is a "
           "setting). Click a column to sort; the patient link opens the trajectory.")
left, mid, right = st.columns(3)
everyone = left.toggle(f"Include patients not seen in {settings.active_days:g} days",
                       key="caseload_all")
only_due = left.toggle("Only due or overdue", key="caseload_due")
only_signals = mid.toggle("Only with open signals", key="caseload_signals")
phases = right.multiselect("Phase", sorted(table["phase"].dropna().unique()),
                           key="caseload_phase", placeholder="All phases")
shown = table if everyone else table[table["current"]]
if only_due:
    shown = shown[shown["next_due"].notna() & (shown["next_due"] <= now.normalize())]
if only_signals:
    shown = shown[shown["open_signals"] > 0]
if phases:
    shown = shown[shown["phase"].isin(phases)]
current = table[table["current"]]
cols = st.columns(3)
cols[0].metric("Current patients", f"{len(current):,}", border=True,
               help=f"Seen in the last {settings.active_days:g} days; {len(table)} in all")
cols[1].metric("Overdue", f"{int(current['days_overdue'].notna().sum()):,}", border=True)
cols[2].metric("With open signals", f"{int((current['open_signals'] > 0).sum()):,}",
               border=True)
shown = components.page_of(shown, "caseload_page", "patients")
for code, name in (("PHQ9", "PHQ-9"), ("GAD7", "GAD-7"), ("PCL5", "PCL-5")):
    shown = shown.assign(**{name: [
        "—" if pd.isna(v) else f"{v:.0f}" + ("" if pd.isna(c) else f" ({c:+.0%})")
        for v, c in zip(shown[f"{code}_last"], shown[f"{code}_change"], strict=True)]})
st.dataframe(
    shown[["patient_id", "phase", "day_of_course", "PHQ-9", "GAD-7", "PCL-5",
           "days_since_score", "next_due", "days_overdue", "open_signals", "clinician_id",
           "clinic_id", "trajectory"]],
    hide_index=True, key="caseload_table",
    column_config={
        "patient_id": st.column_config.TextColumn("Patient"),
        "phase": st.column_config.TextColumn("Phase"),
        "day_of_course": st.column_config.NumberColumn("Day of course", format="%d"),
        "PHQ-9": st.column_config.TextColumn("PHQ-9 (change)"),
        "GAD-7": st.column_config.TextColumn("GAD-7 (change)"),
        "PCL-5": st.column_config.TextColumn("PCL-5 (change)"),
        "days_since_score": st.column_config.NumberColumn("Days since last score",
                                                          format="%d"),
        "next_due": st.column_config.DateColumn("Next score due"),
        "days_overdue": st.column_config.NumberColumn("Days overdue", format="%d"),
        "open_signals": st.column_config.NumberColumn("Open signals", format="%d"),
        "clinician_id": st.column_config.TextColumn("Clinician"),
        "clinic_id": st.column_config.TextColumn("Clinic"),
        "trajectory": st.column_config.LinkColumn("Open", display_text="trajectory →"),
    })
