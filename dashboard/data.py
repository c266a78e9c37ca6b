"""The one place pages get their frames from: repository → analysis, cached.

Everything a page shows comes from the derived results (:func:`derived`: each patient's
courses, outcomes, standing and signal inputs, written at import by
:mod:`dashboard.db.derived`) through :mod:`dashboard.views` and the analysis package, under the
:class:`analysis.Settings` in force. A patient page reads and lines up that one patient's own
records. Cached per database URL with its data version and settings; :func:`clear` after
imports.

The large intermediate objects (derived frames, outcomes, safety records) are
``st.cache_resource``: shared, never copied, and never mutated by callers (``st.cache_data``
would unpickle millions of rows on every rerun). What pages display is small and
``st.cache_data``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analysis import Alignment, Settings, align
from analysis import schemas as S
from analysis.caseload import caseload_from
from analysis.derive import split_means
from analysis.expected import ExpectedModel
from analysis.outcomes import COMPLETENESS_REASONS
from analysis.safety import session_safety
from analysis.signals import SAFETY_KINDS, is_current
from dashboard import rebuilds, views
from dashboard.config import settings_in_force
from dashboard.db import database_url, make_engine, upgrade
from dashboard.db.derived import DerivedTables, clinic_signals
from dashboard.db.derived import is_current as is_derived_current
from dashboard.db.derived import read as read_derived
from dashboard.db.repository import (
    SafetyFrames,
    data_version,
    grave_safety,
    import_history,
    load_frames,
    load_patients,
    load_safety,
    patient_scope,
    record_audit,
    save_signal_state,
    signal_states,
    signal_version,
    stored_kinds,
)
from dashboard.exports.tables import counts_table, funnel_table, rates_table
from dashboard.exports.tables import research_extract as make_research_extract
from dashboard.exports.tables import safety_table as safety_rates_table
from dashboard.importers import ImportReport, import_file
from dashboard.security import AccessDenied, User, can_see_patient_pages, can_view_patient
from dashboard.state import Filters

log = logging.getLogger(__name__)


#: Separates a database URL from the data version in the key every cached reader takes.
_VERSION = "#data-version="


@st.cache_resource
def _engine(url: str) -> Engine:
    eng = make_engine(url)
    upgrade(eng)
    return eng


def engine(url: str) -> Engine:
    """One engine per database (whatever the data version in ``url``), schema brought up to
    date once."""
    return _engine(url.split(_VERSION, 1)[0])


def current_url() -> str:
    """The key of the data in force: the database URL (``KAP_OUTCOMES_DB`` or the default
    SQLite file) with the data's version, the latest import's id
    (:func:`dashboard.db.repository.data_version`). Every cached reader takes this key, so an
    import made anywhere — another app process behind the same load balancer, the CLI, a
    scheduled job — is seen on the next page run without a restart, and a process never mixes
    data of two versions. One indexed query per page run."""
    url = database_url()
    return f"{url}{_VERSION}{data_version(engine(url))}"


@st.cache_resource(ttl="10m", max_entries=2, show_spinner="Loading outcomes…")
def derived(url: str, settings: Settings) -> DerivedTables:
    """Every patient's courses, per-course outcomes with bin means and latest contact: read
    from the derived tables (kept current by every import, :mod:`dashboard.db.derived`) when
    they were made under ``settings``, else computed from the records by the same function."""
    return read_derived(engine(url), settings)


@st.cache_data(ttl="1m")
def derived_current(url: str, settings: Settings) -> bool:
    """Whether the stored derived results were made under ``settings`` (by this version):
    when not, every page computes them from the records (correct, but slow at scale)."""
    return is_derived_current(engine(url), settings)


def background_rebuild(url: str, settings: Settings) -> rebuilds.Rebuild | None:
    """The background rebuild of the stored outcomes (:mod:`dashboard.rebuilds`) to show:
    started when they are found stale under ``settings`` (unless this process's last attempt
    failed: then it is shown, and the Data page offers to try again); None when they are
    current and no rebuild has just ended. The first page run after a rebuild ends forgets
    the cached data, so the next reads take the rebuilt tables."""
    eng = engine(url)
    job = rebuilds.current(eng, settings)
    if job is not None and job.running:
        return job
    if job is not None and not job.seen:
        job.seen = True
        clear()
        derived_current.clear()
        return job
    if job is not None and job.error:
        return job
    if not derived_current(url, settings):
        return rebuilds.start(eng, settings, again=True)
    return None


def rebuild_again(url: str, settings: Settings, *, actor: str) -> rebuilds.Rebuild:
    """Start the background rebuild once more (after a failed one), audited as ``actor``'s."""
    return rebuilds.start(engine(url), settings, actor=actor, again=True)


@st.cache_resource(ttl="10m", max_entries=2)
def _split(url: str, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_means(derived(url, settings).outcomes)


def outcomes(url: str, settings: Settings) -> pd.DataFrame:
    """Per-course outcomes (shared; do not mutate)."""
    return _split(url, settings)[0]


def course_means(url: str, settings: Settings) -> pd.DataFrame:
    """Each course's mean in each trajectory bin and week (shared; do not mutate)."""
    return _split(url, settings)[1]


def attributes(url: str, settings: Settings) -> pd.DataFrame:
    """Course attributes for breakdowns (shared; do not mutate)."""
    return derived(url, settings).courses


@st.cache_resource(ttl="10m", max_entries=2)
def patients(url: str) -> pd.DataFrame:
    """Every patient (key, clinic, clinician, indication, …), without their records."""
    return load_patients(engine(url))


@st.cache_data(ttl="1m")
def stored(url: str) -> frozenset[str]:
    """Which kinds of records the database holds (sessions, assessments, monitoring,
    adverse_events): pages ask before loading anything."""
    return stored_kinds(engine(url))


@st.cache_resource(ttl="10m")
def filtered_outcomes(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    """Per-course outcomes of the courses that pass ``filters`` (all instruments)."""
    return _courses_in(outcomes(url, settings), url, settings, filters)


def _courses_in(frame: pd.DataFrame, url: str, settings: Settings, filters: Filters
                ) -> pd.DataFrame:
    """The rows of ``frame`` whose course passes ``filters`` (the frame itself when every
    course does: no copy of a network's outcomes for the unfiltered view)."""
    attrs = attributes(url, settings)
    keep = _course_mask(attrs, filters)
    if len(keep) == len(attrs):
        return frame
    return frame.merge(keep[[S.PATIENT_ID, S.COURSE_ID]], on=[S.PATIENT_ID, S.COURSE_ID],
                       how="inner")


@st.cache_resource(ttl="10m")
def filtered_means(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    """The bin means of the courses that pass ``filters``."""
    return _courses_in(course_means(url, settings), url, settings, filters)


def _course_mask(attrs: pd.DataFrame, f: Filters) -> pd.DataFrame:
    return views.course_mask(attrs, clinics=f.clinics, clinicians=f.clinicians, routes=f.routes,
                             indications=f.indications, start=f.start, end=f.end)


def overview(url: str, settings: Settings, filters: Filters, clock: str | None = None
             ) -> views.OverviewView:
    """Headline rates, trajectory, KM curves, trend and funnel under ``filters`` (decided once,
    in :mod:`dashboard.views`), and the current patients as of ``clock`` (default
    :func:`signal_clock`: the same "now" as the signals and the caseload)."""
    return _overview(url, settings, filters, clock or signal_clock())


@st.cache_data(ttl="10m", show_spinner="Computing outcomes…")
def _overview(url: str, settings: Settings, filters: Filters, clock: str
              ) -> views.OverviewView:
    o = filtered_outcomes(url, settings, filters)
    every = attributes(url, settings)
    attrs = _course_mask(every, filters)
    return views.overview_view(
        o, filtered_means(url, settings, filters), attrs, instrument=filters.instrument,
        settings=settings,
        n_current=current_patients(url, settings, clock,
                                   None if len(attrs) == len(every) else attrs),
        as_of=data_end(url, settings))


def data_end(url: str, settings: Settings | None = None) -> pd.Timestamp | None:
    """The latest contact (session or score) in the data: the horizon of what can be judged."""
    c = derived(url, settings or settings_in_force()).contacts
    return None if c.empty else c["last_contact"].max()


def current_patients(url: str, settings: Settings, clock: str,
                     courses: pd.DataFrame | None = None) -> int:
    """How many patients are current as of ``clock`` (:func:`analysis.signals.is_current`, the
    rule of the signals and the caseload). Without ``courses`` (no filter narrows them): every
    patient with a contact, as the caseload of the whole clinic counts them; with the courses
    that pass the filters: their patients only."""
    c = derived(url, settings).contacts
    if c.empty:
        return 0
    ids = c.loc[is_current(c["last_contact"], pd.Timestamp(clock), settings), S.PATIENT_ID]
    if courses is None:
        return int(ids.nunique())
    return int(pd.Index(ids.unique()).intersection(
        pd.Index(courses[S.PATIENT_ID].unique())).size)


@st.cache_data(ttl="10m")
def breakdown(url: str, settings: Settings, filters: Filters, by: str) -> views.BreakdownView:
    """Rates and durability by ``by`` under ``filters`` (small groups pooled, cells withheld)."""
    return views.breakdown_view(filtered_outcomes(url, settings, filters),
                                _course_mask(attributes(url, settings), filters),
                                instrument=filters.instrument, by=by, settings=settings)


@st.cache_resource(ttl="10m")
def patient_ids(url: str) -> pd.Index:
    """Every patient id, sorted (shared; do not mutate)."""
    return pd.Index(sorted(patients(url)[S.PATIENT_ID].astype(str)))


@st.cache_resource(ttl="10m")
def _visible_ids(url: str, user: User) -> pd.Index:
    """The patient ids ``user`` may see, sorted."""
    p = patients(url)
    keep = [can_view_patient(user, clinic_id=c, clinician_id=k)
            for c, k in zip(p[S.CLINIC_ID], p[S.CLINICIAN_ID], strict=True)]
    return pd.Index(sorted(p.loc[keep, S.PATIENT_ID].astype(str)))


def exact_patient(url: str, query: str, user: User) -> str | None:
    """The visible patient id equal to ``query`` (surrounding spaces ignored; case matters:
    ``p000001`` may be another patient than ``P000001``), if any."""
    q = query.strip()
    if not q:
        return None
    ids = _visible_ids(url, user)
    return q if q in ids else None


def hidden_patient(url: str, query: str, user: User) -> bool:
    """Whether ``query`` is exactly the id of a patient ``user`` may not see (the caller audits
    the attempt as ``view_patient_denied``; the page says only "no such patient")."""
    q = query.strip()
    return bool(q) and q in patient_ids(url) and q not in _visible_ids(url, user)


def find_patients(url: str, query: str, user: User, *, limit: int = 50) -> list[str]:
    """Up to ``limit`` visible patient ids containing ``query`` (case-insensitive)."""
    ids = _visible_ids(url, user)
    q = query.strip()
    if not q:
        return []
    hits = ids[ids.str.contains(q, case=False, regex=False)]
    exact = [q] if q in ids else []
    return exact + [h for h in hits[:limit] if h != q][: limit - len(exact)]


@dataclass(frozen=True)
class PatientView:
    """One patient's aligned scores, sessions, per-course outcomes and expected course."""

    assessments: pd.DataFrame
    sessions: pd.DataFrame
    outcomes: pd.DataFrame
    expected: dict[str, pd.DataFrame]
    courses: pd.DataFrame
    profile: dict
    completeness: pd.DataFrame


@st.cache_resource(ttl="10m", max_entries=32)
def _patient_alignment(url: str, settings: Settings, patient_id: str) -> Alignment:
    """One patient's scores lined up against their courses: an indexed read of their own
    records (a patient's alignment depends on nothing else, :mod:`analysis.derive`), never the
    clinic's. Kept for the page's other parts (the session safety record) and its reruns
    (shared; do not mutate); every view is still audited by the caller."""
    f = load_frames(engine(url), patient_ids=[patient_id], item_columns=("item_9",))
    return align(f.assessments, f.sessions, settings=settings)


def _completeness(url: str, settings: Settings) -> pd.DataFrame:
    """Why each course's outcomes are missing, for every course (shared; do not mutate)."""
    return derived(url, settings).completeness


def _check_patient(url: str, patient_id: str, user: User) -> None:
    """Raise :class:`AccessDenied` unless ``user`` may see ``patient_id`` (the one check every
    patient-level read goes through)."""
    scope = patient_scope(engine(url), patient_id)
    if scope is None or not can_view_patient(user, clinic_id=scope[0], clinician_id=scope[1]):
        raise AccessDenied("no patient with that id is available to you")


def patient(url: str, settings: Settings, patient_id: str, user: User) -> PatientView:
    """Everything the patient page shows for ``patient_id``, if ``user`` may see that patient.

    Raises :class:`dashboard.security.AccessDenied` otherwise (the check is here, in the data
    layer, so no page can forget it). Not cached: each view is audited by the caller.
    """
    _check_patient(url, patient_id, user)
    al = _patient_alignment(url, settings, patient_id)
    a, sess = al.assessments, al.sessions
    o = outcomes(url, settings)
    o = o[o[S.PATIENT_ID] == patient_id]
    bands: dict[str, pd.DataFrame] = {}
    latest = al.courses.iloc[np.unique(a["course_index"].dropna().to_numpy(dtype=int))].tail(1) \
        if a["course_index"].notna().any() else al.courses.iloc[0:0]
    if not latest.empty:
        models = expected_models(url, settings, (0.1, 0.5, 0.9))
        course = latest[S.COURSE_ID].iloc[0]
        for code in a[S.INSTRUMENT].unique():
            base = a.loc[(a[S.INSTRUMENT] == code) & (a[S.COURSE_ID] == course)
                         & a[S.BASELINE_TOTAL].notna(), S.BASELINE_TOTAL]
            model = models.get(str(code))
            if base.empty or model is None:
                continue
            mids = np.array([(max(lo, 0) + hi) / 2 for lo, hi, _ in model.bins])
            pred = model.predict(pd.Series([patient_id] * len(mids)),
                                 pd.Series([float(base.iloc[-1])] * len(mids)),
                                 pd.Series(mids))
            pred = pred.dropna(subset=["q90"])
            if pred.empty:
                continue
            day0 = latest["first_dose_at"].iloc[0].normalize()
            bands[str(code)] = pd.DataFrame({
                "administered_at": day0 + pd.to_timedelta(mids[pred.index], "D"),
                "p10": pred["q10"].to_numpy(), "p50": pred["q50"].to_numpy(),
                "p90": pred["q90"].to_numpy(), "n_courses": pred["n_courses"].to_numpy()})
    courses = al.courses
    prof = patients(url)
    prof = prof[prof[S.PATIENT_ID] == patient_id]
    profile = prof.iloc[0].to_dict() if len(prof) else {}
    comp_all = _completeness(url, settings)
    comp = comp_all[comp_all[S.PATIENT_ID] == patient_id] if len(o) else comp_all.iloc[0:0]
    return PatientView(assessments=a, sessions=sess, outcomes=o, expected=bands,
                       courses=courses, profile=profile, completeness=comp)


def patient_report(url: str, settings: Settings, patient_id: str, user: User) -> bytes:
    """The progress report for one patient (their clinician only: roles checked here)."""
    from dashboard.exports.patient_report import patient_report_pdf
    from dashboard.security import can_print_patient_report

    if not can_print_patient_report(user):
        raise AccessDenied("only the patient's clinician prepares their progress report")
    view = patient(url, settings, patient_id, user)  # raises AccessDenied for others' patients
    return patient_report_pdf(patient_id, view.assessments, view.sessions, view.courses,
                              settings=settings,
                              clinic_name=os.environ.get("KAP_OUTCOMES_CLINIC_NAME"))


def audit(url: str, *, actor: str, action: str, target_kind: str | None = None,
          target_id: str | None = None, detail: str | None = None) -> bool:
    """Write one audit event (who viewed or changed what); never cached.

    Returns False when the event could not be written after a few tries (the database busy
    with a long import): the caller then shows nothing patient-level (fail closed). Nothing
    of the event is logged (ids are patient data)."""
    for attempt in range(4):
        try:
            record_audit(engine(url), actor=actor, action=action, target_kind=target_kind,
                         target_id=target_id, detail=detail)
            return True
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy or driver errors
            log.warning("audit write failed (%s), attempt %d", type(exc).__name__, attempt + 1)
            time.sleep(0.5 * (attempt + 1))
    return False


def preview_import(url: str, name: str, content: bytes, **options) -> ImportReport:
    """Validate an uploaded file against the database without writing (a dry run)."""
    return import_file(engine(url), content, name=name, dry_run=True, **options)


def run_import(url: str, name: str, content: bytes, *, actor: str,
               progress: Callable[[int, int], None] | None = None, **options) -> ImportReport:
    """Import an uploaded file (all or nothing) and forget cached data."""
    report = import_file(engine(url), content, name=name, actor=actor, progress=progress,
                         **options)
    clear()
    return report


@st.cache_data(ttl="1m")
def history(url: str) -> pd.DataFrame:
    """Every import, newest first (no cell values, only counts and provenance)."""
    return import_history(engine(url))


@st.cache_data(ttl="10m")
def completeness_summary(url: str, settings: Settings) -> pd.DataFrame:
    """Courses per instrument by the reason their endpoint outcome is missing, with shares."""
    table = views.completeness_view(_completeness(url, settings), settings=settings)
    table["meaning"] = table["endpoint_status"].map(COMPLETENESS_REASONS)
    return counts_table(table, value="courses", min_cell_size=settings.min_cell_size,
                        percent=["share"])


def signal_clock() -> str:
    """The "now" signals and the caseload are computed for, as their cache key: the end of
    today (a patient seen today is current, a score of today is 0 days ago), so the whole
    clinic's signals are computed once a day and after each import (the data version), not
    at every minute's turn (at 100k patients a recompute takes about 17 s). A fixed
    ``KAP_OUTCOMES_AS_OF`` is used as given."""
    if os.environ.get("KAP_OUTCOMES_AS_OF"):
        return f"{as_of():%Y-%m-%d %H:%M}"
    return f"{pd.Timestamp.now().normalize() + pd.Timedelta(days=1, minutes=-1):%Y-%m-%d %H:%M}"


def as_of() -> pd.Timestamp:
    """"Now" for current patients and signals: ``KAP_OUTCOMES_AS_OF`` (a date, for demos and
    tests) or today."""
    fixed = os.environ.get("KAP_OUTCOMES_AS_OF")
    return pd.Timestamp(fixed) if fixed else pd.Timestamp.now().floor("min")


@st.cache_resource(ttl="10m", show_spinner="Fitting the clinic's expected course…")
def expected_models(url: str, settings: Settings,
                    quantiles: tuple[float, ...]) -> dict[str, ExpectedModel]:
    """The expected-course model of each instrument (quantile regression on the baseline):
    stored, refitted by every import (:meth:`dashboard.db.derived.DerivedTables.models`)."""
    return derived(url, settings).models(quantiles)


@st.cache_resource(ttl="10m", show_spinner="Checking every patient's latest scores…")
def _all_signals(url: str, settings: Settings, when: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every patient's signals on ``when`` (:func:`dashboard.db.derived.clinic_signals`, from
    the cached derived results and models: never an alignment of every score)."""
    return clinic_signals(engine(url), settings, pd.Timestamp(when),
                          derived=derived(url, settings),
                          models=expected_models(url, settings,
                                                 (settings.off_track_percentile / 100,)))


def _signal_scope(url: str, settings: Settings, sig: pd.DataFrame, filters: Filters
                  ) -> pd.DataFrame:
    """Signals of the patients under the clinic and clinician filters, and of the courses under
    the route and indication filters (a form outside any course passes those), with each
    patient's clinic and primary clinician."""
    p = patients(url)[[S.PATIENT_ID, S.CLINIC_ID, S.CLINICIAN_ID]]
    sig = sig.merge(p, on=S.PATIENT_ID, how="left")
    if filters.clinics:
        sig = sig[sig[S.CLINIC_ID].isin(filters.clinics)]
    if filters.clinicians:
        sig = sig[sig[S.CLINICIAN_ID].isin(filters.clinicians)]
    if filters.routes or filters.indications:
        keep = _course_mask(attributes(url, settings), replace(
            filters, clinics=(), clinicians=(), start=None, end=None))
        inside = sig.merge(keep[[S.PATIENT_ID, S.COURSE_ID]], on=[S.PATIENT_ID, S.COURSE_ID],
                           how="left", indicator=True)["_merge"].eq("both").to_numpy()
        sig = sig[inside | sig[S.COURSE_ID].isna().to_numpy()]
    return sig


def signal_counts(url: str, settings: Settings, filters: Filters, when: str) -> dict[str, int]:
    """How many open signals of each kind among current patients in view (counts only, for
    any role); keyed by the latest workflow action too, so a clinician's action in another
    app process shows at once."""
    return _signal_counts(url, settings, filters, when, signal_version(engine(url)))


@st.cache_data(ttl="10m")
def _signal_counts(url: str, settings: Settings, filters: Filters, when: str,
                   states_version: int) -> dict[str, int]:
    current, _ = _all_signals(url, settings, when)
    sig = _with_states(url, _signal_scope(url, settings, current, filters), when)
    sig = sig[sig["status"].isin(["open", "acknowledged"])]
    kinds = sig["kind"].where(~sig["kind"].isin(SAFETY_KINDS), "safety")
    return {k: int(v) for k, v in kinds.value_counts().items()}


def _with_states(url: str, sig: pd.DataFrame, when: str) -> pd.DataFrame:
    """Signals with their workflow state (``open`` when nobody acted yet; a snooze that has
    run out is open again)."""
    states = signal_states(engine(url), sig[S.PATIENT_ID].unique().tolist()) if len(sig) \
        else pd.DataFrame(columns=["patient_id", "kind", "instrument", "score_at", "status",
                                   "assigned_to", "snooze_until", "note", "updated_by",
                                   "updated_at"])
    states["score_at"] = pd.to_datetime(states["score_at"])
    out = sig.merge(states, on=[S.PATIENT_ID, "kind", S.INSTRUMENT, "score_at"], how="left")
    out["status"] = out["status"].fillna("open")
    until = pd.to_datetime(out["snooze_until"])
    expired = (out["status"] == "snoozed") & (until <= pd.Timestamp(when).normalize())
    out.loc[expired.to_numpy(), "status"] = "open"
    return out


def _visible(url: str, user: User, ids: pd.Series) -> np.ndarray:
    """Which of ``ids`` ``user`` may see (a hash lookup in the sorted visible ids: pandas'
    ``isin`` on Arrow strings took about 1 s per 100k ids)."""
    return _visible_ids(url, user).get_indexer(ids) >= 0


def signals(url: str, settings: Settings, filters: Filters, user: User, *,
            patient_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current signals (with their workflow state) of the patients ``user`` may see under
    ``filters`` (of ``patient_id`` alone when given), safety first then newest first; and the
    signals of patients not seen within ``active_days``. Not cached: the workflow state changes
    as clinicians work."""
    when = signal_clock()
    current, old = _all_signals(url, settings, when)
    out = []
    for sig in (current, old):
        if patient_id is not None:
            sig = sig[(sig[S.PATIENT_ID] == patient_id).to_numpy()]
        sig = _signal_scope(url, settings, sig[_visible(url, user, sig[S.PATIENT_ID])],
                            filters)
        sig = _with_states(url, sig, when)
        sig["trajectory"] = "/patient?patient=" + sig[S.PATIENT_ID].astype(str).map(
            lambda v: quote(v, safe=""))
        out.append(sig.reset_index(drop=True))
    return out[0], out[1]


@st.cache_data(ttl="10m", show_spinner="Gathering your caseload…")
def _caseload_all(url: str, settings: Settings, when: str) -> pd.DataFrame:
    return caseload_from(derived(url, settings).standing, as_of=pd.Timestamp(when),
                         settings=settings)


def caseload(url: str, settings: Settings, user: User) -> pd.DataFrame:
    """The caseload of the patients ``user`` may see (a clinician's own, a director's clinics'),
    with clinic, clinician, indication and the number of open signals; roles are enforced here,
    not by the page."""
    when = signal_clock()
    c = _caseload_all(url, settings, when)
    c = c[_visible(url, user, c[S.PATIENT_ID])]
    p = patients(url)[[S.PATIENT_ID, S.CLINIC_ID, S.CLINICIAN_ID, S.INDICATION]]
    c = c.merge(p, on=S.PATIENT_ID, how="left")
    current, old = signals(url, settings, Filters(), user)
    both = pd.concat([f for f in (current, old) if len(f)] or [current], ignore_index=True)
    open_ = both[both["status"].isin(["open", "acknowledged"])]
    c["open_signals"] = c[S.PATIENT_ID].map(open_.groupby(S.PATIENT_ID).size()).fillna(0)
    c["open_signals"] = c["open_signals"].astype(int)
    c["trajectory"] = "/patient?patient=" + c[S.PATIENT_ID].astype(str).map(
        lambda v: quote(v, safe=""))
    return c.reset_index(drop=True)


def patient_signals(url: str, settings: Settings, patient_id: str, user: User
                    ) -> pd.DataFrame:
    """The signals of one patient (current or not) with their workflow state, unless resolved
    or snoozed; empty when ``user`` may not see the patient."""
    current, old = signals(url, settings, Filters(), user, patient_id=patient_id)
    both = pd.concat([p for p in (current, old) if len(p)] or [current], ignore_index=True)
    return both[both["status"].isin(["open", "acknowledged"])].reset_index(drop=True)


def save_signal(url: str, *, row: pd.Series, status: str, actor: str, user: User,
                assigned_to: str | None = None, snooze_until=None, note: str | None = None
                ) -> None:
    """Record a clinician's action on one signal (audited), if ``user`` may see the patient."""
    _check_patient(url, str(row[S.PATIENT_ID]), user)
    save_signal_state(engine(url), patient_id=str(row[S.PATIENT_ID]), kind=str(row["kind"]),
                      instrument=str(row[S.INSTRUMENT]),
                      score_at=pd.Timestamp(row["score_at"]).to_pydatetime(), status=status,
                      actor=actor, assigned_to=assigned_to, snooze_until=snooze_until,
                      note=note)
    _signal_counts.clear()


def date_span(url: str, settings: Settings, filters: Filters) -> str:
    """The first and last course start in view, as ``YYYY-MM-DD to YYYY-MM-DD``."""
    keep = _course_mask(attributes(url, settings), filters)
    if keep.empty:
        return "–"
    return (f"{keep['first_dose_at'].min():%Y-%m-%d} to "
            f"{keep['first_dose_at'].max():%Y-%m-%d}")


@st.cache_data(ttl="10m")
def export_rates(url: str, settings: Settings, filters: Filters, by: str | None) -> pd.DataFrame:
    """The selected instrument's rates, ready to share (the same decided cells as the overview
    cards and breakdown charts, with their marks)."""
    if by:
        return rates_table(breakdown(url, settings, filters, by).rates)
    return rates_table(overview(url, settings, filters).headline)


@st.cache_data(ttl="10m")
def export_counts(url: str, settings: Settings, filters: Filters, kind: str) -> pd.DataFrame:
    """The funnel or completeness counts of the courses in view, withheld as everywhere."""
    if kind == "Attrition funnel":
        return funnel_table(overview(url, settings, filters).funnel)
    o = filtered_outcomes(url, settings, filters)
    c = _completeness(url, settings)
    c = c.merge(o[[S.PATIENT_ID, S.COURSE_ID]].drop_duplicates(),
                on=[S.PATIENT_ID, S.COURSE_ID])
    table = views.completeness_view(c, settings=settings)
    return counts_table(table, value="courses", min_cell_size=settings.min_cell_size,
                        percent=["share"])


@st.cache_data(ttl="10m")
def export_safety(url: str, settings: Settings, filters: Filters, by: str | None
                  ) -> pd.DataFrame:
    """The session safety rates, ready to share (the Safety page's decided cells)."""
    return safety_rates_table(safety(url, settings, filters), by)


def research_extract(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    """The de-identified patient-level extract of the courses in view (new random ids)."""
    return make_research_extract(filtered_outcomes(url, settings, filters),
                                 attributes(url, settings))


@st.cache_data(ttl="10m")
def quarters(url: str, settings: Settings) -> list[str]:
    """Quarters in which courses started, oldest first (``2025Q3``)."""
    starts = attributes(url, settings)["first_dose_at"]
    return sorted({f"{t.year}Q{(t.month - 1) // 3 + 1}" for t in starts})


@st.cache_resource(ttl="10m", max_entries=2, show_spinner="Loading adverse events…")
def safety_frames(url: str) -> SafetyFrames:
    """What the Safety page and the report read beside the derived safety records: the
    severe or serious adverse events (no monitoring row: the records carry what it implies)."""
    return grave_safety(engine(url))


def safety_table(url: str, settings: Settings) -> pd.DataFrame:
    """One safety record per dosing session (:func:`analysis.safety.session_safety`, the
    derived ``safety``: each session with its course; shared, do not mutate)."""
    return derived(url, settings).safety


def _safety_filtered(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    return views.safety_mask(safety_table(url, settings), attributes(url, settings),
                             clinics=filters.clinics, clinicians=filters.clinicians,
                             routes=filters.routes, indications=filters.indications,
                             start=filters.start, end=filters.end)


@st.cache_data(ttl="10m", show_spinner="Computing session safety…")
def safety(url: str, settings: Settings, filters: Filters) -> views.SafetyView:
    """The Safety page's figures under ``filters`` (decided once in :mod:`dashboard.views`)."""
    return views.safety_view(_safety_filtered(url, settings, filters),
                             safety_frames(url).events, settings=settings)


@st.cache_data(ttl="10m")
def benefit_risk(url: str, settings: Settings, filters: Filters, by: str) -> pd.DataFrame:
    """Response per course beside adverse events, excursions and sedation per session, by
    route or dose band: the breakdown's and the Safety page's own decided cells."""
    return views.benefit_risk_view(breakdown(url, settings, filters, by).rates,
                                   safety(url, settings, filters).by[by])


def serious_events(url: str, settings: Settings, filters: Filters, user: User
                   ) -> pd.DataFrame:
    """The severe or serious events under ``filters``: with the patient and a link for the
    patients ``user`` may see; for a role without patient pages (quality) the same events
    without patient, day or time (the month only)."""
    ev = safety(url, settings, filters).serious.copy()
    if can_see_patient_pages(user):
        ev = ev[_visible(url, user, ev[S.PATIENT_ID])]
        ev["trajectory"] = "/patient?patient=" + ev[S.PATIENT_ID].astype(str).map(
            lambda v: quote(v, safe=""))
        return ev.reset_index(drop=True)
    ev["month"] = ev[S.SESSION_AT].dt.strftime("%Y-%m")
    return ev.drop(columns=[S.PATIENT_ID, S.SESSION_AT, S.COURSE_ID]).reset_index(drop=True)


def patient_safety(url: str, settings: Settings, patient_id: str, user: User
                   ) -> views.PatientSafetyView:
    """One patient's session safety record, if ``user`` may see the patient (the caller
    audits the view, as for :func:`patient`)."""
    _check_patient(url, patient_id, user)
    # this patient's rows only (an indexed read), never the whole clinic's monitoring
    sf = load_safety(engine(url), patient_ids=[patient_id])
    table = session_safety(_patient_alignment(url, settings, patient_id).sessions,
                           sf.monitoring, sf.events, settings=settings)
    return views.patient_safety_view(table, sf.monitoring, sf.events)


def clear() -> None:
    """Forget cached data (after an import)."""
    safety_frames.clear()
    safety.clear()
    benefit_risk.clear()
    export_safety.clear()
    derived.clear()
    _split.clear()
    patients.clear()
    stored.clear()
    filtered_outcomes.clear()
    filtered_means.clear()
    _overview.clear()
    patient_ids.clear()
    history.clear()
    _all_signals.clear()
    _caseload_all.clear()
    expected_models.clear()
    _signal_counts.clear()
    _visible_ids.clear()
    _patient_alignment.clear()
    export_rates.clear()
    export_counts.clear()
    quarters.clear()
    completeness_summary.clear()
    breakdown.clear()
