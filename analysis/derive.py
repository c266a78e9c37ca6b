"""What each patient's records imply, computed once per import for the patients it touched.

Everything here depends on one patient's own records (and the settings) only: the courses
inferred from the sessions and their attributes, the per-course outcomes with each course's
mean in every trajectory bin and week, why outcomes are missing, the patient's latest contact
and standing (the caseload's inputs), the signals their own records raise and their latest
induction scores (the inputs of the signals that compare a patient with the others). So a network's
outcomes can be kept up to date patient by patient (``dashboard.db`` stores them in the
import's own transaction) and an overview reads them instead of lining up millions of scores.

Example:
    >>> from analysis.settings import Settings
    >>> a = pd.DataFrame({"patient_id": ["P1"] * 3, "instrument": ["PHQ9"] * 3,
    ...                   "administered_at": pd.to_datetime(["2025-01-01", "2025-01-09",
    ...                                                      "2025-02-01"]),
    ...                   "total": [20.0, 9.0, 6.0]})
    >>> s = pd.DataFrame({"patient_id": ["P1"] * 4, "kind": ["dosing"] * 4, "route": ["IV"] * 4,
    ...                   "session_at": pd.to_datetime(["2025-01-02", "2025-01-04",
    ...                                                 "2025-01-07", "2025-01-09"])})
    >>> p = pd.DataFrame({"patient_id": ["P1"], "clinic_id": ["north"], "clinician_id": ["c1"],
    ...                   "indication": ["TRD"]})
    >>> d = derive(a, s, p, settings=Settings())
    >>> d.outcomes[["course_id", "baseline_total", "endpoint_total", "t0"]].values.tolist()
    [['course-1', 20.0, 9.0, 0.0]]
    >>> d.contacts["last_contact"].iloc[0]
    Timestamp('2025-02-01 00:00:00')
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis import schemas as S
from analysis.alignment import Alignment, align
from analysis.caseload import standing
from analysis.cohort import BIN_SERIES, course_attributes, wide_bin_means
from analysis.expected import induction_scores
from analysis.outcomes import completeness, per_course_outcomes
from analysis.safety import session_safety
from analysis.settings import Settings
from analysis.signals import last_contacts, signal_inputs

__all__ = ["Derived", "DERIVED_VERSION", "derive", "derive_alignment", "settings_key",
           "split_means", "session_safety_records"]

#: The version of what :func:`derive` computes: part of :func:`settings_key`, so tables made
#: by an earlier version (fewer kinds, another rule) are never read and ``kap-outcomes init``
#: rebuilds them. Raise it whenever a derived kind or its rule changes.
DERIVED_VERSION = 5   # 5: the session safety records (4: a baseline-only caseload score)


@dataclass(frozen=True)
class Derived:
    """Per-patient results, ready to store.

    ``courses``: :func:`analysis.cohort.course_attributes`, one row per course.
    ``outcomes``: :func:`analysis.outcomes.per_course_outcomes`, one row per course and
    instrument, with the course's bin means (:func:`analysis.cohort.wide_bin_means`: ``t0``…
    of the settings' trajectory bins, ``w0``… of the weeks; NaN where it has no score).
    ``contacts``: ``patient_id``, ``last_contact`` (latest session or score).
    ``completeness``: :func:`analysis.outcomes.completeness` (why outcomes are missing).
    ``sessions``: the aligned sessions (each with its course and dose number; the session
    safety records' input), without ``course_index`` (a row position within one alignment).
    ``standing``: :func:`analysis.caseload.standing` (the caseload's inputs).
    ``signals`` and ``candidates``: :func:`analysis.signals.signal_inputs`.
    ``induction``: :func:`analysis.expected.induction_scores` (what the expected-course models
    are fitted on).
    ``safety``: :func:`analysis.safety.session_safety`, one record per dosing session (what
    the Safety page, the session signals and the report's safety section count).
    """

    courses: pd.DataFrame
    outcomes: pd.DataFrame
    contacts: pd.DataFrame
    completeness: pd.DataFrame
    sessions: pd.DataFrame
    standing: pd.DataFrame
    signals: pd.DataFrame
    candidates: pd.DataFrame
    induction: pd.DataFrame
    safety: pd.DataFrame


def derive_alignment(alignment: Alignment, patients: pd.DataFrame,
                     monitoring: pd.DataFrame | None = None,
                     events: pd.DataFrame | None = None) -> Derived:
    """:func:`derive` from an alignment already made."""
    outcomes = per_course_outcomes(alignment)
    means = wide_bin_means(alignment)
    key = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]
    with_means = outcomes.merge(means, on=key, how="left")
    contacts = last_contacts(alignment).rename("last_contact").reset_index()
    rows, candidates = signal_inputs(alignment)
    return Derived(courses=course_attributes(alignment, patients), outcomes=with_means,
                   contacts=contacts, completeness=completeness(alignment, outcomes),
                   sessions=alignment.sessions.drop(columns=["course_index"]),
                   standing=standing(alignment), signals=rows, candidates=candidates,
                   induction=induction_scores(alignment),
                   safety=session_safety_records(alignment.sessions, monitoring, events,
                                                 settings=alignment.settings))


def session_safety_records(sessions: pd.DataFrame, monitoring: pd.DataFrame | None,
                           events: pd.DataFrame | None, *, settings: Settings) -> pd.DataFrame:
    """:attr:`Derived.safety` of the aligned ``sessions`` (no monitoring or events given:
    none recorded). Safety records depend on a patient's own sessions, monitoring and events
    alone, so an import of monitoring recomputes this kind only, for the patients it names."""
    return session_safety(sessions, pd.DataFrame() if monitoring is None else monitoring,
                          pd.DataFrame() if events is None else events, settings=settings)


def derive(assessments: pd.DataFrame, sessions: pd.DataFrame, patients: pd.DataFrame, *,
           settings: Settings, monitoring: pd.DataFrame | None = None,
           events: pd.DataFrame | None = None) -> Derived:
    """Line up the scores of the given patients against their courses (:func:`align`) and
    derive their courses, outcomes, bin means, latest contacts and session safety records
    (see :class:`Derived`; ``monitoring`` and ``events`` as :func:`analysis.safety.session_safety`
    takes them, none when omitted)."""
    return derive_alignment(align(assessments, sessions, settings=settings), patients,
                            monitoring, events)


def split_means(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outcomes without the bin means, and the bin means with their course and
    instrument (:attr:`Derived.outcomes` holds both)."""
    key = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT]
    means = [c for c in outcomes.columns
             if c[:1] in {p for _, p in BIN_SERIES.values()} and c[1:].isdigit()]
    return outcomes.drop(columns=means), outcomes[key + means]


def settings_key(settings: Settings) -> str:
    """A short fingerprint of everything in ``settings`` (derived rows carry it: rows made
    under other settings are never mixed with these).

    >>> settings_key(Settings()) == settings_key(Settings())
    True
    >>> settings_key(Settings()) == settings_key(Settings(min_cell_size=5))
    False
    """
    import hashlib

    return hashlib.sha256(f"{DERIVED_VERSION}:{settings!r}".encode()).hexdigest()[:16]
