"""One frozen settings object holding every default of ``definitions.md``.

Results carry the :class:`Settings` they were computed with; the dashboard shows them beside every
figure. All fields are hashable primitives so the object can key a cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from analysis.instruments import INSTRUMENTS, Instrument

__all__ = ["Settings", "InstrumentThresholds", "reliable_change_threshold", "DESCRIPTIONS"]


def reliable_change_threshold(sd: float, reliability: float, *, z: float = 1.96) -> float:
    """Minimum raw change that is reliable by Jacobson & Truax (1991).

    ``z * S_diff`` with ``S_diff = sd * sqrt(2 * (1 - reliability))`` (points).

    >>> round(reliable_change_threshold(5.5, 0.84), 2)   # clinical-reference.md §2.5
    6.1
    """
    if sd <= 0 or not 0 <= reliability < 1:
        raise ValueError(f"need sd > 0 and 0 <= reliability < 1, got sd={sd}, r={reliability}")
    return z * sd * math.sqrt(2.0 * (1.0 - reliability))


@dataclass(frozen=True, slots=True)
class InstrumentThresholds:
    """The cut-offs in force for one instrument (points on its total scale)."""

    instrument: str
    remission_below: float
    caseness_at: float
    reliable_change_points: float


def _defaults(attr: str) -> tuple[tuple[str, float], ...]:
    return tuple((code, float(getattr(spec, attr))) for code, spec in INSTRUMENTS.items())


@dataclass(frozen=True, slots=True)
class Settings:
    """Every analytic choice, with the defaults of ``definitions.md``.

    Day counts are calendar days. Per-instrument thresholds are tuples of ``(code, value)`` so the
    object stays hashable; use :meth:`thresholds` to read them and :meth:`with_threshold` or
    :meth:`with_rci_parameters` to change them.
    """

    new_course_gap_days: float = 90
    induction_gap_days: float = 14
    max_induction_doses: int = 8
    baseline_window_days: float = 30
    rapid_window_days: float = 7
    endpoint_window_days: float = 14
    relapse_confirmations: int = 2
    response_reduction: float = 0.50
    booster_window_days: float = 14
    min_induction_doses_completed: int = 4
    min_cell_size: int = 11
    max_missing_items: int = 0
    confidence_level: float = 0.95
    maturity_days: float = 60
    active_days: float = 90
    schedule_induction_days: float = 7
    schedule_follow_up_days: float = 14
    schedule_follow_up_window_days: float = 90
    off_track_percentile: float = 90
    expected_min_courses: int = 20
    survival_horizons_days: tuple[int, ...] = (30, 60, 90)
    booster_need_horizons_days: tuple[int, ...] = (90, 180)
    trajectory_bins: tuple[tuple[float, float, str], ...] = (
        (-math.inf, 0, "0"), (0, 3, "1–3"), (3, 7, "4–7"), (7, 14, "8–14"), (14, 28, "15–28"),
        (28, 56, "29–56"), (56, 90, "57–90"), (90, 180, "91–180"),
    )
    remission_below: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _defaults("remission_below"))
    caseness_at: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _defaults("caseness_at"))
    reliable_change_points: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _defaults("reliable_change_points"))
    # session safety (safety-reference.md): every flag's threshold, in the units recorded
    pre_dose_systolic_above: float = 140
    pre_dose_diastolic_above: float = 90
    excursion_systolic_at: float = 180
    excursion_diastolic_at: float = 110
    excursion_systolic_rise: float = 40
    excursion_diastolic_rise: float = 25
    tachycardia_above: float = 110
    desaturation_below: float = 92
    sedated_moaas_at_most: float = 3
    marked_dissociation_cadss_above: float = 4
    marked_dissociation_0_10_above: float | None = None
    post_dose_check_minutes: float = 30
    discharge_minutes: tuple[tuple[str, float], ...] = (
        ("IN", 120.0), ("IV", 60.0), ("IM", 60.0), ("SL", 60.0), ("PO", 60.0))
    dose_band_mg_per_kg: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5)
    dose_band_mg: tuple[float, ...] = (40, 70, 100, 200)
    missing_bp_signal_days: float = 14

    def __post_init__(self) -> None:
        positive = ("new_course_gap_days", "induction_gap_days", "max_induction_doses",
                    "rapid_window_days", "endpoint_window_days", "relapse_confirmations",
                    "booster_window_days", "min_cell_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"Settings.{name} must be > 0, got {getattr(self, name)}")
        if self.baseline_window_days < 0 or self.max_missing_items < 0:
            raise ValueError("baseline_window_days and max_missing_items must be >= 0")
        if not 0 < self.response_reduction <= 1:
            raise ValueError(f"response_reduction must be in (0, 1], got {self.response_reduction}")
        if not 0 < self.confidence_level < 1:
            raise ValueError(f"confidence_level must be in (0, 1), got {self.confidence_level}")

    def discharge_minimum(self, route: str | None) -> float:
        """The shortest observation (minutes after the dose) that counts as complete for
        ``route``; the longest of the routes when the route is unknown.

        >>> Settings().discharge_minimum("IN"), Settings().discharge_minimum(None)
        (120.0, 120.0)
        """
        table = dict(self.discharge_minutes)
        return float(table.get(route, max(table.values()))) if route else max(table.values())

    def thresholds(self, instrument: str | Instrument) -> InstrumentThresholds:
        """The remission, caseness and reliable-change cut-offs in force for ``instrument``."""
        code = instrument.code if isinstance(instrument, Instrument) else instrument
        return InstrumentThresholds(
            instrument=code,
            remission_below=dict(self.remission_below)[code],
            caseness_at=dict(self.caseness_at)[code],
            reliable_change_points=dict(self.reliable_change_points)[code],
        )

    def with_threshold(self, instrument: str, **values: float) -> Settings:
        """A copy with some of one instrument's thresholds changed.

        >>> Settings().with_threshold("PHQ9", reliable_change_points=5).thresholds("PHQ9")
        InstrumentThresholds(instrument='PHQ9', remission_below=5.0, caseness_at=10.0, reliable_change_points=5.0)
        """
        changes = {}
        for name, value in values.items():
            if name not in ("remission_below", "caseness_at", "reliable_change_points"):
                raise ValueError(f"unknown threshold {name!r}")
            current = dict(getattr(self, name))
            if instrument not in current:
                raise ValueError(f"unknown instrument {instrument!r}")
            current[instrument] = float(value)
            changes[name] = tuple(current.items())
        return replace(self, **changes)

    def with_rci_parameters(self, instrument: str, *, sd: float, reliability: float,
                            z: float = 1.96) -> Settings:
        """A copy whose reliable-change threshold for ``instrument`` is derived by Jacobson–Truax."""
        return self.with_threshold(
            instrument, reliable_change_points=reliable_change_threshold(sd, reliability, z=z))

    def as_rows(self) -> list[tuple[str, str, str]]:
        """``(name, value, meaning)`` for every setting, for the definitions page and exports."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "trajectory_bins":
                shown = ", ".join(label for _, _, label in value)
            elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
                shown = ", ".join(f"{k} {v:g}" for k, v in value)
            elif isinstance(value, tuple):
                shown = ", ".join(str(v) for v in value)
            elif value is None:
                shown = "not set"
            else:
                shown = f"{value:g}" if isinstance(value, float) else str(value)
            rows.append((f.name, shown, DESCRIPTIONS.get(f.name, "")))
        return rows


#: Plain-words meaning of each setting (shown on the definitions page and in report appendices).
DESCRIPTIONS: dict[str, str] = {
    "new_course_gap_days": "A dosing session more than this many days after the previous one "
                           "starts a new course (when the import gives no course_id).",
    "induction_gap_days": "Induction doses follow each other within this many days.",
    "max_induction_doses": "At most this many doses form the induction series.",
    "baseline_window_days": "Baseline: latest score from this many days before the first dose "
                            "up to the first dose.",
    "rapid_window_days": "Rapid response: a response within this many days of the first dose.",
    "endpoint_window_days": "Endpoint: last score from induction end to this many days after, "
                            "before any booster.",
    "relapse_confirmations": "Relapse: this many consecutive scores no longer in response "
                             "(dated at the first of them).",
    "response_reduction": "Response: the total has fallen by at least this fraction of baseline.",
    "booster_window_days": "Booster effect: the last score up to this many days before a booster "
                           "and the first 1 to this many days after it.",
    "min_induction_doses_completed": "Induction counts as completed with at least this many doses.",
    "min_cell_size": "Any count of fewer patients than this, or a rate with fewer with or "
                     "without the outcome, is withheld wherever it would appear.",
    "max_missing_items": "Totals are prorated when at most this many items are missing "
                         "(PHQ-9 item 9 never).",
    "confidence_level": "Confidence level of every interval.",
    "active_days": "A patient is current when any session or score falls within this many days "
                   "before the as-of date; signals are raised for current patients.",
    "schedule_induction_days": "Caseload: a score is due this many days after the last one "
                               "during induction.",
    "schedule_follow_up_days": "Caseload: then every this many days after induction ends …",
    "schedule_follow_up_window_days": "… for this many days after induction ends (no routine "
                                      "score is due after that).",
    "off_track_percentile": "Off track: an induction score above this percentile of the scores "
                            "of other patients with the same baseline at that point.",
    "expected_min_courses": "The expected course is shown and used only where at least this "
                            "many other courses give scores at that point.",
    "maturity_days": "A month (or period) of course starts is immature until this many days "
                     "after it ends: its courses may not have reached their endpoint yet.",
    "survival_horizons_days": "Share still in response is reported at these days.",
    "booster_need_horizons_days": "Share needing a booster is reported within these days of "
                                  "induction end.",
    "trajectory_bins": "Mean trajectories are binned on days since first dose.",
    "remission_below": "Remission: total below this cut-off.",
    "pre_dose_systolic_above": "Pre-dose blood pressure elevated: systolic above this (mmHg) …",
    "pre_dose_diastolic_above": "… or diastolic above this (mmHg), at the latest pre-dose check "
                                "(the esketamine label's threshold for weighing the risk).",
    "excursion_systolic_at": "Blood pressure excursion after the dose: systolic at or above "
                             "this (mmHg) …",
    "excursion_diastolic_at": "… or diastolic at or above this (mmHg) …",
    "excursion_systolic_rise": "… or a systolic rise from the pre-dose value of at least this "
                               "(mmHg) …",
    "excursion_diastolic_rise": "… or a diastolic rise of at least this (mmHg) (the label's "
                                "≥ 40 / ≥ 25 mmHg rise).",
    "tachycardia_above": "Tachycardia: a heart rate after the dose above this (bpm).",
    "desaturation_below": "Desaturation: an SpO2 after the dose below this (%).",
    "sedated_moaas_at_most": "Sedated: a MOAA/S after the dose at or below this (0–5 scale).",
    "marked_dissociation_cadss_above": "Marked dissociation: a peak CADSS total above this "
                                       "(0–92).",
    "marked_dissociation_0_10_above": "Marked dissociation on a clinic's 0–10 rating: above "
                                      "this (not set: no validated cut, the flag is left "
                                      "blank for 0–10 ratings).",
    "post_dose_check_minutes": "Monitoring complete needs a blood pressure at least this many "
                               "minutes after the dose …",
    "discharge_minutes": "… a pre-dose blood pressure, and discharge no earlier than this many "
                         "minutes after the dose, by route (esketamine's REMS: 2 hours; IV/IM/"
                         "SL/PO: the clinic's own minimum).",
    "dose_band_mg_per_kg": "Dose bands (mg/kg) where the session gives the patient's weight …",
    "dose_band_mg": "… and (mg) where it does not; bands are per route.",
    "missing_bp_signal_days": "A dosing session of the last this many days without its "
                              "pre-dose or 30-minute blood pressure raises a signal (while the "
                              "record can still be completed).",
    "caseness_at": "Caseness (clinical range) at or above this total.",
    "reliable_change_points": "Reliable change (Jacobson–Truax): a change of at least this many "
                              "points.",
}
