"""Derived tables (issue 14): every import keeps each touched patient's courses, outcomes with
bin means and latest contact current, in its own transaction; what is stored equals a full
recomputation from the records, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import Settings, mean_trajectory, week_bins
from analysis.cohort import WEEKS, long_bin_means, summarize_bin_means
from analysis.derive import derive, settings_key, split_means
from analysis.schemas import OUTCOME_FIELDS
from dashboard.cli import main
from dashboard.db import derived, repository
from dashboard.importers import import_file, import_files
from dashboard.importers.service import NOT_IMPORTED_WITH_BATCH

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
KEY_O = ["patient_id", "course_id", "instrument"]
KEY_C = ["patient_id", "course_id"]
S_INSTRUMENT = "instrument"


def _norm(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    out = frame.sort_values(key).reset_index(drop=True)
    for col in out.columns:
        if str(out[col].dtype) in ("boolean", "string", "str") or out[col].dtype == object:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def assert_same_as_recomputed(engine, settings: Settings) -> None:
    """The stored derived rows equal :func:`analysis.derive.derive` over every record."""
    stored = repository.load_derived(engine, settings_key(settings))
    assert stored is not None
    assert tuple(split_means(stored.outcomes)[0].columns) == OUTCOME_FIELDS
    f = repository.load_frames(engine, item_columns=("item_9",))
    sf = repository.load_safety(engine)
    fresh = derive(f.assessments, f.sessions, f.patients, settings=settings,
                   monitoring=sf.monitoring, events=sf.events)
    pd.testing.assert_frame_equal(_norm(stored.courses, KEY_C),
                                  _norm(fresh.courses[stored.courses.columns], KEY_C),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(_norm(stored.outcomes, KEY_O),
                                  _norm(fresh.outcomes.reindex(columns=stored.outcomes.columns),
                                        KEY_O), check_dtype=False)
    pd.testing.assert_frame_equal(_norm(stored.contacts, ["patient_id"]),
                                  _norm(fresh.contacts, ["patient_id"]), check_dtype=False)
    for kind in ("completeness", "standing", "signals", "candidates", "induction", "safety",
                 "sessions"):
        got, want = getattr(stored, kind), getattr(fresh, kind)
        assert list(got.columns) == list(want.columns), kind
        every = list(want.columns)
        pd.testing.assert_frame_equal(_norm(got, every), _norm(want, every), check_dtype=False,
                                      obj=kind)


def _split_by_date(path: Path, column: str, cut: str, tmp: Path) -> tuple[Path, Path]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    early = frame[column] < cut
    a, b = tmp / f"early_{path.name}", tmp / f"late_{path.name}"
    frame[early].to_csv(a, index=False)
    frame[~early].to_csv(b, index=False)
    return a, b


def test_imports_keep_the_derived_tables_equal_to_a_recomputation(engine, tmp_path):
    settings = Settings()
    assert import_file(engine, SAMPLE / "patients.csv").ok
    s1, s2 = _split_by_date(SAMPLE / "sessions.csv", "session_at", "2025-06-01", tmp_path)
    a1, a2 = _split_by_date(SAMPLE / "assessments.csv", "administered_at", "2025-06-01",
                            tmp_path)
    for path in (a1, s1):       # scores before their sessions: courses appear later
        assert import_file(engine, path).ok
    assert_same_as_recomputed(engine, settings)
    for path in (s2, a2):
        assert import_file(engine, path).ok
    assert_same_as_recomputed(engine, settings)
    # a patient placed with another clinician: their courses' attributes follow
    p = repository.load_patients(engine).iloc[0]
    moved = import_file(engine, f"patient_id,clinic_id,clinician_id\n{p.patient_id},"
                        f"{p.clinic_id},someone-else\n".encode(), name="p.csv")
    assert moved.ok and moved.patients_moved == [p.patient_id]
    assert_same_as_recomputed(engine, settings)
    # a re-import adds nothing and changes nothing
    before = repository.load_derived(engine, settings_key(settings)).outcomes.copy()
    assert import_file(engine, a2).rows_added == 0
    after = repository.load_derived(engine, settings_key(settings)).outcomes
    pd.testing.assert_frame_equal(_norm(before, KEY_O), _norm(after, KEY_O))


def test_other_settings_are_never_mixed(engine):
    assert import_file(engine, SAMPLE / "patients.csv").ok
    assert import_file(engine, SAMPLE / "sessions.csv").ok
    strict = Settings(response_reduction=0.6)
    assert derived.is_current(engine, Settings()) and not derived.is_current(engine, strict)
    # an import under other settings does not write the defaults' tables: they now miss its
    # scores, so they are current under no settings until a rebuild
    report = import_file(engine, SAMPLE / "assessments.csv", settings=strict)
    assert report.ok and any("until `kap-outcomes derive` is run" in w for w in report.warnings)
    assert repository.load_derived(engine, settings_key(strict)) is None
    assert repository.load_derived(engine, settings_key(Settings())) is None
    assert not derived.is_current(engine, strict) and not derived.is_current(engine, Settings())
    # the rebuild makes them for the settings asked, from every record
    n = derived.rebuild(engine, strict)
    assert n == repository.counts(engine)["patients"]
    assert derived.is_current(engine, strict) and not derived.is_current(engine, Settings())
    assert_same_as_recomputed(engine, strict)


def test_trajectory_from_stored_bin_means_equals_the_alignment(sample_alignment):
    """The overview's trajectory and weekly views, drawn from each course's stored bin means,
    equal :func:`analysis.mean_trajectory` over the scores themselves."""
    from analysis.cohort import wide_bin_means

    al = sample_alignment
    means = wide_bin_means(al)
    for instrument in ("PHQ9", "GAD7", "PCL5"):
        for series, value, bins in (("trajectory", "pct_change", al.settings.trajectory_bins),
                                    ("weekly", "is_response", week_bins(WEEKS))):
            rows = means[means["instrument"] == instrument]
            got = summarize_bin_means(long_bin_means(rows, series), value=value, bins=bins,
                                      settings=al.settings)
            want = mean_trajectory(al, instrument=instrument, value=value, bins=bins)
            pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                          want.reset_index(drop=True), check_dtype=False)
            assert len(got) >= 5   # not vacuous: the sample fills most bins


def test_split_means_round_trip(sample_alignment):
    from analysis.derive import derive_alignment

    d = derive_alignment(sample_alignment, pd.DataFrame(
        {"patient_id": sample_alignment.courses["patient_id"].unique(),
         "clinic_id": "main", "clinician_id": None, "indication": None}))
    outcomes, means = split_means(d.outcomes)
    assert not any(c.startswith(("t", "w")) and c[1:].isdigit() for c in outcomes.columns)
    assert len(means) == len(outcomes)
    assert np.isfinite(means["t0"].dropna()).all()


def test_init_derives_a_database_from_before_the_derived_tables(tmp_path, capsys):
    from sqlalchemy import text

    from dashboard.db import make_engine, upgrade

    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    for name in ("patients", "sessions", "assessments"):
        assert import_file(engine, SAMPLE / f"{name}.csv").ok
    with engine.begin() as conn:   # as a database upgraded from revision 0005 holds it
        repository.clear_derived(conn)
        conn.execute(text("DELETE FROM derived_state"))
    assert not derived.is_current(engine, Settings())
    assert main(["--db", str(db), "init"]) == 0
    assert "derived the outcomes of 300 patients" in capsys.readouterr().out
    assert derived.is_current(engine, Settings())
    assert_same_as_recomputed(engine, Settings())


def test_a_derived_row_never_outlives_its_settings_in_the_dashboard(demo_db, monkeypatch):
    """The data layer reads the stored rows under the settings they were made for, and
    computes from the records otherwise: both give the same overview."""
    from dashboard import data
    from dashboard.state import Filters

    url = data.current_url()
    stored = data.overview(url, Settings(), Filters())
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setattr(repository, "load_derived", lambda *a, **k: None)
    computed = data.overview(url, Settings(), Filters())
    for attr in ("n_patients", "n_current", "n_courses"):
        assert getattr(stored, attr) == getattr(computed, attr)
    pd.testing.assert_frame_equal(stored.headline.table, computed.headline.table)
    pd.testing.assert_frame_equal(stored.trajectory.table, computed.trajectory.table)
    pd.testing.assert_frame_equal(stored.weekly, computed.weekly)
    pd.testing.assert_frame_equal(stored.funnel.stages, computed.funnel.stages)


def test_a_failed_derivation_never_loses_the_import(engine, monkeypatch):
    """The records land; the tables are current under no settings until a rebuild (on
    PostgreSQL the failing statement runs in a savepoint, so the import's transaction
    survives it)."""
    assert import_file(engine, SAMPLE / "patients.csv").ok
    assert import_file(engine, SAMPLE / "sessions.csv").ok
    assert derived.is_current(engine, Settings())

    def broken(conn, derived_, patient_ids):
        conn.exec_driver_sql("INSERT INTO derived_buckets (kind, bucket, n_rows, payload) "
                             "VALUES ('contacts', 99, 0, NULL)")   # the CHECK refuses it

    monkeypatch.setattr(repository, "write_derived", broken)
    report = import_file(engine, SAMPLE / "assessments.csv")
    assert report.ok and report.rows_added > 7000
    assert any("could not be derived now" in w for w in report.warnings)
    assert repository.counts(engine)["assessments"] == report.rows_added
    assert not derived.is_current(engine, Settings())
    monkeypatch.undo()
    derived.rebuild(engine, Settings())
    assert_same_as_recomputed(engine, Settings())


def test_chunks_of_whole_buckets_give_the_same_results(engine, monkeypatch):
    """At network scale patients are derived in chunks of whole buckets; small chunks here
    exercise the same path (each bucket written once per import, later imports rewriting
    buckets that hold other patients too)."""
    monkeypatch.setattr(derived, "CHUNK", 25)
    chunks = derived._chunks_by_bucket([f"P{i:06d}" for i in range(1, 301)])
    assert len(chunks) > 5 and sorted(sum(chunks, [])) == [f"P{i:06d}" for i in range(1, 301)]
    buckets = [set(repository.patient_buckets(c)) for c in chunks]
    assert all(not (a & b) for i, a in enumerate(buckets) for b in buckets[i + 1:])
    for name in ("patients", "sessions", "assessments"):
        assert import_file(engine, SAMPLE / f"{name}.csv").ok
    assert_same_as_recomputed(engine, Settings())
    derived.rebuild(engine, Settings())
    assert_same_as_recomputed(engine, Settings())


def _import_sample(engine) -> None:
    for name in ("patients.csv", "sessions.csv", "assessments.csv", "monitoring.csv",
                 "adverse_events.csv"):
        assert import_file(engine, SAMPLE / name).ok, name


def test_signals_and_caseload_from_derived_equal_the_full_alignment(engine):
    """The clinic's signals and caseload put together from each patient's stored inputs (no
    alignment of every score) are exactly those of the whole clinic lined up at once: the same
    rows in the same order, on several days (a day of the data's end, and earlier ones with
    other patients current)."""
    from analysis import align
    from analysis.caseload import caseload, caseload_from
    from analysis.safety import session_safety
    from analysis.signals import current_signals

    settings = Settings()
    _import_sample(engine)
    f = repository.load_frames(engine, item_columns=("item_9",))
    al = align(f.assessments, f.sessions, settings=settings)
    sf = repository.load_safety(engine)
    table = session_safety(al.sessions, sf.monitoring, sf.events, settings=settings)
    stored = repository.load_derived(engine, settings_key(settings))
    end = f.data_end()
    seen = {"current": 0, "off_track": 0, "session": 0}
    for as_of in (end, end - pd.Timedelta(days=45), end - pd.Timedelta(days=200)):
        want = current_signals(al, as_of=as_of, sessions=table)
        got = derived.clinic_signals(engine, settings, as_of)
        for w, g in zip(want, got, strict=True):
            pd.testing.assert_frame_equal(g, w, check_dtype=False)
        seen["current"] += len(want[0])
        seen["off_track"] += int((want[0]["kind"] == "off_track").sum())
        seen["session"] += int((want[0][S_INSTRUMENT] == "session").sum())
        pd.testing.assert_frame_equal(
            caseload_from(stored.standing, as_of=as_of, settings=settings),
            caseload(al, as_of=as_of), check_dtype=False)
    # the comparison is not of empty lists: every part of the signals is exercised
    assert all(v > 0 for v in seen.values()), seen


def test_the_patient_page_lines_up_one_patient_as_the_clinic_does(demo_db):
    """The patient page reads and lines up one patient's own records; their scores, sessions
    and courses equal that patient's rows of the whole clinic's alignment."""
    from analysis import align
    from dashboard import data
    from dashboard.security import User

    url = data.current_url()
    settings = Settings()
    f = repository.load_frames(data.engine(url), item_columns=("item_9",))
    al = align(f.assessments, f.sessions, settings=settings)
    director = User(username="d", role="local")
    for pid in f.patients["patient_id"].iloc[[0, 7, 42]]:
        view = data.patient(url, settings, pid, director)
        want_a = al.assessments[al.assessments["patient_id"] == pid].drop(
            columns=["course_index"])
        pd.testing.assert_frame_equal(view.assessments.drop(columns=["course_index"])
                                      .reset_index(drop=True), want_a.reset_index(drop=True))
        pd.testing.assert_frame_equal(
            view.sessions.drop(columns=["course_index"], errors="ignore").reset_index(drop=True),
            al.sessions[al.sessions["patient_id"] == pid].drop(
                columns=["course_index"], errors="ignore").reset_index(drop=True))
        # (course_index: a row position in the alignment it belongs to)
        pd.testing.assert_frame_equal(
            view.courses.drop(columns=["course_index"]).reset_index(drop=True),
            al.courses[al.courses["patient_id"] == pid].drop(columns=["course_index"])
            .reset_index(drop=True))
        assert len(view.completeness) > 0 and set(view.completeness["patient_id"]) == {pid}


def test_the_stored_models_are_those_fitted_on_every_score(engine, tmp_path):
    """Every import refits the clinic's expected-course models on the stored induction scores;
    they equal the models fitted on the whole clinic lined up at once, at every quantile the
    dashboard predicts (the patient page's band and off track's percentile)."""
    from analysis import align
    from analysis.expected import expected_model, model_quantiles, models_from_frame

    settings = Settings()
    assert import_file(engine, SAMPLE / "patients.csv").ok
    s1, s2 = _split_by_date(SAMPLE / "sessions.csv", "session_at", "2025-06-01", tmp_path)
    a1, a2 = _split_by_date(SAMPLE / "assessments.csv", "administered_at", "2025-06-01",
                            tmp_path)
    for step, paths in enumerate(((s1, a1), (s2, a2))):
        for path in paths:
            assert import_file(engine, path).ok
        f = repository.load_frames(engine, item_columns=("item_9",))
        al = align(f.assessments, f.sessions, settings=settings)
        stored = repository.load_derived_kind(engine, settings_key(settings), "models")
        got = models_from_frame(stored, settings=settings, quantiles=model_quantiles(settings))
        assert set(got) == {"PHQ9", "GAD7", "PCL5"}, step
        for code, model in got.items():
            want = expected_model(al, instrument=code, quantiles=model_quantiles(settings))
            assert len(want.coefs) > 0
            pd.testing.assert_frame_equal(model.coefs, want.coefs, obj=f"{code} at {step}")


def test_the_models_are_refitted_when_induction_scores_change_and_only_then(engine):
    """The models are a function of the induction scores alone: a follow-up score leaves the
    stored models as they were (no 6-second refit at network scale for nothing); a new
    induction score refits them, and they again equal a fit on the whole clinic."""
    from analysis import align
    from analysis.expected import expected_model, model_quantiles, models_from_frame

    settings = Settings()
    _import_sample(engine)
    key = settings_key(settings)

    def stored_models() -> pd.DataFrame:
        return repository.load_derived_kind(engine, key, "models")

    before = stored_models()
    courses = repository.load_derived(engine, key).courses
    # patients with one course and a long induction: a score on day 3 is an induction score
    one = courses[~courses["patient_id"].duplicated(keep=False)
                  & (courses["induction_doses"] >= 4)].sort_values("patient_id").head(15)
    assert len(one) == 15
    late = "\n".join(f"{c.patient_id},GAD7,{c.first_dose_at + pd.Timedelta(days=400):%Y-%m-%dT%H:%M},5"
                     for c in one.itertuples())
    report = import_file(engine, f"patient_id,instrument,administered_at,total\n{late}\n".encode(),
                         name="late.csv")
    assert report.rows_added == 15
    pd.testing.assert_frame_equal(stored_models(), before)
    early = "\n".join(
        f"{c.patient_id},PHQ9,{c.first_dose_at + pd.Timedelta(days=3, minutes=7):%Y-%m-%dT%H:%M},27"
        for c in one.itertuples())
    report = import_file(engine, f"patient_id,instrument,administered_at,total\n{early}\n".encode(),
                         name="early.csv")
    assert report.rows_added == 15
    after = stored_models()
    assert not after.equals(before)
    f = repository.load_frames(engine, item_columns=("item_9",))
    al = align(f.assessments, f.sessions, settings=settings)
    got = models_from_frame(after, settings=settings, quantiles=model_quantiles(settings))
    want = expected_model(al, instrument="PHQ9", quantiles=model_quantiles(settings))
    pd.testing.assert_frame_equal(got["PHQ9"].coefs, want.coefs)


def _same_rows_by_tuples(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The reference: rows as Python tuples (missing values as None), sorted and compared."""
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return False
    rows = [sorted(map(tuple, f.astype(object).where(f.notna(), None)
                       .itertuples(index=False, name=None)), key=repr) for f in (a, b)]
    return rows[0] == rows[1]


def test_same_rows_agrees_with_comparing_python_tuples():
    """The vectorized comparison that decides whether an import changed a derived kind (and so
    whether the models are refitted) agrees with the plain tuple comparison on frames that
    differ by order, by storage type, by missing-value spelling or by one value."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def frame(seed: int, n: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({
            "patient_id": rng.choice(["P1", "P2", "P3"], n).astype(object),
            "day": rng.integers(0, 4, n),
            "total": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 3, n)),
            "at": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 3, n), "D"),
            "flag": rng.random(n) < 0.5,
        })

    variants = [
        lambda f: f.sample(frac=1, random_state=1),                       # another order
        lambda f: f.astype({"patient_id": "string", "day": "float64"}),   # other types
        lambda f: f.assign(total=f["total"].astype(object).where(f["total"].notna(), None)),
        lambda f: f.assign(at=f["at"].astype("datetime64[ms]")),
        lambda f: f.assign(total=f["total"].fillna(-1)),                  # a value differs
        lambda f: f.assign(day=f["day"].where(f.index != 0, 99)),
        lambda f: f.iloc[1:],
        lambda f: f.assign(flag=~f["flag"]),
        lambda f: pd.concat([f.iloc[:1], f.iloc[:-1]]),                   # a row repeated
    ]

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, 10_000), st.integers(1, 12), st.integers(0, len(variants) - 1))
    def check(seed, n, v):
        a = frame(seed, n)
        b = variants[v](a.copy()).reset_index(drop=True)
        assert repository._same_rows(a, b) == _same_rows_by_tuples(a, b)
        assert repository._same_rows(a, a.copy())

    check()


def _payloads(engine) -> dict[tuple[str, int], bytes]:
    from sqlalchemy import select

    from dashboard.db.models import DerivedBucket

    t = DerivedBucket.__table__
    with engine.connect() as conn:
        return {(k, int(b)): bytes(p) for k, b, p in conn.execute(
            select(t.c.kind, t.c.bucket, t.c.payload)).all()}


def test_monitoring_and_event_imports_keep_the_safety_records_current(engine, tmp_path):
    """The derived safety records equal :func:`analysis.safety.session_safety` over every
    record after imports of monitoring and adverse events in parts; those imports rewrite the
    safety records alone, of the patients they name."""
    settings = Settings()
    for name in ("patients", "sessions", "assessments"):
        assert import_file(engine, SAMPLE / f"{name}.csv").ok
    before = _payloads(engine)
    assert not repository.load_derived(engine, settings_key(settings)).safety[
        "has_monitoring"].any()
    m1, m2 = _split_by_date(SAMPLE / "monitoring.csv", "session_at", "2025-06-01", tmp_path)
    assert import_file(engine, m1).ok
    after = _payloads(engine)
    rewritten = {k for k in after if after[k] != before.get(k)}
    assert rewritten and {kind for kind, _ in rewritten} == {"safety"}
    # only the buckets of the patients named in the file
    named = pd.read_csv(m1)["patient_id"].astype(str).unique()
    assert {b for _, b in rewritten} <= set(repository.patient_buckets(named).tolist())
    assert_same_as_recomputed(engine, settings)
    for path in (m2, SAMPLE / "adverse_events.csv"):
        assert import_file(engine, path).ok
    assert_same_as_recomputed(engine, settings)
    stored = repository.load_derived(engine, settings_key(settings)).safety
    assert stored["has_monitoring"].any() and stored["adverse_events"].sum() == len(
        pd.read_csv(SAMPLE / "adverse_events.csv"))
    # the grave events read alone are the severe or serious ones of every event
    every = repository.load_safety(engine).events
    grave = every[every["serious"] | (every["severity"] == "severe")]
    got = repository.load_grave_events(engine)
    key = ["patient_id", "session_at", "event"]
    pd.testing.assert_frame_equal(_norm(got, key), _norm(grave[got.columns], key),
                                  check_dtype=False)
    assert 0 < len(got) < len(every)


def test_files_imported_together_land_together_and_derive_each_patient_once(engine,
                                                                            monkeypatch):
    """A clinic's export imported as one batch: the same records and derived results as
    file by file, each patient derived once (not once per file), one audit row per file."""
    settings = Settings()
    names = ("patients", "sessions", "assessments", "monitoring", "adverse_events")
    derived_ids: list[str] = []
    real = derived._derive_chunk

    def counting(conn, patient_ids, chosen, written=None):
        derived_ids.extend(patient_ids)
        return real(conn, patient_ids, chosen, written)

    read_back: list[str] = []
    real_read = repository.frames_in_transaction

    def reading(conn, patient_ids, *, records_of=None):
        read_back.extend(patient_ids if records_of is None else records_of)
        return real_read(conn, patient_ids, records_of=records_of)

    monkeypatch.setattr(derived, "_derive_chunk", counting)
    monkeypatch.setattr(repository, "frames_in_transaction", reading)
    reports = import_files(engine, [SAMPLE / f"{n}.csv" for n in names], settings=settings)
    assert all(r.ok for r in reports) and [r.kind for r in reports] == list(names)
    assert all(r.rows_added == len(pd.read_csv(SAMPLE / f"{n}.csv"))
               for r, n in zip(reports, names, strict=True))
    assert len(derived_ids) == len(set(derived_ids)) == repository.counts(engine)["patients"]
    # every patient was created by the batch: their records were derived as written, none
    # read back, and the results equal a recomputation from the stored records
    assert read_back == []
    assert_same_as_recomputed(engine, settings)
    assert len(repository.import_history(engine)) == len(names)
    # imported again together: nothing added, nothing derived
    derived_ids.clear()
    again = import_files(engine, [SAMPLE / f"{n}.csv" for n in names], settings=settings)
    assert all(r.ok and r.rows_added == 0 for r in again) and not derived_ids


def test_a_batch_with_one_bad_file_writes_nothing(engine):
    """One rejected file (a bad cell, or a conflict with a file before it) and no file of the
    batch lands; the valid files' reports say why."""
    bad = (b"patient_id,instrument,administered_at,total\n"
           b"P1,PHQ9,2025-01-02,99\n")
    reports = import_files(engine, [SAMPLE / "patients.csv", SAMPLE / "sessions.csv", bad],
                           names=["patients.csv", "sessions.csv", "assessments.csv"])
    assert [r.ok for r in reports] == [False, False, False]
    assert reports[0].file_error == reports[1].file_error == NOT_IMPORTED_WITH_BATCH
    assert reports[2].errors and all(r.rows_added == 0 for r in reports)
    assert repository.counts(engine)["patients"] == 0
    # a conflict found inside the transaction: the session file's changed dose contradicts
    # the one the first file of the batch wrote
    first = SAMPLE.joinpath("sessions.csv").read_bytes()
    lines = first.decode().splitlines()
    head, row = lines[0].split(","), lines[2].split(",")   # a dosing session
    row[head.index("dose_mg")] = "999"
    changed = "\n".join([lines[0], ",".join(row)]).encode() + b"\n"
    reports = import_files(engine, [SAMPLE / "patients.csv", first, changed],
                           names=["patients.csv", "sessions.csv", "changed.csv"])
    assert not reports[2].ok and reports[2].conflicts
    assert reports[0].file_error == NOT_IMPORTED_WITH_BATCH
    assert repository.counts(engine)["sessions"] == repository.counts(engine)["patients"] == 0


def test_a_background_rebuild_waits_for_the_lock_and_skips_what_is_current(engine):
    """Two app processes finding stale tables: the second rebuild waits for the first (the
    import lock) and then, finding them current, does nothing and audits nothing."""
    from dashboard import rebuilds

    assert import_files(engine, [SAMPLE / "patients.csv", SAMPLE / "sessions.csv",
                                 SAMPLE / "assessments.csv"])[0].ok
    with engine.begin() as conn:
        repository.clear_derived_key(conn)
    settings = Settings()
    with repository.import_lock(engine):
        job = rebuilds.start(engine, settings)
        assert job.wait(1).running and job.done == 0   # waiting on the lock
        assert rebuilds.start(engine, settings) is job  # one rebuild per process
        _rebuild_unlocked(engine, settings)   # "the other process", holding the lock
    assert job.wait(60).patients == 0 and job.error is None
    assert derived.is_current(engine, settings)
    assert not any("background" in (d or "") for d in repository.audit_events(engine)["detail"])
    assert_same_as_recomputed(engine, settings)


def _rebuild_unlocked(engine, settings: Settings) -> None:
    """:func:`derived.rebuild`'s work without taking the import lock (held by the caller)."""
    import contextlib
    from unittest import mock

    with mock.patch.object(repository, "import_lock", lambda _e: contextlib.nullcontext()):
        derived.rebuild(engine, settings)


def test_a_kind_whose_rows_did_not_change_is_not_rewritten(engine, tmp_path):
    """New follow-up scores change outcomes and standing, not the aligned sessions or their
    safety records: those buckets keep their stored bytes, and everything stored still equals
    a recomputation."""
    settings = Settings()
    for name in ("patients", "sessions", "monitoring", "adverse_events"):
        assert import_file(engine, SAMPLE / f"{name}.csv").ok
    early, late = _split_by_date(SAMPLE / "assessments.csv", "administered_at", "2025-06-01",
                                 tmp_path)
    assert import_file(engine, early).ok
    before = _payloads(engine)
    assert import_file(engine, late).ok
    after = _payloads(engine)
    rewritten = {kind for kind, b in after if after[(kind, b)] != before.get((kind, b))}
    assert {"outcomes", "standing"} <= rewritten
    assert not rewritten & {"sessions", "safety"}
    assert set(after) == set(before)   # no bucket lost or added
    assert_same_as_recomputed(engine, settings)
