"""Canonical column names: the contract between the layers (see ``architecture.md``).

Every other module refers to columns through these constants, so a name is spelled once.
"""

from __future__ import annotations

__all__ = [
    "PATIENT_ID", "CLINIC_ID", "CLINICIAN_ID", "INDICATION", "BIRTH_YEAR", "SEX",
    "INSTRUMENT", "ADMINISTERED_AT", "TOTAL", "PRORATED", "N_MISSING_ITEMS",
    "SESSION_AT", "KIND", "ROUTE", "DOSE_MG", "COURSE_ID",
    "COURSE_NUMBER", "DAY", "PHASE", "DOSE_NUMBER", "BOOSTER_NUMBER", "BASELINE_TOTAL",
    "BASELINE_DAY", "CHANGE", "PCT_CHANGE", "IS_RESPONSE", "IS_REMISSION", "SUPERSEDED",
    "UNASSIGNED_REASON", "SESSION_KINDS", "DOSING_KINDS", "ROUTES", "INDICATIONS", "PHASES",
    "OUTCOME_FIELDS", "item_column", "WEIGHT_KG", "MONITORING_POINTS", "DISSOCIATION_SCALES",
    "DISSOCIATION_MAX", "ADVERSE_EVENTS", "SEVERITIES", "VITAL_RANGES",
]

# patients
PATIENT_ID = "patient_id"
CLINIC_ID = "clinic_id"
CLINICIAN_ID = "clinician_id"
INDICATION = "indication"
BIRTH_YEAR = "birth_year"
SEX = "sex"

# assessments
INSTRUMENT = "instrument"
ADMINISTERED_AT = "administered_at"
TOTAL = "total"
PRORATED = "prorated"
N_MISSING_ITEMS = "n_missing_items"

# sessions
SESSION_AT = "session_at"
KIND = "kind"
ROUTE = "route"
DOSE_MG = "dose_mg"
COURSE_ID = "course_id"

# derived by analysis.alignment
COURSE_NUMBER = "course_number"
DAY = "day"
PHASE = "phase"
DOSE_NUMBER = "dose_number"
BOOSTER_NUMBER = "booster_number"
BASELINE_TOTAL = "baseline_total"
BASELINE_DAY = "baseline_day"
CHANGE = "change"
PCT_CHANGE = "pct_change"
IS_RESPONSE = "is_response"
IS_REMISSION = "is_remission"
SUPERSEDED = "superseded"
UNASSIGNED_REASON = "unassigned_reason"

# session monitoring and adverse events (safety-reference.md)
WEIGHT_KG = "weight_kg"
MONITORING_POINTS = ("pre", "post", "discharge")
DISSOCIATION_SCALES = ("CADSS", "0-10")
#: Highest value of each dissociation scale (CADSS: 23 items scored 0-4).
DISSOCIATION_MAX = {"CADSS": 92, "0-10": 10}
ADVERSE_EVENTS = ("nausea", "vomiting", "dizziness", "headache", "elevated_blood_pressure",
                  "anxiety_agitation", "excessive_sedation", "other")
SEVERITIES = ("mild", "moderate", "severe")
#: Measured values of a monitoring row and their plausible ranges (units in the name).
VITAL_RANGES = {"systolic": (40, 300), "diastolic": (20, 200), "heart_rate": (20, 250),
                "spo2": (50, 100), "sedation_moaas": (0, 5)}

SESSION_KINDS = ("dosing", "booster", "integration", "preparation")
DOSING_KINDS = ("dosing", "booster")
ROUTES = ("IV", "IM", "IN", "SL", "PO")
INDICATIONS = ("TRD", "MDD", "GAD", "PTSD", "SUD", "OCD", "OTHER")
PHASES = ("baseline", "induction", "follow_up", "maintenance")

#: The per-course outcome fields, in order (``data-formats.md`` § Outputs).
OUTCOME_FIELDS = (
    "patient_id", "course_id", "instrument", "baseline_total", "baseline_day",
    "first_dose_at", "induction_doses", "induction_end_day", "rapid_response",
    "early_pct_change", "days_to_response", "response_censored", "endpoint_total",
    "endpoint_day", "endpoint_pct_change", "endpoint_response", "endpoint_remission",
    "reliable_improvement", "reliable_deterioration", "clinically_significant_improvement",
    "first_response_day", "relapse_day", "durability_days", "durability_censored",
    "booster_count", "days_to_first_booster", "booster_censored",
)


def item_column(number: int) -> str:
    """Name of the column holding item ``number`` (1-based), e.g. ``item_9``."""
    return f"item_{number}"
