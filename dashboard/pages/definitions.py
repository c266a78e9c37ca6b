"""Definitions: the settings in force and what every outcome means, with sources."""

import pandas as pd
import streamlit as st

from analysis import INSTRUMENTS
from analysis.outcomes import COMPLETENESS_REASONS
from dashboard.config import settings_in_force

settings = settings_in_force()
st.title("Definitions")
st.markdown(
    "Every number in KAP Outcomes follows from these rules. They are the defaults of one "
    "settings object; each figure states the ones it depends on.")
st.subheader("Settings in force")
st.dataframe(pd.DataFrame(settings.as_rows(), columns=["Setting", "Value", "Meaning"]),
             hide_index=True, key="definitions_settings")
st.subheader("Outcomes in plain words")
st.markdown(f"""
- **Course**: a run of dosing sessions; a new one starts after more than 90 days without a dose.
  Day 0 is the first dose.
- **Baseline**: the latest score in the 30 days up to the first dose.
- **Response**: the total is at least 50% below baseline. **Remission**: below the instrument's
  remission cut-off.
- **Rapid response**: a response within 7 days of the first dose (unknown, not "no", when nobody
  measured in that week).
- **Endpoint**: the last score from the end of induction to 14 days later, before any booster.
- **Reliable improvement / deterioration**: a change of at least the reliable-change points
  (Jacobson & Truax 1991). **Clinically significant improvement**: reliable improvement from a
  baseline in the clinical range to an endpoint below it.
- **Durability**: days from the first response until two scores in a row are no longer a
  response; patients still responding are counted as censored (Kaplan–Meier).
- **Time to first booster**: days from the end of induction to the first booster (Kaplan–Meier).
- **Denominators**, the same on every card, chart, table, export and report: response and rapid
  response over courses with a baseline above 0 and the outcome observed; reliable change over
  courses with a baseline and an endpoint; **remission and clinically significant improvement
  over courses that started at or above the caseness cut-off** (one that starts below it cannot
  remit). Courses without a baseline enter no rate; completeness lists them with the reason.
- For **PCL-5**, remission means below the provisional diagnosis cut-off (33): a lower bar than a
  50% drop, so its remission rate can be higher than its response rate.
- **Responders** are the courses in response at endpoint: the response card's count, the funnel's
  "responded" step and the durability curve's n are the same courses.
- The **attrition funnel** nests the same sets: started, with a baseline, assessed at endpoint,
  responded, and the Kaplan–Meier estimate of those still in response 90 days after their first
  response (not a count of those followed that long). Completed induction (≥ 4 doses) is shown
  beside it.
- **Kaplan–Meier curves** carry the number at risk at days 0, 30, 60, 90 and 180 and stop where
  fewer than the minimum cell size remain at risk.
- **Rates** carry Wilson intervals at the confidence level in force and "k of n".
- **Current patients**: any session or score within the last {settings.active_days:g} calendar
  days (`active_days`). The overview's card, the caseload and the signals count them alike;
  signals are raised for them, and the others are listed apart as "not seen since".
- **Signals**: safety from PHQ-9 item 9 on any form (≥ 2 high priority, ≥ 1 review); relapsed
  (stays until a booster, a new course or a regained response); fading (the mean of the last
  two scores more than a reliable change above the best two-score mean since the response;
  about 3% of stable responders are flagged over 8 scores); not responding at the end of
  induction or after a booster; off track in induction (above the 90th percentile of other
  patients with the same baseline at that point).
- **Assessment schedule** (caseload): a score is due every 7 days during induction and every
  14 days for 90 days after it, counted from the last score of the current course (or its first
  dose); after that no routine score is due. The three numbers are settings.
- **Small cells**: a count of fewer patients than the minimum cell size, or a rate with fewer
  with or without the outcome, is withheld everywhere and printed "<11"; small groups are first
  pooled into "Other"; a cell withheld only so that a small one cannot be worked out from the
  totals is printed "‡".
""")
st.subheader("Session safety")
t = settings
st.markdown(f"""
Each **dosing session** (dosing or booster) gets a safety record from its monitoring rows
(blood pressure, heart rate, SpO2, MOAA/S sedation, dissociation) and its adverse events. A flag
is **blank** where the record cannot tell, and a blank is never counted as "no".
- **Pre-dose blood pressure elevated**: the latest pre-dose reading above
  {t.pre_dose_systolic_above:g}/{t.pre_dose_diastolic_above:g} mmHg (the esketamine label asks
  prescribers to weigh the risk above this).
- **Blood pressure excursion**: after the dose, systolic ≥ {t.excursion_systolic_at:g} or
  diastolic ≥ {t.excursion_diastolic_at:g} mmHg, or a rise from the pre-dose value of
  ≥ {t.excursion_systolic_rise:g} systolic or ≥ {t.excursion_diastolic_rise:g} diastolic (the
  label's rise). No pre-dose value: only the absolute limits can tell.
- **Tachycardia**: heart rate above {t.tachycardia_above:g} after the dose. **Desaturation**:
  SpO2 below {t.desaturation_below:g}%. **Sedated**: MOAA/S ≤ {t.sedated_moaas_at_most:g}.
- **Marked dissociation**: the session's peak CADSS above {t.marked_dissociation_cadss_above:g};
  a 0–10 rating has no validated cut, so the flag is blank for it unless the clinic sets one.
- **Monitoring complete**: a pre-dose blood pressure, one at least
  {t.post_dose_check_minutes:g} minutes after the dose, and discharge no earlier than the
  route's minimum ({", ".join(f"{r} {m:g} min" for r, m in t.discharge_minutes)}; esketamine's
  REMS asks for 2 hours, the IV/IM/SL/PO minimum is the clinic's own choice).
- **Rates** are shares of sessions with a Wilson interval on the **effective** number of
  sessions (the design effect of patients' repeated sessions), and shares of courses (a course
  has a flag when any of its sessions had it). A rate is withheld when fewer than
  {t.min_cell_size} patients had the flag, or did not.
- **Dose bands** are per route: mg/kg where the session records the weight, else mg.
- **Session signals**: a severe or serious adverse event at a session in the last
  {t.active_days:g} days (with the safety signals); a session of the last
  {t.missing_bp_signal_days:g} days missing its pre-dose or 30-minute blood pressure, in a
  clinic that records monitoring.
- Severe and serious events are listed on the Safety page for the clinic's own review and
  counted (withheld when small) in exports and the report.
""")
st.subheader("Instruments")
st.dataframe(pd.DataFrame([{
    "Instrument": spec.name, "Items": spec.n_items, "Range": f"0–{spec.total_max}",
    "Severity bands": ", ".join(f"{b.low}–{b.high} {b.label}" for b in spec.severity_bands)
    or "none (PCL-5)",
    "Remission below": dict(settings.remission_below)[code],
    "Caseness at": dict(settings.caseness_at)[code],
    "Reliable change (points)": dict(settings.reliable_change_points)[code],
    "Sources": "; ".join(spec.references)} for code, spec in INSTRUMENTS.items()]),
    hide_index=True, key="definitions_instruments")
st.subheader("Why an outcome can be missing")
st.dataframe(pd.DataFrame(list(COMPLETENESS_REASONS.items()), columns=["Reason", "Meaning"]),
             hide_index=True, key="definitions_reasons")
