"""A clinician's caseload: where each patient stands today and when the next score is due.

Schedule (settings, ``definitions.md`` silent; the issue's default): a score every
``schedule_induction_days`` (7) during induction, then every ``schedule_follow_up_days`` (14) for
``schedule_follow_up_window_days`` (90) after induction ends; after that no routine score is
due. The next score is due one interval after the latest score of the current course (or after
its first dose when it has none); it is overdue once that date has passed.

Everything is "as of" a date passed in (no clock here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schemas as S
from analysis.alignment import Alignment
from analysis.signals import days_since, is_current, last_contacts

__all__ = ["caseload", "caseload_from", "schedule_status", "standing", "STANDING_COLUMNS"]


def _schedule(today: pd.Timestamp, first: pd.Series, end: pd.Series, last: pd.Series,
              settings) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Vectorised schedule: phase, next due date, days overdue (NaN when not overdue)."""
    end = pd.to_datetime(end).dt.normalize()
    induction = today <= end
    follow = ~induction & (today <= end + pd.Timedelta(days=settings.schedule_follow_up_window_days))
    phase = np.select([induction.to_numpy(), follow.to_numpy()], ["induction", "follow-up"],
                      "beyond follow-up")
    every = pd.Series(np.where(induction, settings.schedule_induction_days,
                               settings.schedule_follow_up_days), index=end.index)
    since = pd.to_datetime(last).fillna(pd.to_datetime(first)).dt.normalize()
    due = (since + pd.to_timedelta(every, unit="D")).where(induction | follow)
    late = (today - due).dt.days
    overdue = late.where(late > 0)
    return phase, due, overdue


def schedule_status(*, as_of: pd.Timestamp, first_dose_at: pd.Timestamp,
                    induction_end_at: pd.Timestamp, last_score_at: pd.Timestamp | None,
                    settings) -> tuple[str, pd.Timestamp | None, int | None]:
    """(phase today, next score due, days overdue) of one course under the schedule.

    Phases: ``induction`` (up to induction end), ``follow-up`` (within the follow-up window),
    ``beyond follow-up`` (no routine score due).

    >>> from analysis.settings import Settings
    >>> t = pd.Timestamp
    >>> schedule_status(as_of=t("2025-01-20"), first_dose_at=t("2025-01-01"),
    ...                 induction_end_at=t("2025-01-15"), last_score_at=t("2025-01-10"),
    ...                 settings=Settings())
    ('follow-up', Timestamp('2025-01-24 00:00:00'), None)
    """
    phase, due, overdue = _schedule(
        pd.Timestamp(as_of).normalize(), pd.Series([pd.Timestamp(first_dose_at)]),
        pd.Series([pd.Timestamp(induction_end_at)]),
        pd.Series([pd.NaT if last_score_at is None else pd.Timestamp(last_score_at)]), settings)
    return (str(phase[0]), None if pd.isna(due.iloc[0]) else due.iloc[0],
            None if pd.isna(overdue.iloc[0]) else int(overdue.iloc[0]))


#: The columns of :func:`standing` (per instrument ``<code>_last`` and ``<code>_change``
#: follow).
STANDING_COLUMNS = [S.PATIENT_ID, S.COURSE_ID, S.COURSE_NUMBER, "first_dose_at",
                    "induction_end_at", "last_score_at", "last_contact_at"]


def standing(alignment: Alignment) -> pd.DataFrame:
    """Where each patient's own records leave them, whatever the date: their current (latest)
    course, the last score of each instrument (of that course; of any time for a patient with
    no course) with its change from baseline (none for a last score dated up to the first
    dose: the baseline itself), and their latest score and contact. One row per
    patient, :data:`STANDING_COLUMNS` then ``<code>_last`` (points) and ``<code>_change``
    (fraction) for PHQ-9, GAD-7 and PCL-5. Stored per patient at import
    (:mod:`analysis.derive`); :func:`caseload_from` adds the schedule of a day.
    """
    c = alignment.courses.sort_values([S.PATIENT_ID, S.COURSE_NUMBER])
    latest = c.drop_duplicates(S.PATIENT_ID, keep="last")[
        [S.PATIENT_ID, S.COURSE_ID, S.COURSE_NUMBER, "first_dose_at", "induction_end_at"]]
    a = alignment.assessments
    a = a[a[S.TOTAL].notna() & ~a[S.SUPERSEDED]]
    in_course = a.merge(latest[[S.PATIENT_ID, S.COURSE_ID]], on=[S.PATIENT_ID, S.COURSE_ID])
    loose = a[~a[S.PATIENT_ID].isin(latest[S.PATIENT_ID])]
    scores = pd.concat([in_course, loose], ignore_index=True).sort_values(S.ADMINISTERED_AT)
    last = scores.groupby([S.PATIENT_ID, S.INSTRUMENT]).last()[
        [S.TOTAL, S.PCT_CHANGE, S.ADMINISTERED_AT]]
    # a last score from before the first dose is the baseline itself (or older): it has no
    # change from baseline to show (it showed "+0%", as if treatment had done nothing)
    first_dose = latest.set_index(S.PATIENT_ID)["first_dose_at"]
    before = last[S.ADMINISTERED_AT].to_numpy() <= first_dose.reindex(
        last.index.get_level_values(S.PATIENT_ID)).to_numpy()
    last.loc[before, S.PCT_CHANGE] = np.nan
    wide = last.drop(columns=S.ADMINISTERED_AT).unstack(S.INSTRUMENT)
    out = latest.set_index(S.PATIENT_ID).join(
        scores.groupby(S.PATIENT_ID)[S.ADMINISTERED_AT].max().rename("last_score_at"),
        how="outer")
    out["last_contact_at"] = last_contacts(alignment).reindex(out.index)
    for code in ("PHQ9", "GAD7", "PCL5"):
        out[f"{code}_last"] = wide[(S.TOTAL, code)] if (S.TOTAL, code) in wide else np.nan
        out[f"{code}_change"] = wide[(S.PCT_CHANGE, code)] if (S.PCT_CHANGE, code) in wide \
            else np.nan
    out.index.name = S.PATIENT_ID
    out = out.reset_index()
    out[S.COURSE_NUMBER] = out[S.COURSE_NUMBER].astype("Int64")
    return out


def caseload(alignment: Alignment, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per patient: :func:`caseload_from` of :func:`standing`."""
    return caseload_from(standing(alignment), as_of=as_of, settings=alignment.settings)


def caseload_from(standing: pd.DataFrame, *, as_of: pd.Timestamp, settings) -> pd.DataFrame:
    """One row per patient: their current (latest) course, the last score of each instrument
    with its change from baseline, the phase today, days since the last score, the next score
    due and whether it is overdue (vectorised: a 100k-patient clinic in seconds).

    Parameters
    ----------
    standing : :func:`standing` (of one alignment, or stored per patient)
    as_of : "today"
    settings : the schedule (``schedule_*`` fields)

    Returns
    -------
    DataFrame with ``patient_id``, ``course_id``, ``course_number``, ``first_dose_at``,
    ``phase``, ``day_of_course`` (whole days since the first dose, as of), ``last_score_at``,
    ``days_since_score``, ``last_contact_at``, ``days_since_contact`` (any session or score),
    ``current`` (:func:`analysis.signals.is_current`),
    ``next_due``, ``days_overdue`` (NaN when not overdue), and per instrument ``<code>_last``
    (total) and ``<code>_change`` (fraction change from baseline), sorted most overdue first
    (then longest since a score, then by patient). Patients with scores but no course get a
    row with phase ``no course yet``.
    """
    as_of = pd.Timestamp(as_of)
    today = as_of.normalize()
    out = standing.copy()
    has = out[S.COURSE_ID].notna()
    phase, due, overdue = _schedule(today, out["first_dose_at"], out["induction_end_at"],
                                    out["last_score_at"], settings)
    out["phase"] = np.where(has, phase, "no course yet")
    out["next_due"] = due.where(has)
    out["days_overdue"] = overdue.where(has)
    out["day_of_course"] = days_since(out["first_dose_at"], as_of)
    out["days_since_score"] = days_since(out["last_score_at"], as_of)
    out["days_since_contact"] = days_since(out["last_contact_at"], as_of)
    out["current"] = is_current(out["last_contact_at"], as_of, settings)
    return out.drop(columns=["induction_end_at"]).sort_values(
        ["days_overdue", "days_since_score", S.PATIENT_ID], ascending=[False, False, True],
        na_position="last").reset_index(drop=True)
