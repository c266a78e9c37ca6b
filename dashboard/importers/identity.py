"""Which stored patient a file's row names: the natural key is clinic + the clinic's own id.

Two clinics of one network may give the same pseudonymous id to two people. A row names its
patient by ``patient_id`` (the clinic's id, stored as ``source_id``) and, when the file says,
``clinic_id`` (a column, or ``--clinic`` for the whole file):

- with a clinic: the patient of that clinic with that id; else the patient with that id who
  is still in clinic ``main`` (created by a file that named no clinic: it is placed in this
  clinic, audited); else a new patient of that clinic;
- without one: the one stored patient with that id (whatever its clinic). If two clinics have
  a patient with that id the row is ambiguous and the file is refused, naming the line; if
  none has, a new patient is created in clinic ``main``.

Every other table refers to a patient by its key, ``patients.patient_id``, and the dashboard
shows the key. A new patient's key is its id when no stored patient holds that key, else
``id@clinic`` (an id longer than that allows is shortened and given a hash of the pair). Keys
never change, so links, audit entries and signal states stay valid; a clinic whose ids are
unique database-wide sees its own ids everywhere.

Example:
    >>> patient_key("P1", "north", taken={"P1"})
    'P1@north'
    >>> patient_key("P1", "north", taken=set())
    'P1'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard.db.models import ID_LENGTH
from dashboard.importers.parse import RowIssue

__all__ = ["patient_key", "key_candidates", "Resolution", "resolve_patients", "DEFAULT_CLINIC"]

#: Where a patient goes when no file names a clinic for it.
DEFAULT_CLINIC = "main"


def key_candidates(source_id: str, clinic_id: str) -> list[str]:
    """The keys a new patient may be given, in order of preference (see module doc)."""
    qualified = f"{source_id}@{clinic_id}"
    digest = hashlib.sha256(f"{clinic_id}\x1f{source_id}".encode()).hexdigest()[:12]
    hashed = f"{source_id[:ID_LENGTH - 13]}@{digest}"
    return [source_id, qualified if len(qualified) <= ID_LENGTH else hashed, hashed]


def patient_key(source_id: str, clinic_id: str, *, taken: set[str]) -> str | None:
    """The key of a new patient: the first candidate no stored or earlier patient holds
    (None when all are held: practically impossible, the last one carries a 48-bit hash)."""
    for key in key_candidates(source_id, clinic_id):
        if key not in taken:
            return key
    return None


@dataclass
class Resolution:
    """A file's rows with ``patient_id`` replaced by the stored (or new) patient's key."""

    records: pd.DataFrame
    #: new patients: key -> (clinic, source id)
    new_patients: dict[str, tuple[str, str]] = field(default_factory=dict)
    conflicts: list[RowIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: stored patients of clinic ``main`` a row places in its clinic: key -> clinic
    placed: dict[str, str] = field(default_factory=dict)


def resolve_patients(records: pd.DataFrame, stored: pd.DataFrame, *,
                     create: bool = True) -> Resolution:
    """Name each row's patient (see module doc).

    Args:
        records: parsed rows with ``patient_id`` (the clinic's id), ``line`` and optionally
            ``clinic_id`` (missing values: not given).
        stored: :func:`dashboard.db.repository.patients_named` for the file's ids and every
            candidate key (:func:`key_candidates`).
        create: False for files of stored sessions (monitoring, events): a row naming no stored
            patient keeps its id and is reported by the session match.

    Returns the rows with ``patient_id`` = key, ``source_id`` = the file's id and ``clinic_id``
    = the patient's clinic; the new patients; the ambiguous rows; a warning per id that now
    names patients of two clinics.
    """
    rec = records.copy(deep=False)   # columns are replaced, never written into
    # the rule is applied to each distinct (clinic, id) pair once and spread to its rows (a
    # network's file names 100k patients in 2.6M rows)
    pair_of_row, pairs = _pairs(rec)
    by_pair = {(c, s): k for k, s, c in stored[["patient_id", "source_id", "clinic_id"]]
               .itertuples(index=False)}
    by_source: dict[str, list[tuple[str, str]]] = {}
    for (c, s), k in by_pair.items():
        by_source.setdefault(s, []).append((k, c))
    taken = set(stored["patient_id"])
    new: dict[str, tuple[str, str]] = {}
    out = Resolution(records=rec)
    # rows naming their clinic first, in file order: they create the patients that rows
    # without a clinic may then name
    for (clinic, source) in dict.fromkeys(pairs):
        if clinic is None or source is None or (clinic, source) in by_pair:
            continue
        waiting = by_pair.get((DEFAULT_CLINIC, source))
        if waiting is not None and not create:
            by_pair[(clinic, source)] = waiting   # matched, not placed, by a monitoring file
            continue
        if waiting is not None and waiting not in new:  # a stored patient awaiting its clinic
            del by_pair[(DEFAULT_CLINIC, source)]
            by_pair[(clinic, source)] = waiting
            by_source[source] = [(k, clinic if k == waiting else c)
                                 for k, c in by_source[source]]
            out.placed[waiting] = clinic
            continue
        if not create:
            continue
        key = patient_key(source, clinic, taken=taken)
        if key is None:
            continue
        taken.add(key)
        new[key] = (clinic, source)
        by_pair[(clinic, source)] = key
        by_source.setdefault(source, []).append((key, clinic))
    for source in dict.fromkeys(s for c, s in pairs if s is not None and c is None):
        if not by_source.get(source) and create:
            key = patient_key(source, DEFAULT_CLINIC, taken=taken)
            if key is not None:
                taken.add(key)
                new[key] = (DEFAULT_CLINIC, source)
                by_pair[(DEFAULT_CLINIC, source)] = key
                by_source[source] = [(key, DEFAULT_CLINIC)]
    keys, clinics, reasons = [], [], []
    for clinic, source in pairs:
        named = [(by_pair[(clinic, source)], clinic)] if (clinic, source) in by_pair \
            else [] if clinic is not None else by_source.get(source, [])
        reason = None
        if source is None or len(named) == 1:
            keys.append(named[0][0] if named else None)
            clinics.append(named[0][1] if named else clinic)
        else:
            keys.append(None)   # names no patient, or two: the row is refused
            clinics.append(clinic)
            if named:
                where = ", ".join(sorted(c for _, c in named))
                reason = (f"patient id {source} is used by more than one clinic ({where}): "
                          "add a clinic_id column, or import the file with --clinic")
            else:
                reason = (f"no patient {source}" + (f" of clinic {clinic}" if clinic else "")
                          + " is stored: import the patients or sessions file first")
        reasons.append(reason)
    refused = np.array([r is not None for r in reasons], dtype=bool)
    lines = rec["line"].to_numpy()
    for row in np.flatnonzero(refused[pair_of_row]):
        out.conflicts.append(RowIssue(int(lines[row]), "patient_id",
                                      reasons[pair_of_row[row]]))
    rec["source_id"] = rec["patient_id"]
    # the distinct pairs' answers spread to the rows by one take each (no 2.6M Python objects)
    rec["patient_id"] = pd.array(keys, dtype="str").take(pair_of_row)
    rec["clinic_id"] = pd.array(clinics, dtype="str").take(pair_of_row)
    for key, (clinic, source) in new.items():
        others = sorted(c for k, c in by_source.get(source, []) if k != key)
        if others:
            out.warnings.append(
                f"patient id {source} of clinic {clinic} is a new patient, apart from the "
                f"patient with that id in clinic {', '.join(others)} (shown as {key}); a "
                "patient who changed clinic is moved with `kap-outcomes patient move`, not by "
                "a file")
    out.new_patients = new
    out.records = rec
    return out


def _pairs(rec: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str | None, str | None]]]:
    """Each row's (clinic given, patient id) pair as an index into the distinct pairs, in the
    order of their first row; an empty or missing clinic or id is None."""
    def text(values) -> tuple[np.ndarray, list[str | None]]:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        return codes, [v if isinstance(v, str) and v else None for v in uniques] + [None]

    n = len(rec)
    c_codes, c_vals = text(rec["clinic_id"] if "clinic_id" in rec.columns else [None] * n)
    s_codes, s_vals = text(rec["patient_id"])
    # code -1 (missing) takes the trailing None of each list
    both = (c_codes.astype(np.int64) % len(c_vals)) * len(s_vals) \
        + s_codes.astype(np.int64) % len(s_vals)
    pair_of_row, distinct = pd.factorize(both)
    pairs = [(c_vals[int(p) // len(s_vals)], s_vals[int(p) % len(s_vals)]) for p in distinct]
    return pair_of_row, pairs
