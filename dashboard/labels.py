"""Human labels: the one home for every name a person reads (machine names stay in CSV headers)."""

from __future__ import annotations

import re

import pandas as pd

from analysis.instruments import INSTRUMENTS

__all__ = ["rate_cell_text", "COMPLETENESS_SHORT", "OUTCOME_LABELS", "EVENT_LABELS", "SAFETY_SHORT", "safety_outcome_label", "BREAKDOWN_LABELS", "STAGE_LABELS",
           "instrument_name",
           "breakdown_label", "outcome_label", "interval_label", "human_table", "md"]

OUTCOME_LABELS: dict[str, str] = {
    "endpoint_response": "Response at endpoint",
    "endpoint_remission": "Remission at endpoint",
    "rapid_response": "Rapid response",
    "reliable_improvement": "Reliable improvement",
    "reliable_deterioration": "Reliable deterioration",
    "clinically_significant_improvement": "Clinically significant improvement",
    # session safety (analysis.safety.SAFETY_OUTCOMES)
    "bp_excursion": "Blood pressure excursion",
    "any_adverse_event": "Any adverse event",
    "sedated": "Sedated (MOAA/S ≤ 3)",
    "marked_dissociation": "Marked dissociation (CADSS > 4)",
    "tachycardia": "Tachycardia",
    "desaturation": "Desaturation",
    "pre_bp_elevated": "Pre-dose blood pressure elevated",
    "severe_or_serious": "Severe or serious event",
    "severe_or_serious_events": "Severe or serious events (count)",
    "monitoring_complete": "Monitoring complete",
}

#: Safety flags as short as a chart axis at phone width allows (thresholds: the table below).
SAFETY_SHORT: dict[str, str] = {
    "bp_excursion": "BP excursion", "any_adverse_event": "Adverse event",
    "sedated": "Sedated", "marked_dissociation": "Dissociation", "tachycardia": "Tachycardia",
    "desaturation": "Desaturation", "pre_bp_elevated": "Pre-dose BP high",
    "severe_or_serious": "Severe/serious event", "monitoring_complete": "Monitoring complete",
}

#: The names of adverse events as a person reads them.
EVENT_LABELS: dict[str, str] = {
    "nausea": "Nausea", "vomiting": "Vomiting", "dizziness": "Dizziness",
    "headache": "Headache", "elevated_blood_pressure": "Elevated blood pressure",
    "anxiety_agitation": "Anxiety or agitation", "excessive_sedation": "Excessive sedation",
    "other": "Other",
}

BREAKDOWN_LABELS: dict[str, str] = {
    "route": "route",
    "indication": "indication",
    "clinic_id": "clinic",
    "clinician_id": "clinician",
    "course_type": "first or returning course",
    "start_month": "month of course start",
    "dose_band": "dose band",
    "session_number": "session number",
    "month": "month",
    "quarter": "quarter",
}

STAGE_LABELS: dict[str, str] = {
    "started": "Started a course",
    "with_baseline": "With a baseline score",
    "assessed_at_endpoint": "Assessed at endpoint",
    "responded": "Responded at endpoint",
    "in_response_at_90_days": "Still in response at 90 days",
    "completed_induction": "Completed induction (≥ 4 doses)",
}


#: Why an outcome is unknown, as short as a table cell allows (the full wording is
#: analysis.outcomes.COMPLETENESS_REASONS).
COMPLETENESS_SHORT = {
    "no_assessments": "not measured in this course",
    "no_baseline": "no baseline score",
    "no_rapid_assessment": "no score in the first week",
    "booster_before_endpoint": "a booster came before the endpoint",
    "lost_to_follow_up": "no score after induction",
    "no_endpoint_assessment": "no score in the endpoint window",
}


def instrument_name(code: str) -> str:
    """``PHQ9`` → ``PHQ-9``."""
    spec = INSTRUMENTS.get(code)
    return spec.name if spec else code


def breakdown_label(by: str) -> str:
    """``clinician_id`` → ``clinician``."""
    return BREAKDOWN_LABELS.get(by, by.replace("_", " "))


def outcome_label(outcome: str) -> str:
    """``endpoint_response`` → ``Response at endpoint``."""
    return OUTCOME_LABELS.get(outcome, outcome.replace("_", " "))


def safety_outcome_label(outcome: str, settings) -> str:
    """A safety flag's name with the thresholds in force (``Settings``), e.g.
    ``Blood pressure excursion (≥ 180/110 or a rise ≥ 40/25 mmHg)``."""
    t = settings
    detail = {
        "bp_excursion": f"≥ {t.excursion_systolic_at:g}/{t.excursion_diastolic_at:g} or a rise "
                        f"≥ {t.excursion_systolic_rise:g}/{t.excursion_diastolic_rise:g} mmHg",
        "sedated": f"MOAA/S ≤ {t.sedated_moaas_at_most:g}",
        "marked_dissociation": f"CADSS > {t.marked_dissociation_cadss_above:g}",
        "tachycardia": f"heart rate > {t.tachycardia_above:g}",
        "desaturation": f"SpO2 < {t.desaturation_below:g}%",
        "pre_bp_elevated": f"> {t.pre_dose_systolic_above:g}/{t.pre_dose_diastolic_above:g}",
    }.get(outcome)
    base = OUTCOME_LABELS.get(outcome, outcome.replace("_", " ")).split(" (")[0]
    return f"{base} ({detail})" if detail else base


def rate_cell_text(rate: float, low: float, high: float, n: float, withheld: object) -> str:
    """A decided rate as a table cell: ``38% (27%–50%) of 63``, ``withheld`` or ``–``.

    >>> rate_cell_text(0.38, 0.27, 0.5, 63, ""), rate_cell_text(float("nan"), 0, 0, 0, "primary")
    ('38% (27%–50%) of 63', 'withheld')
    """
    if pd.isna(rate):
        return "withheld" if isinstance(withheld, str) and withheld else "–"
    return f"{rate:.0%} ({low:.0%}–{high:.0%}) of {int(n)}"


def interval_label(confidence_level: float) -> str:
    """``0.95`` → ``95% CI`` (the level in force, never a hard-coded 95)."""
    return f"{confidence_level:.0%} CI"


#: Column headers a person reads (CSV and XLSX files keep the machine names).
COLUMN_LABELS: dict[str, str] = {
    "scope": "Scope", "period": "Period", "instrument": "Instrument", "outcome": "Outcome",
    "k": "With the outcome", "n": "Courses", "n_patients": "Patients", "rate_%": "Rate (%)",
    "ci_low_%": "CI low (%)", "ci_high_%": "CI high (%)", "stage": "Stage",
    "courses": "Courses", "share_of_started_%": "Share of started (%)",
    "km_estimate_%": "Kaplan–Meier estimate (%)", "km_ci_low_%": "KM CI low (%)",
    "km_ci_high_%": "KM CI high (%)", "nested": "In the chain", "endpoint_status": "Reason",
    "share_%": "Share (%)", "meaning": "Meaning", "unit": "Per", "with_flag": "With the flag",
    "assessed": "Assessed",
}


def human_table(table: pd.DataFrame) -> pd.DataFrame:
    """A shared table with human headers and values (outcome, stage, instrument and group
    names); numbers and marks unchanged."""
    out = table.copy()
    if "outcome" in out.columns:
        out["outcome"] = out["outcome"].map(outcome_label)
    if "stage" in out.columns:
        out["stage"] = out["stage"].map(lambda s: STAGE_LABELS.get(s, s))
    if "instrument" in out.columns:
        out["instrument"] = out["instrument"].astype(str).map(instrument_name)
    names = {c: COLUMN_LABELS.get(c, breakdown_label(c).capitalize()) for c in out.columns}
    return out.rename(columns=names)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#!|<>~$])")


def md(text: object) -> str:
    r"""Text shown inside Streamlit markdown with every markdown character escaped: imported
    strings (clinic ids, file names, headers) render as typed, never as a link, an image (an
    outside request) or bold text.

    >>> print(md("![c](http://host/x.png) **x**"))
    \!\[c\]\(http://host/x.png\) \*\*x\*\*
    """
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", " ")
