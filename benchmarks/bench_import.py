"""Import throughput: N assessment rows (long form, with items) into SQLite and PostgreSQL.

Run: ``python -m benchmarks.bench_import [--rows 1000000] [--pg URL] [--repeats 3]``

Prints the median seconds of pandas parsing the same CSV alone (``pd.read_csv``), of the
import's own parse + validate (dry run, no writes), and of the full import into an empty database
for each back-end, with rows per second and the ratio to the bare parse. PostgreSQL is measured
when ``--pg`` or ``KAP_TEST_PG_URL`` gives a URL (its ``public`` schema is dropped and rebuilt).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from dashboard.db import make_engine, upgrade
from dashboard.importers import import_file
from sample_data.generate import generate, write_csv


def _make_csv(rows: int, directory: Path) -> Path:
    patients = max(50, int(rows / 25))
    data = generate(patients, seed=3)
    paths = write_csv(data, directory)
    a = pd.read_csv(paths[2], dtype=str, keep_default_na=False)
    a = a.head(rows)
    out = directory / "assessments_bench.csv"
    a.to_csv(out, index=False)
    pd.read_csv(paths[0], dtype=str).to_csv(directory / "patients_bench.csv", index=False)
    return out


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _fresh(url: str):
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    return engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("KAP_TEST_PG_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        path = _make_csv(args.rows, tmp_path)
        n = sum(1 for _ in path.open()) - 1
        print(f"{n} assessment rows, {path.stat().st_size / 1e6:.0f} MB "
              f"(generated in {time.perf_counter() - t:.1f} s)", flush=True)
        parse_s = _median_time(lambda: pd.read_csv(path, dtype={"patient_id": str}),
                               args.repeats)
        print(f"pandas read_csv alone:     {parse_s:6.2f} s  {n / parse_s:>10,.0f} rows/s",
              flush=True)
        targets = [("sqlite", f"sqlite:///{tmp_path / 'bench.db'}")]
        if args.pg:
            targets.append(("postgresql", args.pg))
        engine = _fresh(targets[0][1])
        dry = _median_time(lambda: import_file(engine, path, dry_run=True), args.repeats)
        print(f"parse + validate (dry run):{dry:6.2f} s  {n / dry:>10,.0f} rows/s  "
              f"x{dry / parse_s:.1f} of bare parse", flush=True)
        for name, url in targets:
            times = []
            for _ in range(args.repeats):
                if name == "sqlite":
                    (tmp_path / "bench.db").unlink(missing_ok=True)
                engine = _fresh(url)
                assert import_file(engine, tmp_path / "patients_bench.csv").ok
                t = time.perf_counter()
                report = import_file(engine, path)
                times.append(time.perf_counter() - t)
                assert report.ok and report.rows_added == n, report.summary()
                engine.dispose()
            s = statistics.median(times)
            print(f"import into {name:<11}    {s:6.2f} s  {n / s:>10,.0f} rows/s  "
                  f"x{s / parse_s:.1f} of bare parse", flush=True)


if __name__ == "__main__":
    main()
