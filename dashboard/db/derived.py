"""Keeping the derived tables current, and reading them: each patient's courses, outcomes with
bin means, latest contact, standing, signal inputs, aligned sessions and induction scores
(:mod:`analysis.derive`), plus the clinic's expected-course models fitted on those induction
scores, stored so no page, CLI command or report lines up every score.

- Every import recomputes the patients it touched, in its own transaction
  (:func:`refresh`): the tables are never behind the records a reader sees.
- The tables carry the key of the settings they were made under. Under other settings (a
  clinic changed a threshold, or a version of the code that derives more or otherwise:
  :data:`analysis.derive.DERIVED_VERSION` is part of the key) readers
  compute from the records instead; an import made then marks the tables current under no
  settings (they now miss its records) and says so in its report; :func:`rebuild`
  (``kap-outcomes derive``, which ``kap-outcomes init`` runs when needed) makes them anew,
  chunk by chunk of whole patient buckets with a progress bar, under the import lock.
- Every refresh and rebuild refits the expected-course models (:func:`refit_models`): they
  depend on every patient, so they are stored whole, never per patient.
- Readers take :func:`read` (each kind loaded on first use) and :func:`clinic_signals` (the
  signals of a day from the stored inputs, the stored models and the recent sessions'
  safety records): the dashboard, the CLI and the report share them.
- An import of monitoring or adverse events recomputes the session safety records alone of
  the patients it names (``refresh(..., safety_only=True)``): no course or outcome depends on
  them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from analysis.alignment import align
from analysis.derive import (
    Derived,
    derive,
    derive_alignment,
    session_safety_records,
    settings_key,
)
from analysis.expected import (
    INDUCTION_COLUMNS,
    ExpectedModel,
    fit_expected_models,
    model_quantiles,
    models_from_frame,
    models_to_frame,
)
from analysis.settings import Settings
from analysis.signals import assemble_signals
from dashboard.db import repository
from dashboard.db.models import DERIVED_KINDS, MODELS_KIND, Patient

__all__ = ["refresh", "rebuild", "refit_models", "is_current", "move_patient", "CHUNK", "read",
           "DerivedTables", "recent_sessions", "clinic_signals", "WrittenRecords"]

#: Patients derived at a time (memory stays bounded at network scale).
CHUNK = 5_000


_SESSION_COLUMNS = ("patient_id", "session_at", "kind", "route", "dose_mg", "weight_kg",
                    "course_id", "clinician_id")
_SCORE_COLUMNS = ("patient_id", "instrument", "administered_at", "total", "prorated", "item_9")


class WrittenRecords:
    """The sessions and scores an import wrote, for the patients it created: those rows are
    every record these patients have, so their derivation takes them from here instead of
    reading them back inside the transaction (10 s of a 100k-patient clinic's first import).
    Typed as :func:`dashboard.db.repository.frames_in_transaction` reads them (a test asserts
    the derived results equal a recomputation from the stored records)."""

    def __init__(self) -> None:
        self.created: set[str] = set()
        self._parts: dict[str, list[pd.DataFrame]] = {"sessions": [], "assessments": []}
        self._frames: dict[str, tuple[pd.DataFrame, np.ndarray, pd.Index]] = {}

    def add(self, kind: str, written: pd.DataFrame, created: Iterable[str]) -> None:
        """Rows of ``kind`` written by one file, and the patients that file created."""
        self.created.update(created)
        if kind in self._parts and len(written):
            columns = _SESSION_COLUMNS if kind == "sessions" else _SCORE_COLUMNS
            self._parts[kind].append(written.reindex(columns=list(columns)))
            self._frames.pop(kind, None)

    def _frame(self, kind: str) -> tuple[pd.DataFrame, np.ndarray, pd.Index]:
        if kind not in self._frames:
            columns = list(_SESSION_COLUMNS if kind == "sessions" else _SCORE_COLUMNS)
            parts = self._parts[kind]
            frame = (pd.concat(parts, ignore_index=True) if parts
                     else pd.DataFrame({c: pd.Series(dtype=object) for c in columns}))
            # text as a read gives it (objects, None), the rest as every reader types it
            text = (("kind", "route", "course_id", "clinician_id") if kind == "sessions"
                    else ("instrument",))
            for col in ("patient_id", *text):
                frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
            if kind == "sessions":
                repository.type_sessions(frame)
            else:
                repository.type_scores(frame, ["item_9"])
            codes, uniques = pd.factorize(frame["patient_id"])
            self._frames[kind] = (frame, codes, pd.Index(uniques, dtype=object))
        return self._frames[kind]

    def rows_of(self, kind: str, patient_ids: Sequence[str]) -> pd.DataFrame:
        """The written rows of ``kind`` of these patients."""
        frame, codes, uniques = self._frame(kind)
        wanted = np.zeros(len(uniques) + 1, dtype=bool)
        at = uniques.get_indexer(pd.Index(list(patient_ids), dtype=object))
        wanted[at[at >= 0]] = True
        return frame[wanted[codes]].reset_index(drop=True)


def _frames(conn: Connection, patient_ids: Sequence[str],
            written: WrittenRecords | None) -> repository.Frames:
    """The records of these patients: those the import created from ``written``, the others
    read on the import's connection."""
    fresh = [] if written is None else [p for p in patient_ids if p in written.created]
    if not fresh:
        return repository.frames_in_transaction(conn, patient_ids)
    taken = set(fresh)
    f = repository.frames_in_transaction(conn, patient_ids,
                                         records_of=[p for p in patient_ids if p not in taken])

    def joined(stored: pd.DataFrame, mine: pd.DataFrame) -> pd.DataFrame:
        if stored.empty:
            return mine
        return pd.concat([stored, mine.astype(stored.dtypes.to_dict(), errors="ignore")],
                         ignore_index=True) if len(mine) else stored

    return repository.Frames(
        patients=f.patients,
        sessions=joined(f.sessions, written.rows_of("sessions", fresh)),
        assessments=joined(f.assessments, written.rows_of("assessments", fresh)))


def _derive_chunk(conn: Connection, patient_ids: Sequence[str], settings: Settings,
                  written: WrittenRecords | None = None) -> set[str]:
    """Derive and store these patients; returns the kinds whose rows changed."""
    f = _frames(conn, patient_ids, written)
    sf = repository.safety_in_transaction(conn, patient_ids)
    derived = derive(f.assessments, f.sessions, f.patients, settings=settings,
                     monitoring=sf.monitoring, events=sf.events)
    return repository.write_derived(conn, derived, patient_ids)


@dataclass(frozen=True)
class _SafetyOnly:
    safety: pd.DataFrame


def _derive_safety_chunk(conn: Connection, patient_ids: Sequence[str], settings: Settings,
                         written: WrittenRecords | None = None) -> set[str]:
    """Recompute and store these patients' session safety records alone (after an import of
    monitoring or adverse events: no course or outcome changes), from their stored aligned
    sessions; returns ``{"safety"}`` when their rows changed."""
    sessions = repository.derived_rows_in(conn, "sessions", patient_ids)
    if sessions is None:   # nothing derived yet: the whole derivation makes the sessions too
        return _derive_chunk(conn, patient_ids, settings, written)
    sf = repository.safety_in_transaction(conn, patient_ids)
    table = session_safety_records(sessions, sf.monitoring, sf.events, settings=settings)
    return repository.write_derived(conn, _SafetyOnly(table), patient_ids, kinds=("safety",))


def _chunks_by_bucket(patient_ids: Sequence[str]) -> list[list[str]]:
    """The patients in chunks of whole buckets (about :data:`CHUNK` patients each), so each
    bucket is rewritten once however many patients an import touches."""
    ids = pd.Series(sorted(set(patient_ids)), dtype=object)
    if ids.empty:
        return []
    groups = ids.groupby(repository.patient_buckets(ids), sort=True)
    chunks: list[list[str]] = [[]]
    for _, members in groups:
        if chunks[-1] and len(chunks[-1]) + len(members) > CHUNK:
            chunks.append([])
        chunks[-1].extend(members.tolist())
    return chunks


def refresh(conn: Connection, patient_ids: Sequence[str], settings: Settings, *,
            was_empty: bool, safety_only: bool = False,
            written: WrittenRecords | None = None,
            progress: Callable[[int, int], None] | None = None) -> bool:
    """Recompute the derived rows of ``patient_ids`` inside the import's transaction, if the
    tables are current under ``settings`` (or the database held no records before this
    import, so these patients are all there is). ``safety_only``: only their session safety
    records changed (an import of monitoring or adverse events). ``written``: the records
    the import wrote for the patients it created (not read back). Returns whether the tables
    are current."""
    key = settings_key(settings)
    stored = repository.derived_key(conn)
    if stored != key:
        if not was_empty:
            # the tables were made under other settings: they now miss this import, so no
            # reader may take them for current under any settings until a rebuild
            repository.clear_derived_key(conn)
            return False
        repository.clear_derived(conn)
        repository.set_derived_key(conn, key)
    done, chunks = 0, _chunks_by_bucket(patient_ids)
    total = sum(len(c) for c in chunks)
    changed: set[str] = set()
    one_chunk = _derive_safety_chunk if safety_only else _derive_chunk
    for chunk in chunks:
        changed |= one_chunk(conn, chunk, settings, written)
        done += len(chunk)
        if progress:
            progress(done, total)
    if "induction" in changed:
        # the models are a function of the induction scores alone: unchanged scores (a
        # follow-up score, a new clinician) leave them exactly as they are
        refit_models(conn, settings)
    return True


def refit_models(conn: Connection, settings: Settings) -> None:
    """Fit the clinic's expected-course models on every patient's stored induction scores
    and store them (inside the caller's transaction): every import that changes a patient's
    induction scores refits them, so a reader never fits (about 6 s at 100k patients) and the
    models are never older than the records."""
    scores = repository.derived_kind_in(conn, "induction")
    if scores is None:
        scores = pd.DataFrame(columns=INDUCTION_COLUMNS)
    repository.write_models(conn, models_to_frame(fit_expected_models(
        scores, settings=settings, quantiles=model_quantiles(settings))))


def is_current(engine: Engine, settings: Settings) -> bool:
    """Whether the derived tables hold every patient's results under ``settings``."""
    with engine.connect() as conn:
        return repository.derived_key(conn) == settings_key(settings) or \
            not repository.has_records(conn)


def rebuild(engine: Engine, settings: Settings, *,
            progress: Callable[[int, int], None] | None = None,
            only_if_stale: bool = False) -> int:
    """Make the derived tables anew for every patient under ``settings`` (one transaction,
    under the import lock so no import interleaves); returns the number of patients.
    ``only_if_stale``: do nothing (and return 0) when, once the lock is held, they are already
    current under ``settings`` (another process rebuilt them while this one waited)."""
    with repository.import_lock(engine), engine.begin() as conn:
        if only_if_stale and repository.derived_key(conn) == settings_key(settings):
            return 0
        ids = list(conn.execute(select(Patient.__table__.c.patient_id)
                                .order_by(Patient.__table__.c.patient_id)).scalars())
        repository.clear_derived(conn)
        done = 0
        if progress:
            progress(0, len(ids))
        for chunk in _chunks_by_bucket(ids):
            _derive_chunk(conn, chunk, settings)
            done += len(chunk)
            if progress:
                progress(done, len(ids))
        refit_models(conn, settings)
        repository.set_derived_key(conn, settings_key(settings))
    return len(ids)


def move_patient(engine: Engine, patient_id: str, clinic_id: str, *,
                 clinician_id: str | None, actor: str, settings: Settings) -> str | None:
    """:func:`dashboard.db.repository.move_patient` and the patient's derived results (their
    courses' clinic and clinician) in one transaction; None when done, else why not."""
    with repository.import_lock(engine), engine.begin() as conn:
        problem = repository.move_patient(conn, patient_id, clinic_id,
                                          clinician_id=clinician_id, actor=actor)
        if problem is None:
            refresh(conn, [patient_id], settings, was_empty=False)
    return problem


# --- reading: what the dashboard, the CLI and the report share ------------------------------

class DerivedTables:
    """Every patient's derived results under one settings, each kind (an attribute named as
    in :class:`analysis.derive.Derived`) read on first use and kept: an overview reads its
    outcomes, courses and contacts, never the signals' inputs it does not show. Under other
    settings than the tables were made for, every kind is computed from the records at once
    (by the same function) instead.

    Kinds read at different moments may belong to different imports (an import landed in
    between): each is whole and current when read, and the dashboard's next run takes a new
    reader (its cache key is the data version).
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    def models(self, quantiles: Sequence[float]) -> dict[str, ExpectedModel]:
        """The clinic's expected-course models predicting at ``quantiles``: the stored ones
        (refitted by every import), else fitted here on the induction scores."""
        with self._lock:
            if MODELS_KIND not in self._frames:
                stored = repository.load_derived_kind(self._engine,
                                                      settings_key(self._settings), MODELS_KIND)
                self._frames[MODELS_KIND] = stored
        stored = self._frames[MODELS_KIND]
        got = None if stored is None else models_from_frame(stored, settings=self._settings,
                                                            quantiles=quantiles)
        if got is not None:
            return got
        return fit_expected_models(self.induction, settings=self._settings,
                                   quantiles=quantiles)

    def __getattr__(self, kind: str) -> pd.DataFrame:
        if kind not in DERIVED_KINDS:
            raise AttributeError(kind)
        with self._lock:
            if kind not in self._frames:
                frame = repository.load_derived_kind(self._engine,
                                                     settings_key(self._settings), kind)
                if frame is None:
                    computed = _from_records(self._engine, self._settings)
                    self._frames.update({k: getattr(computed, k) for k in DERIVED_KINDS})
                else:
                    self._frames[kind] = frame
            return self._frames[kind]


def _from_records(engine: Engine, settings: Settings) -> Derived:
    f = repository.load_frames(engine, item_columns=("item_9",))
    sf = repository.load_safety(engine)
    return derive_alignment(align(f.assessments, f.sessions, settings=settings), f.patients,
                            sf.monitoring, sf.events)


def read(engine: Engine, settings: Settings) -> DerivedTables:
    """Every patient's derived results under ``settings`` (:class:`DerivedTables`): the stored
    tables when they were made under these settings, else computed from the records by the
    same function (a clinic that changed a threshold sees correct figures before
    ``kap-outcomes derive`` has run)."""
    return DerivedTables(engine, settings)


def recent_sessions(safety: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """The safety records of the dosing sessions from ``since`` on (the session signals'
    input), from the derived ``safety`` records (no monitoring row is read)."""
    return safety[safety["session_at"] >= since].reset_index(drop=True)


def clinic_signals(engine: Engine, settings: Settings, as_of: pd.Timestamp, *,
                   derived: DerivedTables | None = None,
                   models: dict[str, ExpectedModel] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every patient's signals on ``as_of`` (:func:`analysis.signals.assemble_signals`): what
    each patient's own records raise and their off-track candidates come from the derived
    results, the expected-course models are the stored ones
    (:meth:`DerivedTables.models`), and the session signals come from the derived safety
    records of the sessions of the last ``active_days``. ``derived`` and ``models`` may be passed when the caller holds
    them (the dashboard caches both)."""
    d = derived if derived is not None else read(engine, settings)
    if models is None:
        models = d.models((settings.off_track_percentile / 100,))
    since = pd.Timestamp(as_of) - pd.Timedelta(days=settings.active_days + 1)
    return assemble_signals(d.signals, d.candidates,
                            d.contacts.set_index("patient_id")["last_contact"], models=models,
                            as_of=pd.Timestamp(as_of), settings=settings,
                            sessions=recent_sessions(d.safety, since))
