"""Human labels: the one home for every name a person reads (machine names stay in CSV headers)."""

from __future__ import annotations

from analysis.instruments import INSTRUMENTS

__all__ = ["OUTCOME_LABELS", "BREAKDOWN_LABELS", "STAGE_LABELS", "instrument_name",
           "breakdown_label", "outcome_label", "interval_label"]

OUTCOME_LABELS: dict[str, str] = {
    "endpoint_response": "Response at endpoint",
    "endpoint_remission": "Remission at endpoint",
    "rapid_response": "Rapid response",
    "reliable_improvement": "Reliable improvement",
    "reliable_deterioration": "Reliable deterioration",
    "clinically_significant_improvement": "Clinically significant improvement",
}

BREAKDOWN_LABELS: dict[str, str] = {
    "route": "route",
    "indication": "indication",
    "clinic_id": "clinic",
    "clinician_id": "clinician",
    "course_type": "first or returning course",
    "start_month": "month of course start",
}

STAGE_LABELS: dict[str, str] = {
    "started": "Started a course",
    "with_baseline": "With a baseline score",
    "assessed_at_endpoint": "Assessed at endpoint",
    "responded": "Responded at endpoint",
    "in_response_at_90_days": "Still in response at 90 days",
    "completed_induction": "Completed induction (≥ 4 doses)",
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


def interval_label(confidence_level: float) -> str:
    """``0.95`` → ``95% CI`` (the level in force, never a hard-coded 95)."""
    return f"{confidence_level:.0%} CI"
