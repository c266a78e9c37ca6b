"""The one place pages get their frames from: repository → analysis, cached.

Everything a page shows is computed from :func:`frames` (the tidy frames of the database named
by ``KAP_OUTCOMES_DB``) through the analysis package, under the :class:`analysis.Settings` in
force. Cached per database URL and settings; :func:`clear` after imports.

The large intermediate objects (frames, alignment, outcomes) are ``st.cache_resource``: shared,
never copied, and never mutated by callers (``st.cache_data`` would unpickle millions of rows on
every rerun). What pages display is small and ``st.cache_data``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analysis import (
    Alignment,
    Settings,
    align,
    baseline_band,
    completeness,
    course_attributes,
    expected_course,
    per_course_outcomes,
)
from analysis import schemas as S
from analysis.outcomes import COMPLETENESS_REASONS
from analysis.signals import current_signals
from dashboard import views
from dashboard.db import database_url, make_engine, upgrade
from dashboard.db.repository import (
    Frames,
    import_history,
    load_frames,
    patient_scope,
    record_audit,
)
from dashboard.exports.tables import counts_table, funnel_table, rates_table
from dashboard.exports.tables import research_extract as make_research_extract
from dashboard.importers import ImportReport, import_file
from dashboard.security import AccessDenied, User, can_view_patient
from dashboard.state import Filters


@st.cache_resource
def engine(url: str) -> Engine:
    """One engine per database URL, schema brought up to date once."""
    eng = make_engine(url)
    upgrade(eng)
    return eng


def current_url() -> str:
    """The database URL in force (``KAP_OUTCOMES_DB`` or the default SQLite file)."""
    return database_url()


@st.cache_resource(ttl="10m", show_spinner="Loading scores…")
def frames(url: str) -> Frames:
    """Patients, sessions and assessments of the database at ``url``."""
    return load_frames(engine(url), item_columns=("item_9",))


@st.cache_resource(ttl="10m", show_spinner="Lining scores up against treatment courses…")
def alignment(url: str, settings: Settings) -> Alignment:
    """Scored assessments aligned to courses under ``settings``."""
    f = frames(url)
    # totals were scored and validated at import (analysis.scoring); they are used as stored
    return align(f.assessments, f.sessions, settings=settings)


@st.cache_resource(ttl="10m")
def outcomes(url: str, settings: Settings) -> pd.DataFrame:
    """Per-course outcomes."""
    return per_course_outcomes(alignment(url, settings))


@st.cache_resource(ttl="10m")
def attributes(url: str, settings: Settings) -> pd.DataFrame:
    """Course attributes for breakdowns."""
    return course_attributes(alignment(url, settings), frames(url).patients)


@st.cache_resource(ttl="10m")
def filtered_outcomes(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    """Per-course outcomes of the courses that pass ``filters`` (all instruments)."""
    o = outcomes(url, settings)
    keep = _course_mask(attributes(url, settings), filters)
    keys = keep[[S.PATIENT_ID, S.COURSE_ID]]
    return o.merge(keys, on=[S.PATIENT_ID, S.COURSE_ID], how="inner")


def _course_mask(attrs: pd.DataFrame, f: Filters) -> pd.DataFrame:
    return views.course_mask(attrs, clinics=f.clinics, clinicians=f.clinicians, routes=f.routes,
                             indications=f.indications, start=f.start, end=f.end)


@st.cache_resource(ttl="10m")
def filtered_alignment(url: str, settings: Settings, filters: Filters) -> Alignment:
    """The alignment restricted to the courses that pass ``filters``."""
    al = alignment(url, settings)
    keep = _course_mask(attributes(url, settings), filters)
    idx = al.courses.merge(keep[[S.PATIENT_ID, S.COURSE_ID]], on=[S.PATIENT_ID, S.COURSE_ID])
    chosen = np.sort(idx["course_index"].to_numpy())
    renumber = np.full(len(al.courses), -1)
    renumber[chosen] = np.arange(chosen.size)  # keep course_index = row number of courses

    def subset(frame: pd.DataFrame) -> pd.DataFrame:
        ci = frame["course_index"].to_numpy(dtype="float64", na_value=np.nan)
        keep = ~np.isnan(ci)
        keep[keep] = renumber[ci[keep].astype(int)] >= 0
        out = frame[keep].copy()
        out["course_index"] = pd.array(renumber[ci[keep].astype(int)], dtype="Int64")
        return out

    courses = al.courses.iloc[chosen].copy()
    courses["course_index"] = np.arange(chosen.size)
    return Alignment(courses=courses.reset_index(drop=True), sessions=subset(al.sessions),
                     assessments=subset(al.assessments), settings=settings)


@st.cache_data(ttl="10m", show_spinner="Computing outcomes…")
def overview(url: str, settings: Settings, filters: Filters) -> views.OverviewView:
    """Headline rates, trajectory, KM curves, trend and funnel under ``filters`` (decided once,
    in :mod:`dashboard.views`)."""
    o = filtered_outcomes(url, settings, filters)
    attrs = _course_mask(attributes(url, settings), filters)
    return views.overview_view(
        o, filtered_alignment(url, settings, filters), attrs, instrument=filters.instrument,
        settings=settings, n_active=_active_patients(url, set(o[S.PATIENT_ID])),
        as_of=data_end(url))


def data_end(url: str) -> pd.Timestamp | None:
    """The latest contact (session or score) in the data: the horizon of what can be judged."""
    f = frames(url)
    ends = [f.sessions[S.SESSION_AT].max() if len(f.sessions) else None,
            f.assessments[S.ADMINISTERED_AT].max() if len(f.assessments) else None]
    ends = [e for e in ends if e is not None and not pd.isna(e)]
    return max(ends) if ends else None


def _active_patients(url: str, patients: set[str], days: int = 90) -> int:
    """Patients with a session or score in the last ``days`` days of the data (the data's own
    latest date, not today's, so a snapshot reads the same tomorrow)."""
    f = frames(url)
    last = pd.concat([f.sessions[[S.PATIENT_ID, S.SESSION_AT]].rename(columns={S.SESSION_AT: "t"}),
                      f.assessments[[S.PATIENT_ID, S.ADMINISTERED_AT]].rename(
                          columns={S.ADMINISTERED_AT: "t"})])
    if last.empty:
        return 0
    latest = last.groupby(S.PATIENT_ID)["t"].max()
    cutoff = last["t"].max() - pd.Timedelta(days=days)
    return int(((latest >= cutoff) & latest.index.isin(patients)).sum())


@st.cache_data(ttl="10m")
def breakdown(url: str, settings: Settings, filters: Filters, by: str) -> views.BreakdownView:
    """Rates and durability by ``by`` under ``filters`` (small groups pooled, cells withheld)."""
    return views.breakdown_view(filtered_outcomes(url, settings, filters),
                                _course_mask(attributes(url, settings), filters),
                                instrument=filters.instrument, by=by, settings=settings)


@st.cache_resource(ttl="10m")
def patient_ids(url: str) -> pd.Index:
    """Every patient id, sorted (shared; do not mutate)."""
    return pd.Index(sorted(frames(url).patients[S.PATIENT_ID].astype(str)))


@st.cache_resource(ttl="10m")
def _visible_ids(url: str, user: User) -> pd.Index:
    """The patient ids ``user`` may see, sorted."""
    p = frames(url).patients
    keep = [can_view_patient(user, clinic_id=c, clinician_id=k)
            for c, k in zip(p[S.CLINIC_ID], p[S.CLINICIAN_ID], strict=True)]
    return pd.Index(sorted(p.loc[keep, S.PATIENT_ID].astype(str)))


def exact_patient(url: str, query: str, user: User) -> str | None:
    """The visible patient id equal to ``query`` (ignoring case and spaces), if any."""
    q = query.strip().upper()
    if not q:
        return None
    ids = _visible_ids(url, user)
    hit = ids[ids.str.upper() == q]
    return str(hit[0]) if len(hit) else None


def find_patients(url: str, query: str, user: User, *, limit: int = 50) -> list[str]:
    """Up to ``limit`` visible patient ids containing ``query`` (case-insensitive)."""
    ids = _visible_ids(url, user)
    q = query.strip()
    if not q:
        return []
    hits = ids[ids.str.contains(q, case=False, regex=False)]
    exact = [q] if q in ids else []
    return exact + [h for h in hits[:limit] if h != q][: limit - len(exact)]


@st.cache_data(ttl="10m")
def expected(url: str, settings: Settings, instrument: str) -> pd.DataFrame:
    """The clinic's expected course for ``instrument`` by baseline band (percentile bands)."""
    return expected_course(alignment(url, settings), instrument=instrument)


@dataclass(frozen=True)
class PatientView:
    """One patient's aligned scores, sessions, per-course outcomes and expected course."""

    assessments: pd.DataFrame
    sessions: pd.DataFrame
    outcomes: pd.DataFrame
    expected: dict[str, pd.DataFrame]


@st.cache_resource(ttl="10m")
def _patient_rows(url: str, settings: Settings) -> tuple[dict, dict, dict]:
    """Row positions of each patient in the aligned assessments, sessions and outcomes."""
    al = alignment(url, settings)
    return (al.assessments.groupby(S.PATIENT_ID, sort=False).indices,
            al.sessions.groupby(S.PATIENT_ID, sort=False).indices,
            outcomes(url, settings).groupby(S.PATIENT_ID, sort=False).indices)


def patient(url: str, settings: Settings, patient_id: str, user: User) -> PatientView:
    """Everything the patient page shows for ``patient_id``, if ``user`` may see that patient.

    Raises :class:`dashboard.security.AccessDenied` otherwise (the check is here, in the data
    layer, so no page can forget it). Not cached: each view is audited by the caller.
    """
    scope = patient_scope(engine(url), patient_id)
    if scope is None or not can_view_patient(user, clinic_id=scope[0], clinician_id=scope[1]):
        raise AccessDenied("no patient with that id is available to you")
    al = alignment(url, settings)
    rows_a, rows_s, rows_o = _patient_rows(url, settings)
    empty = np.array([], dtype=int)
    a = al.assessments.iloc[rows_a.get(patient_id, empty)]
    sess = al.sessions.iloc[rows_s.get(patient_id, empty)]
    o = outcomes(url, settings).iloc[rows_o.get(patient_id, empty)]
    bands: dict[str, pd.DataFrame] = {}
    latest = al.courses.iloc[np.unique(a["course_index"].dropna().to_numpy(dtype=int))].tail(1) \
        if a["course_index"].notna().any() else al.courses.iloc[0:0]
    for code in a[S.INSTRUMENT].unique():
        base = a.loc[(a[S.INSTRUMENT] == code) & a[S.BASELINE_TOTAL].notna(), S.BASELINE_TOTAL]
        if latest.empty or base.empty:
            continue
        band = baseline_band(base.tail(1), str(code)).iloc[0]
        e = expected(url, settings, str(code))
        e = e[e["baseline_band"] == band]
        if e.empty:
            continue
        day0 = latest["first_dose_at"].iloc[0].normalize()
        mid = (e["day_low"] + e["day_high"]) / 2
        bands[str(code)] = pd.DataFrame({
            "administered_at": day0 + pd.to_timedelta(mid.where(e["bin_order"] > 0, 0), "D"),
            "p10": e["p_low"].to_numpy(), "p50": e["p_mid"].to_numpy(),
            "p90": e["p_high"].to_numpy()})
    return PatientView(assessments=a, sessions=sess, outcomes=o, expected=bands)


def audit(url: str, *, actor: str, action: str, target_kind: str | None = None,
          target_id: str | None = None, detail: str | None = None) -> None:
    """Write one audit event (who viewed or changed what); never cached."""
    record_audit(engine(url), actor=actor, action=action, target_kind=target_kind,
                 target_id=target_id, detail=detail)


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
    table = views.completeness_view(completeness(alignment(url, settings),
                                                 outcomes(url, settings)), settings=settings)
    table["meaning"] = table["endpoint_status"].map(COMPLETENESS_REASONS)
    return counts_table(table, value="courses", min_cell_size=settings.min_cell_size,
                        percent=["share"])


@st.cache_resource(ttl="10m")
def _all_signals(url: str, settings: Settings) -> pd.DataFrame:
    return current_signals(alignment(url, settings))


@st.cache_data(ttl="10m")
def signal_counts(url: str, settings: Settings, filters: Filters) -> dict[str, int]:
    """How many signals of each kind among the courses in view (counts only, for any role)."""
    sig = _all_signals(url, settings)
    keep = _course_mask(attributes(url, settings), replace(filters, start=None, end=None))
    sig = sig.merge(keep[[S.PATIENT_ID, S.COURSE_ID]], on=[S.PATIENT_ID, S.COURSE_ID])
    kinds = sig["kind"].str.replace(r"^safety_.*", "safety", regex=True)
    return {k: int(v) for k, v in kinds.value_counts().items()}


@st.cache_data(ttl="10m", show_spinner="Checking every patient's latest scores…")
def signals(url: str, settings: Settings, filters: Filters, user: User) -> pd.DataFrame:
    """Current clinical signals (safety, fading, off-track) of the patients under ``filters``
    that ``user`` may see, with their clinic and clinician, most urgent first."""
    sig = _all_signals(url, settings)
    sig = sig[sig[S.PATIENT_ID].isin(_visible_ids(url, user))]
    keep = _course_mask(attributes(url, settings), replace(filters, start=None, end=None))
    attrs = keep[[S.PATIENT_ID, S.COURSE_ID, S.CLINIC_ID, S.CLINICIAN_ID]]
    sig = sig.merge(attrs, on=[S.PATIENT_ID, S.COURSE_ID], how="inner")
    sig["trajectory"] = "/patient?patient=" + sig[S.PATIENT_ID].astype(str)
    return sig


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
    c = completeness(alignment(url, settings), outcomes(url, settings))
    c = c.merge(o[[S.PATIENT_ID, S.COURSE_ID]].drop_duplicates(),
                on=[S.PATIENT_ID, S.COURSE_ID])
    table = views.completeness_view(c, settings=settings)
    return counts_table(table, value="courses", min_cell_size=settings.min_cell_size,
                        percent=["share"])


def research_extract(url: str, settings: Settings, filters: Filters) -> pd.DataFrame:
    """The de-identified patient-level extract of the courses in view (new random ids)."""
    return make_research_extract(filtered_outcomes(url, settings, filters),
                                 attributes(url, settings))


@st.cache_data(ttl="10m")
def quarters(url: str, settings: Settings) -> list[str]:
    """Quarters in which courses started, oldest first (``2025Q3``)."""
    starts = attributes(url, settings)["first_dose_at"]
    return sorted({f"{t.year}Q{(t.month - 1) // 3 + 1}" for t in starts})


def clear() -> None:
    """Forget cached data (after an import)."""
    frames.clear()
    alignment.clear()
    outcomes.clear()
    attributes.clear()
    filtered_outcomes.clear()
    filtered_alignment.clear()
    overview.clear()
    patient_ids.clear()
    history.clear()
    _patient_rows.clear()
    signals.clear()
    _all_signals.clear()
    signal_counts.clear()
    _visible_ids.clear()
    export_rates.clear()
    export_counts.clear()
    quarters.clear()
    completeness_summary.clear()
    expected.clear()
    breakdown.clear()
