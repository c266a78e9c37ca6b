"""The ``kap-outcomes`` command line.

Commands: ``init``, ``demo``, ``import FILE...``, ``metrics --json``, ``serve``. The database URL
comes from ``--db`` or ``KAP_OUTCOMES_DB`` (default: ``kap_outcomes.db`` here). Exit codes:
0 success; 1 a file was rejected (its report is printed); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis import Settings, align, per_course_outcomes, score_assessments
from dashboard.db import make_engine, upgrade
from dashboard.db.engine import database_url
from dashboard.db.repository import counts, load_frames
from dashboard.importers import import_file

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def _progress_bar(desc: str):
    """A tqdm bar on stderr (silent when stderr is not a terminal and no TQDM env asks for it)."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="row", file=sys.stderr, leave=False,
                       disable=None)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_init(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    upgrade(engine)
    print(f"database ready: {_safe_url(database_url(args.db))}")
    return 0


def _import_paths(engine, paths, args) -> int:
    status = 0
    for path in paths:
        report = import_file(engine, path, kind=args.kind, date_order=args.date_order,
                             dry_run=args.dry_run, actor=os.environ.get("USER", "cli"),
                             progress=_progress_bar(Path(path).name))
        print(report.summary())
        for warning in report.warnings:
            print(f"  warning: {warning}")
        for problem in report.problems():
            print(f"  {problem}")
        if not report.ok:
            status = 1
    return status


def cmd_import(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    upgrade(engine)
    missing = [p for p in args.files if not Path(p).is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return _import_paths(engine, args.files, args)


def cmd_demo(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    upgrade(engine)
    args.kind = None
    args.date_order = "iso"
    args.dry_run = False
    files = [SAMPLE / "patients.csv", SAMPLE / "sessions.csv", SAMPLE / "assessments.csv"]
    status = _import_paths(engine, files, args)
    c = counts(engine)
    print(f"demo database {_safe_url(database_url(args.db))}: {c['patients']} patients, "
          f"{c['sessions']} sessions, {c['assessments']} assessments")
    return status


def _json_value(v: object) -> object:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return v


def cmd_metrics(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    upgrade(engine)
    frames = load_frames(engine)
    if frames.assessments.empty or frames.sessions.empty:
        print("no data yet: run `kap-outcomes demo` or `kap-outcomes import FILE`",
              file=sys.stderr)
        return 0 if args.json else 1
    scored = score_assessments(frames.assessments)
    outcomes = per_course_outcomes(align(scored, frames.sessions, settings=Settings()))
    if args.json:
        for row in outcomes.itertuples(index=False):
            print(json.dumps({k: _json_value(v) for k, v in zip(outcomes.columns, row,
                                                                 strict=True)}))
    else:
        print(outcomes.to_string(max_rows=50))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    env = dict(os.environ, KAP_OUTCOMES_DB=database_url(args.db))
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
           "--server.headless", "true", "--server.address", args.address,
           "--server.port", str(args.port), "--browser.gatherUsageStats", "false"]
    return subprocess.call(cmd, env=env)


def _safe_url(url: str) -> str:
    """The URL without its password (never print secrets)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kap-outcomes", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL or SQLite file (default: $KAP_OUTCOMES_DB "
                                     "or kap_outcomes.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create or upgrade the database schema").set_defaults(
        func=cmd_init)
    sub.add_parser("demo", help="load the bundled sample data").set_defaults(func=cmd_demo)
    imp = sub.add_parser("import", help="import CSV, XLSX or FHIR files (all or nothing each)")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--kind", choices=["patients", "sessions", "assessments"])
    order = imp.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="date_order", action="store_const", const="dayfirst")
    order.add_argument("--monthfirst", dest="date_order", action="store_const",
                       const="monthfirst")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    imp.set_defaults(func=cmd_import, date_order="iso")
    met = sub.add_parser("metrics", help="per-course outcomes")
    met.add_argument("--json", action="store_true", help="one JSON object per line")
    met.set_defaults(func=cmd_metrics)
    srv = sub.add_parser("serve", help="start the dashboard")
    srv.add_argument("--port", type=int, default=8501)
    srv.add_argument("--address", default="localhost")
    srv.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `kap-outcomes metrics --json | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
