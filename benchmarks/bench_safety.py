"""Session safety at network scale: importing monitoring and adverse events, the per-session
analysis, and the Safety page.

Run: ``python -m benchmarks.bench_safety [--patients 100000] [--repeats 3]``
(``KAP_TEST_PG_URL`` set: PostgreSQL too.)

Generates the clinic once (cached under ``benchmarks/.cache/``), imports patients and sessions
through the real importer, then times, per back-end: the import of ``monitoring.csv`` and
``adverse_events.csv`` (median of ``--repeats`` fresh imports, each into a copy of the database
holding the sessions) beside a bare ``pandas.read_csv`` of the same files; reading the safety
frames back; :func:`analysis.safety.session_safety` on every dosing session; the Safety view;
and (SQLite) the Safety page in Streamlit's AppTest, cold (fresh caches) and warm. Prints
medians in seconds and the peak memory of the analysis (tracemalloc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
import tracemalloc
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"


def files(n_patients: int) -> Path:
    from sample_data.generate import generate, write_csv

    folder = CACHE / f"safety_csv_{n_patients}"
    if (folder / "adverse_events.csv").exists():
        return folder
    t = time.perf_counter()
    write_csv(generate(n_patients, seed=11, with_items=False), folder)
    print(f"generated {n_patients} patients in {time.perf_counter() - t:.0f} s", flush=True)
    return folder


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _sessions_db(url: str, folder: Path, make_engine, upgrade, import_file) -> None:
    engine = make_engine(url)
    upgrade(engine)
    for name in ("patients", "sessions"):
        report = import_file(engine, folder / f"{name}.csv")
        assert report.ok, report.summary()
    engine.dispose()


def bench_backend(label: str, url_for, folder: Path, repeats: int) -> dict[str, float]:
    """Import timings on one back-end; ``url_for(i)`` gives a fresh database holding the
    sessions for repeat ``i``."""
    from dashboard.db import make_engine
    from dashboard.importers import import_file

    out: dict[str, list[float]] = {"monitoring": [], "adverse_events": []}
    for i in range(repeats):
        engine = make_engine(url_for(i))
        for name in ("monitoring", "adverse_events"):
            t = time.perf_counter()
            report = import_file(engine, folder / f"{name}.csv")
            out[name].append(time.perf_counter() - t)
            assert report.ok, report.summary()
            print(f"  {label} {name}: {out[name][-1]:.1f} s", flush=True)
        again = time.perf_counter()
        report = import_file(engine, folder / "monitoring.csv")
        assert report.ok and report.rows_added == 0
        out.setdefault("monitoring re-import (adds 0)", []).append(time.perf_counter() - again)
        engine.dispose()
    return {f"{label}: import {k}": _median(v) for k, v in out.items()}


class _Results(dict):
    """Figures printed as they are measured (a long run that fails late keeps them)."""

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        print(f"  {key:55s} {value:8.2f} s", flush=True)

    def __ior__(self, other):
        for k, v in other.items():
            self[k] = v
        return self


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (needs KAP_TEST_PG_URL)")
    args = parser.parse_args(argv)
    backends = set(args.backends.split(","))
    from dashboard.db import make_engine, upgrade
    from dashboard.importers import import_file

    folder = files(args.patients)
    rows = {name: sum(1 for _ in open(folder / f"{name}.csv")) - 1
            for name in ("sessions", "monitoring", "adverse_events")}
    print(f"{rows['sessions']} sessions, {rows['monitoring']} monitoring rows, "
          f"{rows['adverse_events']} adverse events", flush=True)
    results = _Results()
    for name in ("monitoring", "adverse_events"):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            pd.read_csv(folder / f"{name}.csv")
            times.append(time.perf_counter() - t)
        results[f"bare read_csv {name}"] = _median(times)

    base = CACHE / f"safety_sessions_{args.patients}.db"
    if not base.exists():
        _sessions_db(f"sqlite:///{base}.tmp", folder, make_engine, upgrade, import_file)
        Path(f"{base}.tmp").rename(base)

    def sqlite_copy(i: int) -> str:
        target = CACHE / f"safety_run_{i}.db"
        for suffix in ("", "-wal", "-shm", ".import-lock"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy(base, target)
        return f"sqlite:///{target}"

    if "sqlite" in backends:
        results |= bench_backend("SQLite", sqlite_copy, folder, args.repeats)
    else:
        engine = make_engine(sqlite_copy(args.repeats - 1))
        for name in ("monitoring", "adverse_events"):
            assert import_file(engine, folder / f"{name}.csv").ok
        engine.dispose()
    pg = os.environ.get("KAP_TEST_PG_URL")
    if pg and "postgresql" in backends:
        from dashboard.db.engine import fresh_schema

        def pg_fresh(i: int) -> str:
            url = fresh_schema(pg, f"kap_bench_safety_{os.getpid()}")
            _sessions_db(url, folder, make_engine, upgrade, import_file)
            return url

        results |= bench_backend("PostgreSQL", pg_fresh, folder, args.repeats)

    # the analysis on the last SQLite copy (sessions, monitoring and events imported)
    from analysis import Settings, align, course_attributes
    from analysis.safety import session_safety
    from dashboard import views
    from dashboard.db.repository import load_frames, load_safety

    url = f"sqlite:///{CACHE / f'safety_run_{args.repeats - 1}.db'}"
    engine = make_engine(url)
    assert import_file(engine, folder / "assessments.csv").ok
    t = time.perf_counter()
    sf = load_safety(engine)
    results["read monitoring + events"] = time.perf_counter() - t
    frames = load_frames(engine, item_columns=("item_9",))
    al = align(frames.assessments, frames.sessions, settings=Settings())
    attrs = course_attributes(al, frames.patients)
    times, peak = [], 0
    for _ in range(args.repeats):
        tracemalloc.start()
        t = time.perf_counter()
        table = session_safety(al.sessions, sf.monitoring, sf.events)
        times.append(time.perf_counter() - t)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    results["session_safety (every dosing session)"] = _median(times)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        views.safety_view(views.safety_mask(table, attrs), sf.events, settings=Settings())
        times.append(time.perf_counter() - t)
    results["safety_view (all filters off)"] = _median(times)

    os.environ["KAP_OUTCOMES_DB"] = url
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    app = str(ROOT / "streamlit_app.py")
    cold, warm = [], []
    for _ in range(args.repeats):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(app, default_timeout=900).run()
        t = time.perf_counter()
        at.switch_page("dashboard/pages/safety.py").run()
        assert not at.exception, at.exception
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
    results["Safety page, first view (overview cached, safety cold)"] = _median(cold)
    results["Safety page, warm"] = _median(warm)
    print(f"\n{args.patients} patients, {len(table)} dosing sessions; medians of {args.repeats}")
    for name in ("monitoring", "adverse_events"):
        for label in ("SQLite", "PostgreSQL"):
            key = f"{label}: import {name}"
            if key in results:
                print(f"  {key} / bare read_csv: {results[key] / results[f'bare read_csv {name}']:.1f}x")
    print(f"  peak memory of session_safety: {peak / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
