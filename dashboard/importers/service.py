"""Importing one file: all or nothing, every bad row reported, re-imports add nothing.

``import_file`` reads, parses and validates a file, compares it with what is stored (rows already
present are skipped; rows that contradict a stored one are conflicts) and writes it in one
transaction, recording its provenance. A dry run does everything but write.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from analysis._validation import category_codes
from analysis.settings import Settings
from dashboard.config import settings_in_force
from dashboard.db import derived, repository
from dashboard.db.models import ID_LENGTH
from dashboard.importers.fhir import is_fhir, parse_fhir
from dashboard.importers.identity import DEFAULT_CLINIC, key_candidates, resolve_patients
from dashboard.importers.limits import TooLarge, limits
from dashboard.importers.parse import DateOrder, Kind, Parsed, RowIssue, parse
from dashboard.importers.reading import FileError, read_file

__all__ = ["ImportReport", "import_file", "import_files", "NOT_IMPORTED_WITH_BATCH"]

log = logging.getLogger(__name__)

_VALUES = {"patients": ["clinic_id", "clinician_id", "indication", "birth_year", "sex"],
           "sessions": ["route", "dose_mg", "weight_kg", "course_id"],
           "assessments": ["total"] + repository.ITEM_COLUMNS,
           "monitoring": repository.MONITORING_VALUES,
           "adverse_events": repository.EVENT_VALUES}
_ONE = {"patients": "patient", "sessions": "session", "assessments": "assessment",
        "monitoring": "monitoring row", "adverse_events": "adverse event"}
#: Kinds whose rows belong to a stored dosing session (never create patients or sessions).
_SESSION_BOUND = ("monitoring", "adverse_events")


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do).

    ``ok`` is False when anything was rejected; then nothing was written. ``errors`` holds the
    file-level error (if any) and every bad row; ``conflicts`` the rows contradicting stored data.
    """

    file_name: str
    sha256: str = ""
    kind: str | None = None
    dry_run: bool = False
    rows_total: int = 0
    rows_added: int = 0
    rows_skipped: int = 0
    duplicates_in_file: int = 0
    patients_created: list[str] = field(default_factory=list)
    patients_moved: list[str] = field(default_factory=list)
    file_error: str | None = None
    errors: list[RowIssue] = field(default_factory=list)
    conflicts: list[RowIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    batch_id: int | None = None
    too_large: bool = False  #: the file was over a cap (bytes, rows, columns): exit 2
    errors_total: int = 0    #: bad cells in all, when more than are listed

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.errors and not self.conflicts

    @property
    def rows_rejected(self) -> int:
        return len({i.line for i in self.errors + self.conflicts})

    def summary(self) -> str:
        """One line for people (no cell values: they may be patient data)."""
        verb = "would add" if self.dry_run else "added"
        if self.file_error:
            return f"{self.file_name}: rejected: {self.file_error}"
        if not self.ok:
            return (f"{self.file_name}: rejected, nothing written: "
                    f"{max(len(self.errors), self.errors_total)} bad cell(s) "
                    f"and {len(self.conflicts)} conflict(s) in {self.rows_rejected} row(s)")
        return (f"{self.file_name}: {self.kind}, {self.rows_total} row(s): {verb} "
                f"{self.rows_added}, skipped {self.rows_skipped} already stored"
                + (f", {self.duplicates_in_file} repeated in the file"
                   if self.duplicates_in_file else "")
                + (f", {len(self.patients_created)} new patient(s)"
                   if self.patients_created else "")
                + (f", {len(self.patients_moved)} patient(s) moved to another clinic or "
                   "clinician" if self.patients_moved else ""))

    def problems(self) -> list[str]:
        """Every rejected row as ``line N, column: reason``, sorted by line."""
        return [str(i) for i in sorted(self.errors + self.conflicts)]


class _Rejected(Exception):
    """Raised inside the transaction to roll it back."""


def import_file(engine: Engine, source: str | Path | bytes, *, name: str | None = None,
                kind: Kind | None = None, date_order: DateOrder = "iso", dry_run: bool = False,
                actor: str | None = None, max_missing_items: int = 0,
                sheet: str | None = None, patient_identifier_system: str | None = None,
                clinic: str | None = None, settings: Settings | None = None,
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import one file (CSV, XLSX, FHIR JSON/NDJSON) into the database at ``engine``.

    Args:
        source: a path or the file's bytes (uploads); ``name`` names bytes in reports.
        kind: ``patients``, ``sessions``, ``assessments``, ``monitoring`` or
            ``adverse_events``; detected from the headers if None.
        date_order: ``iso`` (default), ``dayfirst`` or ``monthfirst`` for slash dates.
        dry_run: validate and compare, write nothing.
        settings: what the derived results of the touched patients are computed under
            (:mod:`dashboard.db.derived`); default the settings in force.
        clinic: the clinic of every row (``--clinic``): it names the patients with their ids
            (:mod:`dashboard.importers.identity`); a row naming another clinic is an error.
    """
    return import_files(engine, [source], names=None if name is None else [name], kind=kind,
                        date_order=date_order, dry_run=dry_run, actor=actor,
                        max_missing_items=max_missing_items, sheet=sheet,
                        patient_identifier_system=patient_identifier_system, clinic=clinic,
                        settings=settings,
                        progress=None if progress is None else [progress])[0]


#: What a report of a file says when it was valid but another file of its batch was not.
NOT_IMPORTED_WITH_BATCH = "not imported: another file of the same import was rejected"


def import_files(engine: Engine, sources: Sequence[str | Path | bytes], *,
                 names: Sequence[str] | None = None, kind: Kind | None = None,
                 date_order: DateOrder = "iso", dry_run: bool = False,
                 actor: str | None = None, max_missing_items: int = 0,
                 sheet: str | None = None, patient_identifier_system: str | None = None,
                 clinic: str | None = None, settings: Settings | None = None,
                 progress: Sequence[Callable[[int, int], None] | None] | None = None
                 ) -> list[ImportReport]:
    """Import several files in one transaction (a clinic's export: patients, sessions,
    scores, monitoring, events): all of them land, or none does. Each file is checked and
    written as :func:`import_file` does it, in the order given (a file may name patients or
    sessions an earlier one created); the derived results are computed once at the end for
    every patient any file touched (a whole clinic's first import derives each patient once,
    not once per file). Returns one report per file; when any file is rejected, every other
    valid file's report says it was not imported (:data:`NOT_IMPORTED_WITH_BATCH`).

    The options are those of :func:`import_file`, for every file; ``names`` and ``progress``
    (one per file) are optional.
    """
    reports, parsed_files = [], []
    for i, source in enumerate(sources):
        report, parsed = _prepare(source, None if names is None else names[i], kind=kind,
                                  date_order=date_order, dry_run=dry_run,
                                  max_missing_items=max_missing_items, sheet=sheet,
                                  patient_identifier_system=patient_identifier_system,
                                  clinic=clinic)
        reports.append(report)
        parsed_files.append(parsed)
    if any(p is None for p in parsed_files):
        return _batch_failed(reports)
    lock = contextlib.nullcontext() if dry_run else repository.import_lock(engine)
    failed = False
    try:
        with lock, engine.begin() as conn:
            was_empty = not repository.has_records(conn)
            full: set[str] = set()
            safety: set[str] = set()
            written = derived.WrittenRecords()
            for i, (report, parsed) in enumerate(zip(reports, parsed_files, strict=True)):
                cmp = _compare(conn, parsed)
                _apply(conn, parsed, cmp, report, dry_run=dry_run, actor=actor,
                       progress=None if progress is None else progress[i])
                if not report.ok:
                    failed = True
                    continue
                written.add(parsed.kind, cmp.new, cmp.new_patients)
                touched = _touched(parsed.kind, cmp.new, cmp)
                (safety if parsed.kind in _SESSION_BOUND and not cmp.moves else full).update(
                    touched)
            if failed or dry_run:
                raise _Rejected
            # a patient whose courses are derived anew gets their safety records with them
            chosen = settings or settings_in_force()
            current = not full or _refresh_derived(conn, sorted(full), chosen, was_empty,
                                                   reports[-1], written=written)
            if safety - full and current:
                _refresh_derived(conn, sorted(safety - full), chosen, was_empty, reports[-1],
                                 safety_only=True)
            for report in reports:
                repository.record_audit(
                    conn, actor=actor or "cli", action="import", target_kind=report.kind,
                    target_id=report.sha256[:16],
                    detail=f"{report.file_name}: {report.rows_added} added, "
                           f"{report.rows_skipped} skipped")
    except _Rejected:
        pass
    except Exception as exc:  # noqa: BLE001 - the bulk path raises the drivers' own errors
        problem = _database_error(exc)
        if problem is None:
            raise
        failed = True   # _batch_failed below: no report counts a row
        reports[-1].conflicts.append(RowIssue(0, "database", problem))
    for report in reports:
        log.info("import %s: kind=%s total=%d added=%d skipped=%d rejected=%d",
                 report.sha256[:12], report.kind, report.rows_total,
                 report.rows_added if report.ok else 0, report.rows_skipped,
                 report.rows_rejected)
    return _batch_failed(reports) if failed else reports


def _batch_failed(reports: list[ImportReport]) -> list[ImportReport]:
    """Nothing was written: no report counts an added row, and a file that was valid on its
    own says why it was not imported."""
    for report in reports:
        report.rows_added = 0
        report.batch_id = None
        if report.ok and len(reports) > 1 and not report.dry_run:
            report.file_error = NOT_IMPORTED_WITH_BATCH
    return reports


def _prepare(source: str | Path | bytes, name: str | None, *, kind: Kind | None,
             date_order: DateOrder, dry_run: bool, max_missing_items: int, sheet: str | None,
             patient_identifier_system: str | None, clinic: str | None
             ) -> tuple[ImportReport, Parsed | None]:
    """Read, parse and validate one file: its report, and the parsed rows (None when the
    file was rejected before any comparison with the database)."""
    if isinstance(source, bytes):
        data, name = source, name or "upload"
    else:
        data, name = Path(source).read_bytes(), name or Path(source).name
    report = ImportReport(file_name=name, dry_run=dry_run)
    lim = limits()
    if len(data) > lim.max_bytes:
        report.file_error = (f"the file is {len(data) / 2**20:.0f} MB, over the cap of "
                             f"{lim.max_bytes / 2**20:.0f} MB (KAP_OUTCOMES_MAX_IMPORT_MB): "
                             "split it, or raise the cap")
        report.too_large = True
        return report, None
    try:
        if is_fhir(name, data):
            report.sha256 = hashlib.sha256(data).hexdigest()
            parsed = parse_fhir(data, name=name, sha256=report.sha256, date_order=date_order,
                                max_missing_items=max_missing_items,
                                patient_identifier_system=patient_identifier_system)
        else:
            raw = read_file(data, name=name, sheet=sheet)
            report.sha256 = raw.sha256
            parsed = parse(raw, kind=kind, date_order=date_order,
                           max_missing_items=max_missing_items)
    except TooLarge as exc:
        report.file_error = str(exc)
        report.too_large = True
        return report, None
    except FileError as exc:
        report.file_error = str(exc)
        return report, None
    if clinic is not None:
        if not clinic.strip() or len(clinic) > ID_LENGTH or not clinic.isprintable():
            report.file_error = (f"--clinic must be a clinic id of 1 to {ID_LENGTH} printable "
                                 "characters")
            return report, None
        _for_clinic(parsed, clinic)
    report.kind = parsed.kind
    report.rows_total = parsed.rows_total
    report.duplicates_in_file = parsed.duplicates
    report.warnings = parsed.warnings
    report.errors = list(parsed.issues)
    if len(report.errors) > lim.max_errors_listed:
        report.warnings.append(f"{len(report.errors) - lim.max_errors_listed} more bad cell(s) "
                               f"not listed (the first {lim.max_errors_listed} are)")
        report.errors_total = len(report.errors)
        report.errors = report.errors[:lim.max_errors_listed]
    return report, None if report.errors else parsed


def _apply(conn, parsed: Parsed, cmp: _Comparison, report: ImportReport, *, dry_run: bool,
           actor: str | None, progress: Callable[[int, int], None] | None) -> None:
    """Fill ``report`` from the comparison and, unless it found conflicts (or this is a dry
    run), write the file's new rows on ``conn``."""
    new, skipped, conflicts = cmp.new, cmp.skipped, cmp.conflicts
    report.rows_skipped = skipped
    report.conflicts = conflicts
    report.patients_created = sorted(cmp.new_patients)
    report.patients_moved = sorted(cmp.moves)
    report.rows_added = len(new)
    unplaced = [p for p, (c, _) in cmp.new_patients.items() if c == DEFAULT_CLINIC]
    if unplaced:
        report.warnings.append(
            f"{len(unplaced)} new patient(s) were created in clinic '{DEFAULT_CLINIC}' "
            "(the file names no clinic): import a patients file naming their clinic "
            "(or run `kap-outcomes patient move`) to place them, or no clinician will "
            "see their signals")
    if conflicts or dry_run:
        return
    if cmp.moves:
        repository.move_patients(conn, cmp.moves, actor=actor or "cli")
    report.batch_id = repository.write_records(
        conn, parsed.kind, new.drop(columns=["clinic_id", "source_id"], errors="ignore")
        if parsed.kind != "patients" else new, file_name=report.file_name,
        sha256=report.sha256, actor=actor, rows_total=parsed.rows_total,
        rows_skipped=skipped, new_patients=cmp.new_patients, progress=progress)


def _refresh_derived(conn, touched: list[str], settings: Settings, was_empty: bool,
                     report: ImportReport, *, safety_only: bool = False,
                     written: derived.WrittenRecords | None = None) -> bool:
    """Recompute the touched patients' derived results in the import's transaction. Should
    that fail, the import still lands: the derived tables are marked current under no
    settings (readers compute from the records) and the report says to rebuild them. On
    PostgreSQL the attempt runs in a savepoint, as a failed statement aborts the transaction;
    SQLite undoes the failed statement alone. Returns whether the derived tables are
    current."""
    attempt = conn.begin_nested() if conn.dialect.name == "postgresql" \
        else contextlib.nullcontext()
    try:
        with attempt:
            current = derived.refresh(conn, touched, settings, was_empty=was_empty,
                                      safety_only=safety_only, written=written)
        if not current:
            report.warnings.append("the derived outcomes were made under other settings (or "
                                   "before an upgrade): the dashboard computes them from the "
                                   "records (slower) until `kap-outcomes derive` is run")
        return current
    except Exception as exc:  # noqa: BLE001 - any failure: the records still land
        log.warning("deriving the imported patients' outcomes failed (%s): a rebuild is "
                    "needed", type(exc).__name__)
        repository.clear_derived_key(conn)
        report.warnings.append("the imported patients' outcomes could not be derived now: "
                               "the dashboard computes every patient's from the records (slower)"
                               " until `kap-outcomes derive` is run")
        return False


def _touched(kind: str, new: pd.DataFrame, cmp: _Comparison) -> list[str]:
    """The patients whose derived results an import changes: those with new sessions,
    scores, monitoring or events (of these two only their session safety records change),
    and those placed in another clinic or with another clinician (their courses'
    attributes)."""
    out = set(cmp.moves)
    if kind in ("sessions", "assessments", *_SESSION_BOUND):
        # the distinct ids first: iterating 2.6M Arrow strings in Python took 2 s
        out.update(new["patient_id"].dropna().unique().tolist())
    return sorted(out)


def _for_clinic(parsed: Parsed, clinic: str) -> None:
    """Give every row of a file imported for one clinic that clinic; a row naming another is
    an error (the file mixes clinics: import it without ``--clinic``)."""
    rec = parsed.records
    if "clinic_id" in rec.columns:
        other = rec["clinic_id"].notna() & (rec["clinic_id"] != clinic)
        parsed.issues.extend(RowIssue(int(line), "clinic_id", f"names clinic {c}, but the file "
                                      f"is imported for clinic {clinic}")
                             for line, c in zip(rec.loc[other, "line"], rec.loc[other,
                                                "clinic_id"], strict=True))
        parsed.issues.sort()
    rec["clinic_id"] = clinic


def _database_error(exc: Exception) -> str | None:
    """A message for an error raised by the database while writing (no values: they may be
    patient data), or None for anything else. Bulk inserts go through the driver, so its own
    error classes arrive here as well as SQLAlchemy's."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

    orig = getattr(exc, "orig", exc)
    name = type(orig).__name__
    integrity = isinstance(exc, IntegrityError) or isinstance(orig, sqlite3.IntegrityError) \
        or type(orig).__module__.startswith("psycopg") and "Violation" in name \
        or name == "IntegrityError"
    if integrity:
        return (f"rejected by a database constraint ({name}): another import may have "
                "stored the same rows first; nothing was written — import the file again")
    if isinstance(exc, OperationalError | DBAPIError) or isinstance(orig, sqlite3.Error) \
            or type(orig).__module__.startswith("psycopg"):
        return (f"the database could not take the import now ({name}); nothing was "
                "written — try again in a minute")
    return None


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality where a missing value in the file (``a``) means "not given": a
    missing ``a`` is the same as anything, a given one differs from a missing ``b``; values
    that both read as numbers compare as numbers (``"3"`` is 3.0), any others as text.
    Vectorized (a loop over the values took 10 s of re-importing 2.3M monitoring rows).

    >>> _same(pd.Series([None, 1, "2", "mild", 5.0]), pd.Series([7, None, 2.0, "mild", 5]))
    array([ True, False,  True,  True,  True])
    """
    a_missing = a.isna().to_numpy(dtype=bool)
    b_missing = b.isna().to_numpy(dtype=bool)
    numeric = pd.api.types.is_numeric_dtype
    if numeric(a.dtype) and numeric(b.dtype):   # booleans included
        equal = a.to_numpy(dtype=float, na_value=np.nan) == b.to_numpy(dtype=float,
                                                                       na_value=np.nan)
    else:
        av, bv = a.astype(object), b.astype(object)
        an, bn = (pd.to_numeric(v, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                  for v in (av, bv))
        both = ~np.isnan(an) & ~np.isnan(bn)
        text = av.astype(str).to_numpy() == bv.astype(str).to_numpy()
        equal = np.where(both, an == bn, text)
    return a_missing | (~b_missing & equal)


@dataclass
class _Comparison:
    new: pd.DataFrame
    skipped: int
    conflicts: list[RowIssue]
    new_patients: dict[str, tuple[str, str]]  #: patient key -> (clinic, the clinic's id)
    moves: dict[str, tuple[str, str | None]]  #: patient -> (clinic, clinician) from a file


#: A vital-sign reading belongs to the dosing session at most this long after it (pre-dose) …
_PRE_WINDOW = pd.Timedelta(minutes=60)
#: … or this long before it (post-dose).
_POST_WINDOW = pd.Timedelta(hours=6)


def _place_readings(rec: pd.DataFrame, stored: pd.DataFrame
                    ) -> tuple[pd.DataFrame, list[RowIssue]]:
    """Place time-stamped readings (FHIR vital signs) in the patient's stored dosing session:
    the latest session starting no more than an hour after the reading and no more than six
    hours before it. A reading at or before the dose is ``pre`` (minutes 0 or negative), a
    later one ``post``. Readings with no such session are returned as problems, named by
    their resource (``where``, set by :mod:`dashboard.importers.fhir`). ``stored``:
    the patients' dosing sessions (:func:`dashboard.db.repository.dosing_sessions`)."""
    stored = stored[["patient_id", "session_at"]]
    left = rec.drop(columns=["session_at"]).assign(_t=rec["measured_at"] + _PRE_WINDOW)
    left = left.sort_values("_t", kind="stable")
    right = stored.sort_values("session_at", kind="stable")
    hit = pd.merge_asof(left, right, left_on="_t", right_on="session_at", by="patient_id",
                        direction="backward")
    minutes = (hit["measured_at"] - hit["session_at"]).dt.total_seconds() / 60
    ok = hit["session_at"].notna() & (minutes <= _POST_WINDOW.total_seconds() / 60)
    problems = [RowIssue(int(line), f"{where}, effectiveDateTime",
                         f"no dosing session of patient {pid} within an hour after or six "
                         f"hours before {when:%Y-%m-%d %H:%M} is stored: import the sessions "
                         "first")
                for line, where, pid, when in zip(
                    hit.loc[~ok, "line"], hit.loc[~ok, "where"], hit.loc[~ok, "patient_id"],
                    hit.loc[~ok, "measured_at"], strict=True)]
    out = hit[ok].copy()
    out["minutes_after_dose"] = minutes[ok].round(1)
    out["point"] = np.where(out["minutes_after_dose"] <= 0, "pre", "post")
    out = out.drop(columns=["_t", "measured_at", "where"])
    return out.sort_values("line", kind="stable").reset_index(drop=True), problems


def _unmatched_sessions(rec: pd.DataFrame, stored: pd.DataFrame
                        ) -> tuple[pd.DataFrame, list[RowIssue]]:
    """The records with the id of their stored dosing session (``session_id``), and the rows
    of a monitoring or adverse-events file with no stored dosing session of that patient at
    that time (each names its line). ``stored``: the patients' dosing sessions."""
    hit = rec.merge(stored.rename(columns={"id": "session_id"}),
                    on=["patient_id", "session_at"], how="left", indicator=True)
    missing = hit["_merge"].eq("left_only").to_numpy()
    issues = [RowIssue(int(line), "session_at", f"no dosing session of patient {pid} at "
                       f"{when:%Y-%m-%d %H:%M} is stored: import the sessions file first, or "
                       "give the session's time exactly as the sessions file does")
              for line, pid, when in zip(hit.loc[missing, "line"], hit.loc[missing, "patient_id"],
                                         hit.loc[missing, "session_at"], strict=True)]
    rec = rec.assign(session_id=hit["session_id"].to_numpy())
    return rec, issues


def _patients_named(conn, rec: pd.DataFrame) -> pd.DataFrame:
    """The stored patients a file's rows may name, and those holding a key a new patient of
    the file might be given (:func:`dashboard.importers.identity.key_candidates`). The
    longer keys are looked up only for ids that need them (held as a key already, or given
    with two clinics in the file): asking for every id's every candidate made a 100k-patient
    file send 3.3M keys to the database."""
    sources = sorted(rec["patient_id"].dropna().unique())
    stored = repository.patients_named(conn, sources, sources)
    clinic = rec["clinic_id"].fillna(DEFAULT_CLINIC) if "clinic_id" in rec.columns else \
        pd.Series(DEFAULT_CLINIC, index=rec.index)
    pairs = pd.DataFrame({"s": rec["patient_id"], "c": clinic}).dropna().drop_duplicates()
    shared = set(pairs.loc[pairs["s"].duplicated(keep=False), "s"])
    crowded = set(stored["patient_id"]) | shared
    # only the pairs whose id is crowded (a set lookup per pair of 100k took 1.3 s)
    pairs = pairs[category_codes(pairs["s"], sorted(crowded)) >= 0] if crowded else pairs[:0]
    extra = sorted({k for src, c in pairs.itertuples(index=False)
                    for k in key_candidates(src, c)[1:]})
    if not extra:
        return stored
    more = repository.patients_named(conn, [], extra)
    return pd.concat([stored, more], ignore_index=True).drop_duplicates("patient_id",
                                                                         ignore_index=True)


def _compare(conn, parsed: Parsed) -> _Comparison:
    """Name each row's patient (:mod:`dashboard.importers.identity`), then split the records
    into new rows, already-stored rows (skipped) and conflicts; find the patients to create
    and the patients placed in another clinic or with another clinician."""
    kind = parsed.kind
    named = resolve_patients(parsed.records, _patients_named(conn, parsed.records),
                             create=kind not in _SESSION_BOUND)
    rec = named.records
    conflicts: list[RowIssue] = list(named.conflicts)
    parsed.warnings.extend(named.warnings)
    new_patients = named.new_patients
    patients = sorted(set(rec["patient_id"].dropna().unique().tolist()) - set(new_patients))
    if kind in _SESSION_BOUND:  # rows of stored sessions: no patient is created or checked
        rec = rec[rec["patient_id"].notna()]   # rows naming no stored patient are refused
        sessions = repository.dosing_sessions(conn, patients)
        if "measured_at" in rec.columns:  # FHIR readings: find their session first
            rec, placed = _place_readings(rec, sessions)
            conflicts += placed
        rec, unmatched = _unmatched_sessions(rec, sessions)
        conflicts += unmatched
    stored = repository.existing_rows(conn, kind, patients)
    key = repository.NATURAL_KEYS[kind]
    if stored.empty:
        return _Comparison(rec, 0, sorted(conflicts), new_patients,
                           {key: (clinic, None) for key, clinic in named.placed.items()})
    merged = rec.reset_index().merge(stored, on=key, how="inner", suffixes=("", "_stored"))
    same = np.ones(len(merged), dtype=bool)
    first_bad = np.array([""] * len(merged), dtype=object)
    placement = ("clinic_id", "clinician_id")
    moved = np.zeros(len(merged), dtype=bool)
    for col in _VALUES[kind]:
        if col not in merged.columns or f"{col}_stored" not in merged.columns:
            continue
        eq = _same(merged[col], merged[f"{col}_stored"])
        if kind == "patients" and col in placement:
            moved |= ~eq  # a patients file may place a patient elsewhere (audited)
            continue
        first_bad = np.where(~eq & (first_bad == ""), col, first_bad)
        same &= eq
    for line, col in zip(merged.loc[~same, "line"], first_bad[~same], strict=True):
        conflicts.append(RowIssue(int(line), str(col), "contradicts the stored "
                                  f"{_ONE[kind]} with the same {', '.join(key)}; "
                                  "stored data are never overwritten"))
    moves = {key: (clinic, None) for key, clinic in named.placed.items()}
    if kind == "patients":
        mv = merged[moved & same]
        moves.update({p: (c, k if isinstance(k, str) else None) for p, c, k in
                      zip(mv["patient_id"], mv["clinic_id"], mv["clinician_id"], strict=True)})
    matched = rec.index.isin(merged["index"])
    return _Comparison(rec[~matched], int(matched.sum()) - int((~same).sum()),
                       sorted(conflicts), new_patients, moves)
