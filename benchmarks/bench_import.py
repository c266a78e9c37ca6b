"""Import of the generated clinic, against each database's own bulk load of the same rows.

Run: ``python -m benchmarks.bench_import [--patients 100000] [--pg URL] [--repeats 3]``

The clinic is the one of ``bench_dashboard`` (its CSV files under ``benchmarks/.cache/``, made
if missing): patients, sessions and assessments. For each back-end, medians of ``--repeats``:

* **floor**: the database's own bulk load of the same rows into a bare table with the file's
  columns (text) and its natural unique key, in one transaction: on SQLite the standard
  library's ``executemany`` of ``csv.reader`` rows (WAL), on PostgreSQL ``COPY FROM STDIN``
  (``setup-notes.md`` § 9: 8.1 s and 5.7 s for the assessments at 100k);
* **import**: ``import_file`` of the three files in order into an empty database, as
  ``kap-outcomes import`` does it: parsing, validation, the comparison with stored rows, the
  writes and the derived outcomes of the patients the file touched.

* **together**: ``import_files`` of the three files as one batch (``kap-outcomes import
  --together``): one transaction, each patient derived once.
* **a week's scores**: then, into that full clinic, ``import_file`` of 1,000 new PHQ-9 scores
  of 1,000 patients (the routine import of a network; its patients fall in every bucket of
  the derived tables, so every stored derived row is rewritten). Its floor is a few
  milliseconds: the figure is absolute seconds.

Prints seconds per file and in all, and the ratio import / floor (the target is ≤ 2×).
PostgreSQL is measured when ``--pg`` or ``KAP_TEST_PG_URL`` gives a URL (schemas
``kap_bench_floor`` and ``kap_bench_import`` are dropped and rebuilt).
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_dashboard import CACHE

FILES = ("patients", "sessions", "assessments")
#: each file's natural key (``dashboard.db.models``; patients are keyed by id within a clinic)
KEYS = {"patients": ("clinic_id", "patient_id"),
        "sessions": ("patient_id", "session_at", "kind"),
        "assessments": ("patient_id", "instrument", "administered_at")}


def clinic_files(n_patients: int) -> list[Path]:
    """The clinic's three CSV files (generated as ``bench_dashboard`` does, if missing)."""
    from sample_data.generate import generate, write_csv

    folder = CACHE / f"csv_{n_patients}"
    paths = [folder / f"{k}.csv" for k in FILES]
    if not all(p.exists() for p in paths):
        write_csv(generate(n_patients, seed=11, with_items=False), folder)
    return paths


def _ddl(kind: str, columns: list[str], quote: str = '"') -> str:
    cols = ", ".join(f"{quote}{c}{quote} text" for c in columns)
    key = ", ".join(KEYS[kind])
    return f"CREATE TABLE {kind} ({cols}, UNIQUE ({key}))"


def sqlite_floor(paths: list[Path], folder: Path) -> dict[str, float]:
    """Seconds per file of a bare ``executemany`` load into SQLite (WAL, one transaction)."""
    db = folder / "floor.db"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    out = {}
    for kind, path in zip(FILES, paths, strict=True):
        t = time.perf_counter()
        with path.open(newline="") as f:
            rows = csv.reader(f)
            header = next(rows)
            con.execute(_ddl(kind, header))
            con.execute("BEGIN")
            con.executemany(f"INSERT INTO {kind} VALUES ({', '.join('?' * len(header))})",
                            rows)
            con.execute("COMMIT")
        out[kind] = time.perf_counter() - t
    con.close()
    return out


def postgres_floor(paths: list[Path], base_url: str) -> dict[str, float]:
    """Seconds per file of ``COPY FROM STDIN`` into PostgreSQL (one transaction each)."""
    import psycopg

    from dashboard.db.engine import fresh_schema

    fresh_schema(base_url, "kap_bench_floor")
    dsn = base_url.replace("postgresql+psycopg://", "postgresql://")
    out = {}
    with psycopg.connect(dsn, options="-csearch_path=kap_bench_floor") as conn:
        for kind, path in zip(FILES, paths, strict=True):
            t = time.perf_counter()
            with path.open(newline="") as f:
                header = next(csv.reader([f.readline()]))
                conn.execute(_ddl(kind, header))
                with conn.cursor() as cur, cur.copy(
                        f"COPY {kind} FROM STDIN (FORMAT csv)") as copy:
                    while block := f.read(1 << 20):
                        copy.write(block)
            conn.commit()
            out[kind] = time.perf_counter() - t
    return out


def our_import(paths: list[Path], url: str) -> dict[str, float]:
    """Seconds per file of ``import_file`` into the empty database at ``url``."""
    from dashboard.db import make_engine, upgrade
    from dashboard.importers import import_file

    engine = make_engine(url)
    upgrade(engine)
    out = {}
    for kind, path in zip(FILES, paths, strict=True):
        t = time.perf_counter()
        report = import_file(engine, path)
        out[kind] = time.perf_counter() - t
        assert report.ok, report.summary()
    engine.dispose()
    return out


def our_batch(paths: list[Path], url: str) -> float:
    """Seconds of ``import_files`` of the three files as one batch (``kap-outcomes import
    --together``: one transaction, each patient derived once) into the empty database."""
    from dashboard.db import make_engine, upgrade
    from dashboard.importers import import_files

    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    reports = import_files(engine, paths)
    seconds = time.perf_counter() - t
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    engine.dispose()
    return seconds


def week_file(paths: list[Path], folder: Path, n: int = 1000) -> Path:
    """A file of ``n`` new PHQ-9 scores, each 14 days after a random patient's last score
    (fixed seed)."""
    import numpy as np
    import pandas as pd

    scores = pd.read_csv(paths[FILES.index("assessments")])
    last = pd.to_datetime(scores["administered_at"], format="ISO8601").groupby(
        scores["patient_id"]).max()
    rng = np.random.default_rng(3)
    chosen = rng.choice(last.index.to_numpy(), min(n, len(last)), replace=False)
    out = folder / f"week_{n}.csv"
    pd.DataFrame({"patient_id": chosen, "instrument": "PHQ9",
                  "administered_at": (last.loc[chosen] + pd.Timedelta(days=14))
                  .dt.strftime("%Y-%m-%dT%H:%M").to_numpy(),
                  "total": rng.integers(0, 28, len(chosen))}).to_csv(out, index=False)
    return out


def our_week(path: Path, url: str) -> float:
    """Seconds of ``import_file`` of a week's scores into the full clinic at ``url``."""
    from dashboard.db import make_engine
    from dashboard.importers import import_file

    engine = make_engine(url)
    t = time.perf_counter()
    report = import_file(engine, path)
    seconds = time.perf_counter() - t
    assert report.ok and report.rows_added == report.rows_total, report.summary()
    engine.dispose()
    return seconds


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    out = {k: statistics.median(r[k] for r in runs) for k in FILES}
    out["all"] = statistics.median(sum(r.values()) for r in runs)
    return out


def _print(name: str, floor: dict[str, float], ours: dict[str, float],
           batch: list[float], week: list[float]) -> None:
    print(f"\n{name}: seconds (median)   floor   import   ratio", flush=True)
    for k in (*FILES, "all"):
        print(f"  {k:<12}            {floor[k]:7.2f}  {ours[k]:7.2f}  {ours[k] / floor[k]:5.1f}x",
              flush=True)
    together = statistics.median(batch)
    print(f"  together (one batch)    {floor['all']:7.2f}  {together:7.2f}  "
          f"{together / floor['all']:5.1f}x", flush=True)
    print(f"  a week's scores (1,000) into the full clinic: {statistics.median(week):.2f} s",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("KAP_TEST_PG_URL"))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    import pandas as pd

    paths = clinic_files(args.patients)
    rows = {k: sum(1 for _ in p.open()) - 1 for k, p in zip(FILES, paths, strict=True)}
    print(", ".join(f"{n:,} {k}" for k, n in rows.items()), flush=True)
    t = time.perf_counter()
    for p in paths:
        pd.read_csv(p)
    print(f"pandas.read_csv of the three files: {time.perf_counter() - t:.2f} s", flush=True)
    week = week_file(paths, paths[0].parent)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        floors, ours, batch, weeks = [], [], [], []
        for i in range(args.repeats):
            floors.append(sqlite_floor(paths, folder))
            (folder / "import.db").unlink(missing_ok=True)
            ours.append(our_import(paths, f"sqlite:///{folder / 'import.db'}"))
            (folder / "batch.db").unlink(missing_ok=True)
            batch.append(our_batch(paths, f"sqlite:///{folder / 'batch.db'}"))
            weeks.append(our_week(week, f"sqlite:///{folder / 'batch.db'}"))
            print(f"  sqlite run {i + 1}: floor {sum(floors[-1].values()):.1f} s, import "
                  f"{sum(ours[-1].values()):.1f} s, together {batch[-1]:.1f} s, a week "
                  f"{weeks[-1]:.1f} s", flush=True)
        _print("SQLite", _medians(floors), _medians(ours), batch, weeks)
    if args.pg and not args.sqlite_only:
        from dashboard.db.engine import fresh_schema

        floors, ours, batch, weeks = [], [], [], []
        for i in range(args.repeats):
            floors.append(postgres_floor(paths, args.pg))
            ours.append(our_import(paths, fresh_schema(args.pg, "kap_bench_import")))
            url = fresh_schema(args.pg, "kap_bench_import")
            batch.append(our_batch(paths, url))
            weeks.append(our_week(week, url))
            print(f"  postgresql run {i + 1}: floor {sum(floors[-1].values()):.1f} s, import "
                  f"{sum(ours[-1].values()):.1f} s, together {batch[-1]:.1f} s, a week "
                  f"{weeks[-1]:.1f} s", flush=True)
        _print("PostgreSQL", _medians(floors), _medians(ours), batch, weeks)


if __name__ == "__main__":
    main()
