"""KAP Outcomes statistics: pure functions on tidy frames (no UI, no database, no I/O).

The pipeline::

    scored = score_assessments(raw_assessments)              # items -> totals, flags
    alignment = align(scored, sessions, settings=Settings())  # courses, day, phase, baseline
    outcomes = per_course_outcomes(alignment)                 # one row per course x instrument
    rates = summarize_rates(outcomes)                         # Wilson CIs
    km = summarize_survival(outcomes, endpoint="durability", instrument="PHQ9")
"""

from analysis.alignment import Alignment, align
from analysis.boosters import BoosterEffectResult, booster_effect, booster_intervals
from analysis.cohort import (
    BREAKDOWNS,
    RATE_OUTCOMES,
    attrition_funnel,
    course_attributes,
    mean_trajectory,
    summarize_rates,
    week_bins,
    wilson_interval,
)
from analysis.durability import ENDPOINTS, SurvivalSummary, summarize_survival
from analysis.exceptions import (
    AnalysisError,
    InsufficientDataError,
    ScoringError,
    UnknownInstrumentError,
)
from analysis.expected import baseline_band, expected_course
from analysis.instruments import GAD7, INSTRUMENTS, PCL5, PHQ9, Instrument, normalize_instrument
from analysis.outcomes import COMPLETENESS_REASONS, completeness, per_course_outcomes
from analysis.reliable_change import RCIParams, clinical_cutoffs, gln_rci, reliable_change_index
from analysis.scoring import pcl5_clusters, safety_flags, score_assessments, score_items
from analysis.settings import Settings, reliable_change_threshold
from analysis.survival import ConfidenceInterval, kaplan_meier, logrank_test

__all__ = [
    "Alignment", "align", "BoosterEffectResult", "booster_effect", "booster_intervals",
    "BREAKDOWNS", "RATE_OUTCOMES", "attrition_funnel", "course_attributes", "mean_trajectory",
    "summarize_rates", "week_bins", "wilson_interval", "ENDPOINTS", "SurvivalSummary",
    "summarize_survival", "AnalysisError", "InsufficientDataError", "ScoringError",
    "UnknownInstrumentError", "GAD7", "INSTRUMENTS", "PCL5", "PHQ9", "Instrument",
    "normalize_instrument", "COMPLETENESS_REASONS", "completeness", "per_course_outcomes",
    "RCIParams", "clinical_cutoffs", "gln_rci", "reliable_change_index", "pcl5_clusters",
    "safety_flags", "score_assessments", "score_items", "Settings", "reliable_change_threshold",
    "ConfidenceInterval", "kaplan_meier", "logrank_test", "baseline_band", "expected_course",
]
