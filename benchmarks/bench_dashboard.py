"""Dashboard speed on a large generated clinic: overview and patient page render times.

Run: ``python -m benchmarks.bench_dashboard [--patients 100000] [--repeats 5]``
(``--postgres URL``: the cold parts on a PostgreSQL server, the clinic imported there once)

Builds (once, cached under ``benchmarks/.cache/``) a SQLite database of the generated clinic
through the real importer, then renders pages with Streamlit's AppTest in this process: the
first overview run (cold: database read, alignment, outcomes) and the following runs (warm,
``st.cache_data`` hits), a filter change, and patient pages for different patients. Prints
medians in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"


def build_postgres(n_patients: int, base_url: str) -> str:
    """The same generated clinic imported into PostgreSQL (schema ``kap_bench_<n>`` on the
    server at ``base_url``, kept between runs); returns its URL."""
    from sqlalchemy import text

    from dashboard.db import make_engine, upgrade
    from dashboard.db.engine import fresh_schema
    from dashboard.importers import import_file
    from sample_data.generate import generate, write_csv

    schema = f"kap_bench_{n_patients}"
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    with engine.connect() as conn:
        done = conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE "
                                 "table_schema = :s AND table_name = 'bench_done'"),
                            {"s": schema}).scalar_one()
    if done:
        return url
    engine.dispose()
    url = fresh_schema(base_url, schema)
    engine = make_engine(url)
    upgrade(engine)
    folder = CACHE / f"csv_{n_patients}"
    paths = [folder / f"{k}.csv" for k in ("patients", "sessions", "assessments")]
    if not all(p.exists() for p in paths):
        paths = write_csv(generate(n_patients, seed=11, with_items=False), folder)[:3]
    for path in paths:
        t = time.perf_counter()
        report = import_file(engine, path)
        assert report.ok, report.summary()
        print(f"  {report.summary()} in {time.perf_counter() - t:.1f} s", flush=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_done (x int)"))
    return url


def _data_end(url: str) -> str:
    """The day after the latest score of the clinic at ``url``, as ``YYYY-MM-DD 09:00``."""
    import pandas as pd
    from sqlalchemy import text

    from dashboard.db import make_engine

    with make_engine(url).connect() as conn:
        last = conn.execute(text("SELECT max(administered_at) FROM assessments")).scalar_one()
    return f"{pd.Timestamp(last).normalize() + pd.Timedelta(days=1):%Y-%m-%d} 09:00"


def build(n_patients: int) -> Path:
    from dashboard.db import make_engine, upgrade
    from dashboard.importers import import_file
    from sample_data.generate import generate, write_csv

    db = CACHE / f"clinic_{n_patients}.db"
    if db.exists():
        return db
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = CACHE / f"csv_{n_patients}"
    t = time.perf_counter()
    paths = write_csv(generate(n_patients, seed=11, with_items=False), folder)
    engine = make_engine(f"sqlite:///{db}.tmp")
    upgrade(engine)
    for path in paths[:3]:
        report = import_file(engine, path)
        assert report.ok, report.summary()
        print(f"  {report.summary()}", flush=True)
    engine.dispose()
    Path(f"{db}.tmp").rename(db)
    print(f"built {db.name} in {time.perf_counter() - t:.0f} s", flush=True)
    return db


_COLD = """
import os, resource, time
os.environ["KAP_OUTCOMES_DB"] = {url!r}
import logging
logging.disable(logging.WARNING)
from dashboard import data
from dashboard.config import settings_in_force
from dashboard.state import Filters
s = settings_in_force()
t0 = time.perf_counter()
url = data.current_url()
data.stored(url)
data.outcomes(url, s)
t1 = time.perf_counter()
data.overview(url, s, Filters())
t2 = time.perf_counter()
data.signal_counts(url, s, Filters(), data.signal_clock())
t3 = time.perf_counter()
print(round(t1 - t0, 2), round(t2 - t0, 2), round(t3 - t2, 2),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def cold_parts(url: str, repeats: int) -> None:
    """The overview's cold path in fresh processes, in parts: reading the derived outcomes,
    the overview's figures (what a director sees first), then the signal line (filled in last
    on the page), and the process's peak memory."""
    import subprocess
    import sys

    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _COLD.format(url=url)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout.split()
        runs.append([float(v) for v in out[-4:]])
    med = [statistics.median(r[i] for r in runs) for i in range(4)]
    print(f"fresh process (median of {repeats}): derived outcomes read {med[0]:.2f} s, "
          f"overview figures ready {med[1]:.2f} s, then the signal line {med[2]:.2f} s; "
          f"peak RSS {med[3]:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold-only", action="store_true",
                        help="only the fresh-process parts of the cold overview")
    parser.add_argument("--postgres", metavar="URL",
                        help="measure the cold parts on this PostgreSQL server instead")
    parser.add_argument("--as-of", default="end",
                        help="'now' of the signals: 'end' (default: the generated data's last "
                        "day, so the clinic has current patients and recent sessions), "
                        "'today', or a date")
    args = parser.parse_args(argv)
    url = (build_postgres(args.patients, args.postgres) if args.postgres
           else f"sqlite:///{build(args.patients)}")
    if args.as_of != "today":
        os.environ["KAP_OUTCOMES_AS_OF"] = (_data_end(url) if args.as_of == "end"
                                            else args.as_of)
    print(f"signals as of {os.environ.get('KAP_OUTCOMES_AS_OF', 'today')}")
    if args.postgres:
        cold_parts(url, max(1, min(args.repeats, 3)))
        return
    os.environ["KAP_OUTCOMES_DB"] = url
    cold_parts(os.environ["KAP_OUTCOMES_DB"], max(1, min(args.repeats, 3)))
    if args.cold_only:
        return
    from streamlit.testing.v1 import AppTest

    from dashboard import state

    app = str(ROOT / "streamlit_app.py")
    at = AppTest.from_file(app, default_timeout=600)
    t = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t
    assert not at.exception, at.exception
    warm = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    at.multiselect(key=state.ROUTE_KEY).select("IV").run()
    filter_first = time.perf_counter() - t
    assert not at.exception
    at.switch_page("dashboard/pages/patient.py").run()
    ids = [f"P{i:06d}" for i in range(1, args.patients, max(1, args.patients // args.repeats))]
    patient = []
    for pid in ids[:args.repeats]:
        t = time.perf_counter()
        at.text_input(key="patient_query").input(pid).run()
        patient.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    print(f"{args.patients} patients: overview cold {cold:.2f} s, warm median "
          f"{statistics.median(warm):.2f} s (n={len(warm)}), first run with a new filter "
          f"{filter_first:.2f} s, patient page median {statistics.median(patient):.2f} s "
          f"(n={len(patient)})")


if __name__ == "__main__":
    main()
