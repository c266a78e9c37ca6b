"""Signals for clinicians: current patients who need a look today, with a workflow."""

import datetime as dt

import pandas as pd
import streamlit as st

from analysis.signals import KIND_LABELS, SAFETY_KINDS
from dashboard import auth, components, data, state
from dashboard.config import settings_in_force

settings = settings_in_force()
url = data.current_url()
filters = state.get_filters()
user = components.patient_level_page("Signals", url)
now = data.as_of()
st.caption(f"As of {now:%Y-%m-%d}: patients seen (a session or a score) in the last "
           f"{settings.active_days:g} days. Safety first (PHQ-9 item 9 on any form: ≥ 2 high "
           "priority, ≥ 1 review; a severe or serious adverse event at a dosing session), then "
           "the newest. Relapsed, fading (the mean of the last two "
           "scores a reliable change above the best two-score mean since the response), not "
           "responding, and off track in induction (above the 90th percentile of other patients "
           "with the same baseline); and dosing sessions of the last "
           f"{settings.missing_bp_signal_days:g} days whose record misses a required blood "
           "pressure check.")
current, not_seen = data.signals(url, settings, filters, user)
data.audit(url, actor=auth.actor(), action="view_signals", target_kind="signals",
           detail=f"{len(current)} current, {len(not_seen)} not seen recently")
show_handled = st.toggle("Show snoozed and resolved", key="signals_show_handled")
active = current[current["status"].isin(["open", "acknowledged"])]
counts = active["kind"].value_counts()
cols = st.columns(5)
for col, (kinds, label) in zip(cols, [
        (SAFETY_KINDS, "Safety"),
        (("relapsed",), "Relapsed"),
        (("fading", "fading_after_booster"), "Fading"),
        (("not_responding", "off_track"), "Not responding / off track"),
        (("missing_bp_check",), "Session records")], strict=True):
    col.metric(label, f"{int(sum(counts.get(k, 0) for k in kinds)):,}", border=True)
shown = current if show_handled else active
if shown.empty:
    st.success("No open signals for your current patients.")
else:
    shown = components.page_of(shown, "signals_page", "signals")
    table = shown.assign(
        signal=shown["label"], date=shown["score_at"].dt.date,
        ago=shown["days_ago"].map(lambda d: "today" if d == 0 else f"{d} days ago"),
        assigned=shown["assigned_to"].fillna(""))
    st.dataframe(
        table[["signal", "patient_id", "instrument", "date", "ago", "reason", "status",
               "assigned", "clinician_id", "clinic_id", "trajectory"]],
        hide_index=True, key="signals_table",
        column_config={
            "signal": st.column_config.TextColumn("Signal"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "instrument": st.column_config.TextColumn("Instrument"),
            "date": st.column_config.DateColumn("Date", help="of the score or the session"),
            "ago": st.column_config.TextColumn("When"),
            "reason": st.column_config.TextColumn("Why", width="large"),
            "status": st.column_config.TextColumn("Status"),
            "assigned": st.column_config.TextColumn("Assigned to"),
            "clinician_id": st.column_config.TextColumn("Clinician"),
            "clinic_id": st.column_config.TextColumn("Clinic"),
            "trajectory": st.column_config.LinkColumn("Open", display_text="trajectory →"),
        })
    st.subheader("Act on a signal")
    labels = [f"{r.patient_id} · {KIND_LABELS.get(r.kind, r.kind)} · {r.instrument} · "
              f"{r.score_at:%Y-%m-%d} ({r.status})" for r in shown.itertuples()]
    pick = st.selectbox("Signal", range(len(labels)), format_func=labels.__getitem__,
                        key="signal_pick", help="One of the signals in the table above (the "
                        "page shown, when the list has pages)")
    left, right = st.columns(2)
    action = left.radio("Action", ["Acknowledge", "Assign", "Snooze", "Resolve"],
                        horizontal=True, key="signal_action")
    assignee = right.text_input("Assign to (clinician id)", key="signal_assignee",
                                disabled=action != "Assign")
    until = right.date_input("Snooze until", value=now.date() + dt.timedelta(days=7),
                             min_value=now.date() + dt.timedelta(days=1), key="signal_until",
                             disabled=action != "Snooze")
    note = st.text_input("Note", key="signal_note", max_chars=500)
    if st.button("Save", type="primary", key="signal_save"):
        row = shown.iloc[int(pick)]
        status = {"Acknowledge": "acknowledged", "Assign": "acknowledged", "Snooze": "snoozed",
                  "Resolve": "resolved"}[action]
        if action == "Assign" and not assignee.strip():
            st.error("Say whom to assign it to.")
        else:
            data.save_signal(url, row=row, status=status, actor=auth.actor(), user=user,
                             assigned_to=assignee.strip() or None if action == "Assign"
                             else (None if pd.isna(row["assigned_to"]) else row["assigned_to"]),
                             snooze_until=until if action == "Snooze" else None,
                             note=note.strip() or None)
            st.rerun()
if len(not_seen):
    with st.expander(f"Not seen in the last {settings.active_days:g} days: {len(not_seen)} "
                     "signal(s) of patients with no recent contact"):
        not_seen = components.page_of(not_seen, "signals_not_seen_page", "signals")
        st.dataframe(not_seen.assign(last_seen=not_seen["last_contact"].dt.date)[
            ["label", "patient_id", "instrument", "last_seen", "reason", "clinician_id",
             "trajectory"]], hide_index=True, key="signals_not_seen",
            column_config={"label": "Signal", "patient_id": "Patient",
                           "instrument": "Instrument",
                           "last_seen": st.column_config.DateColumn("Not seen since"),
                           "reason": "Why", "clinician_id": "Clinician",
                           "trajectory": st.column_config.LinkColumn(
                               "Open", display_text="trajectory →")})
