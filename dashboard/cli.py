"""The ``kap-outcomes`` command line.

Commands: ``init``, ``demo``, ``import FILE...``, ``metrics --json``, ``signals``,
``safety --json``, ``export``, ``report``, ``user``, ``serve``. The database URL
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
import tempfile
from pathlib import Path

import pandas as pd

from analysis import BREAKDOWNS
from analysis.schemas import OUTCOME_FIELDS
from dashboard.config import settings_in_force
from dashboard.db import make_engine, upgrade
from dashboard.db.engine import database_url
from dashboard.db.models import IMPORT_KINDS
from dashboard.db.repository import counts, stored_kinds
from dashboard.importers import import_file, import_files

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
    from dashboard.db import derived

    engine = make_engine(args.db)
    upgrade(engine)
    if not derived.is_current(engine, settings_in_force()):
        return cmd_derive(args)   # upgraded from before the derived tables, or new settings
    print(f"database ready: {_safe_url(database_url(args.db))}")
    return 0


def cmd_derive(args: argparse.Namespace) -> int:
    """Make the derived tables anew under the settings in force (after a settings change;
    imports keep them current otherwise)."""
    from dashboard.db import derived

    engine = make_engine(args.db)
    upgrade(engine)
    n = derived.rebuild(engine, settings_in_force(), progress=_progress_bar("patients"))
    print(f"derived the outcomes of {n} patients: {_safe_url(database_url(args.db))}")
    return 0


def _import_paths(engine, paths, args) -> int:
    status = 0
    options = dict(kind=args.kind, date_order=args.date_order, dry_run=args.dry_run,
                   actor=os.environ.get("USER", "cli"),
                   patient_identifier_system=getattr(args, "patient_identifier_system", None),
                   clinic=getattr(args, "clinic", None))
    if getattr(args, "together", False):
        reports = import_files(engine, paths, **options,
                               progress=[_progress_bar(Path(p).name) for p in paths])
    else:
        reports = (import_file(engine, path, **options, progress=_progress_bar(Path(path).name))
                   for path in paths)
    for report in reports:
        print(report.summary())
        for warning in report.warnings:
            print(f"  warning: {warning}")
        for problem in report.problems():
            print(f"  {problem}")
        if report.too_large:
            status = 2
        elif not report.ok:
            status = max(status, 1)
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
    args.together = True
    files = [SAMPLE / f"{name}.csv" for name in ("patients", "sessions", "assessments",
                                                  "monitoring", "adverse_events")]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.as_is:
            files = _shift_to_today(files, Path(tmp))
        status = _import_paths(engine, files, args)
    c = counts(engine)
    print(f"demo database {_safe_url(database_url(args.db))}: {c['patients']} patients, "
          f"{c['sessions']} sessions, {c['assessments']} assessments, {c['monitoring']} "
          f"monitoring rows, {c['adverse_events']} adverse events")
    return status


def _shift_to_today(files: list[Path], directory: Path) -> list[Path]:
    """Copies of the sample files with every date moved by the same whole number of days, so
    that the latest contact is yesterday: a new user sees current patients and signals, not an
    archive. Times of day, intervals and every outcome stay the same."""
    frames = {f.name: pd.read_csv(f, dtype=str, keep_default_na=False) for f in files}
    columns = {"sessions.csv": "session_at", "assessments.csv": "administered_at",
               "monitoring.csv": "session_at", "adverse_events.csv": "session_at"}
    latest = max(pd.to_datetime(frames[n][c], format="ISO8601").max()
                 for n, c in columns.items() if n in frames and n in ("sessions.csv",
                                                                     "assessments.csv"))
    shift = (pd.Timestamp.today().normalize() - pd.Timedelta(days=1)) - latest.normalize()
    out = []
    for f in files:
        frame = frames[f.name]
        col = columns.get(f.name)
        if col:
            when = pd.to_datetime(frame[col], format="ISO8601") + shift
            timed = frame[col].str.contains("T")
            frame[col] = when.dt.strftime("%Y-%m-%dT%H:%M").where(timed,
                                                                   when.dt.strftime("%Y-%m-%d"))
        path = directory / f.name
        frame.to_csv(path, index=False)
        out.append(path)
    return out


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
    got = _analysed(args)
    if got is None:
        return 0 if args.json else 1
    # the fields of data-formats.md, then the patient's clinic and the clinic's own id (the
    # key shown as patient_id is unique; the id a clinic knows is unique within the clinic)
    outcomes = got[2].merge(got[1][["patient_id", "clinic_id", "source_id"]],
                            on="patient_id", how="left")
    outcomes = outcomes[list(OUTCOME_FIELDS) + ["clinic_id", "source_id"]]
    if args.json:
        for row in outcomes.itertuples(index=False):
            print(json.dumps({k: _json_value(v) for k, v in zip(outcomes.columns, row,
                                                                 strict=True)}))
    else:
        print(outcomes.to_string(max_rows=50))
    return 0


def _analysed(args: argparse.Namespace):
    """(engine, patients, per-course outcomes, course attributes), or None when there is no
    data: the derived results (:func:`dashboard.db.derived.read`, the dashboard's own), so the
    CLI's figures are the dashboard's.

    Totals are used as stored: the importer scored and validated them (as the dashboard does).
    """
    from analysis.derive import split_means
    from dashboard.db.derived import read
    from dashboard.db.repository import load_patients

    engine = make_engine(args.db)
    upgrade(engine)
    if not {"assessments", "sessions"} <= stored_kinds(engine):
        print("no data yet: run `kap-outcomes demo` or `kap-outcomes import FILE`",
              file=sys.stderr)
        return None
    d = read(engine, settings_in_force())
    # stored by patient bucket: in patient order, each patient's rows as derived
    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values("patient_id", kind="stable").reset_index(drop=True)

    return engine, load_patients(engine), ordered(split_means(d.outcomes)[0]), ordered(d.courses)


def cmd_signals(args: argparse.Namespace) -> int:
    """The current signals, one JSON object per line (for scripts, an EHR inbox, a morning
    e-mail job), with each signal's workflow state."""
    from dashboard.db.derived import clinic_signals
    from dashboard.db.repository import load_patients, signal_states

    try:
        as_of = pd.Timestamp(args.as_of) if args.as_of else pd.Timestamp.now().floor("min")
    except ValueError:
        print(f"--as-of must be a date like 2026-11-24, got {args.as_of!r}", file=sys.stderr)
        return 2
    engine = make_engine(args.db)
    upgrade(engine)
    if "assessments" not in stored_kinds(engine):
        print("no data yet: run `kap-outcomes demo` or `kap-outcomes import FILE`",
              file=sys.stderr)
        return 0
    # the same signals as the dashboard's, from the derived results (no alignment of every score)
    current, old = clinic_signals(engine, settings_in_force(), as_of)
    sig = pd.concat([current, old.assign(_old=True)], ignore_index=True) if args.all else current
    sig = sig.merge(load_patients(engine)[["patient_id", "clinic_id", "clinician_id"]],
                    on="patient_id", how="left")
    states = signal_states(engine, sig["patient_id"].unique().tolist()) if len(sig) else None
    if states is not None and len(states):
        states["score_at"] = pd.to_datetime(states["score_at"])
        sig = sig.merge(states[["patient_id", "kind", "instrument", "score_at", "status",
                                "assigned_to", "snooze_until"]],
                        on=["patient_id", "kind", "instrument", "score_at"], how="left")
    for col in ("status", "assigned_to", "snooze_until"):
        if col not in sig.columns:
            sig[col] = None
    sig["status"] = sig["status"].fillna("open")
    for row in sig.itertuples(index=False):
        print(json.dumps({
            "patient_id": row.patient_id, "clinic_id": _json_value(row.clinic_id),
            "clinician_id": _json_value(row.clinician_id), "kind": row.kind,
            "label": row.label, "instrument": row.instrument,
            "date": f"{row.score_at:%Y-%m-%d}", "days_ago": int(row.days_ago),
            "priority": int(row.priority), "reason": row.reason, "status": row.status,
            "assigned_to": _json_value(row.assigned_to),
            "snooze_until": None if pd.isna(row.snooze_until) else str(row.snooze_until),
            "current": not bool(getattr(row, "_old", False) is True)}))
    return 0


def cmd_safety(args: argparse.Namespace) -> int:
    """One JSON object per dosing session with its safety record (``safety-reference.md``):
    flags are true / false, or null where the record cannot tell."""
    from analysis.safety import SESSION_FIELDS
    from dashboard.db.derived import read
    from dashboard.db.repository import load_patients

    engine = make_engine(args.db)
    upgrade(engine)
    if "sessions" not in stored_kinds(engine):
        print("no data yet: run `kap-outcomes demo` or `kap-outcomes import FILE`",
              file=sys.stderr)
        return 0
    settings = settings_in_force()
    # the dashboard's own records (derived at import: no monitoring row is read here)
    table = read(engine, settings).safety.sort_values(["patient_id", "session_at"],
                                                      kind="stable")
    table = table.merge(load_patients(engine)[["patient_id", "clinic_id"]], on="patient_id",
                        how="left")
    fields = list(SESSION_FIELDS[:1]) + ["clinic_id"] + list(SESSION_FIELDS[1:])
    for row in table[fields].itertuples(index=False):
        out = {k: _json_value(v) for k, v in zip(fields, row, strict=True)}
        out["session_at"] = f"{row.session_at:%Y-%m-%dT%H:%M}"
        print(json.dumps(out))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dashboard import views
    from dashboard.db.repository import record_audit
    from dashboard.exports.tables import (
        rates_table,
        research_extract,
        to_csv_bytes,
        to_xlsx_bytes,
    )

    got = _analysed(args)
    if got is None:
        return 1
    engine, _, outcomes, attrs = got
    settings = settings_in_force()
    if args.what == "extract":
        table = research_extract(outcomes, attrs)
        meta = ["Patient-level research extract: random ids for this export only, days from "
                "day 0, no dates and no clinic patient ids."]
    else:
        # the same decided cells as the dashboard's cards and breakdowns, per instrument
        parts = []
        for code in sorted(outcomes["instrument"].unique()):
            rates = (views.breakdown_view(outcomes, attrs, instrument=code, by=args.by,
                                          settings=settings).rates if args.by
                     else views.headline_rates(outcomes, instrument=code, settings=settings))
            parts.append(rates_table(rates))
        table = pd.concat(parts, ignore_index=True)
        meta = [f"Outcome rates{' by ' + args.by if args.by else ''}; n = "
                f"{outcomes['patient_id'].nunique()} patients."]
    data = (to_xlsx_bytes(table, meta=meta, settings=settings) if args.format == "xlsx"
            else to_csv_bytes(table, meta=meta, settings=settings))
    Path(args.out).write_bytes(data)
    record_audit(engine, actor=os.environ.get("USER", "cli"), action="export",
                 target_kind=args.what, detail=f"{args.format}, {len(table)} rows")
    print(f"wrote {args.out}: {len(table)} rows ({args.what}, {args.format})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dashboard.db.derived import read
    from dashboard.db.repository import grave_safety, record_audit
    from dashboard.exports.report import parse_period, report_pdf

    engine = make_engine(args.db)
    upgrade(engine)
    if "assessments" not in stored_kinds(engine):
        print("no data yet: run `kap-outcomes demo` first", file=sys.stderr)
        return 1
    # the dashboard's own derived results (no score is lined up again)
    derived = read(engine, settings_in_force())
    as_of = derived.contacts["last_contact"].max()
    try:
        period = parse_period(args.period, as_of=as_of)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from tqdm import tqdm

    with tqdm(total=8, desc=f"report {period.label}", file=sys.stderr, disable=None) as bar:
        def progress(i: int, n: int, what: str) -> None:
            bar.set_postfix_str(what)
            bar.n = i
            bar.refresh()

        pdf = report_pdf(derived, period, clinic_ids=tuple(args.clinic or ()),
                         instrument=args.instrument, routes=tuple(args.route or ()),
                         indications=tuple(args.indication or ()),
                         clinic_name=args.clinic_name or os.environ.get(
                             "KAP_OUTCOMES_CLINIC_NAME"), as_of=as_of, progress=progress,
                         safety=grave_safety(engine))
    Path(args.out).write_bytes(pdf)
    record_audit(engine, actor=os.environ.get("USER", "cli"), action="report",
                 target_kind="period", target_id=period.label)
    print(f"wrote {args.out} ({len(pdf) // 1024} KB): {period.label}, courses started "
          f"{period.start:%Y-%m-%d} to {period.end - pd.Timedelta(days=1):%Y-%m-%d}")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    import getpass

    from dashboard.db.repository import record_audit, save_user
    from dashboard.security import hash_password

    engine = make_engine(args.db)
    upgrade(engine)
    password_hash = None
    if not args.oidc:
        password = os.environ.get("KAP_OUTCOMES_NEW_PASSWORD")
        if not password:
            if not sys.stdin or not sys.stdin.isatty():
                print("no terminal to ask for the password: set KAP_OUTCOMES_NEW_PASSWORD "
                      "for scripts", file=sys.stderr)
                return 2
            try:
                password = getpass.getpass(f"password for {args.name}: ")
            except (EOFError, KeyboardInterrupt):
                print("no password given", file=sys.stderr)
                return 2
        try:
            password_hash = hash_password(password)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    if args.role == "clinician" and not args.clinician_id:
        print("a clinician account needs --clinician-id (whose patients they see)",
              file=sys.stderr)
        return 2
    if args.role == "director" and not args.clinic:
        print("a director account needs --clinic (repeatable)", file=sys.stderr)
        return 2
    save_user(engine, username=args.name, role=args.role, password_hash=password_hash,
              clinics=tuple(args.clinic or ()), clinician_id=args.clinician_id)
    record_audit(engine, actor=os.environ.get("USER", "cli"), action="user_saved",
                 target_kind="user", target_id=args.name, detail=args.role)
    print(f"saved {args.role} account {args.name}")
    return 0


def cmd_patient_move(args: argparse.Namespace) -> int:
    from dashboard.db.derived import move_patient

    engine = make_engine(args.db)
    upgrade(engine)
    problem = move_patient(engine, args.patient, args.clinic, clinician_id=args.clinician_id,
                           actor=os.environ.get("USER", "cli"), settings=settings_in_force())
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"patient {args.patient} is now in clinic {args.clinic}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from dashboard.db.models import AppUser

    env = dict(os.environ, KAP_OUTCOMES_DB=database_url(args.db))
    clinic = os.environ.get("KAP_OUTCOMES_MODE", "local").lower() == "clinic"
    if clinic:
        engine = make_engine(args.db)
        upgrade(engine)
        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(AppUser.__table__).where(
                AppUser.__table__.c.password_hash.is_not(None))).scalar_one()
        oidc = (ROOT / ".streamlit" / "secrets.toml").exists() and "[auth]" in (
            ROOT / ".streamlit" / "secrets.toml").read_text()
        if not n and not oidc:
            print("clinic mode needs authentication: add an account with `kap-outcomes user "
                  "add` or configure [auth] in .streamlit/secrets.toml", file=sys.stderr)
            return 2
    elif args.address not in ("localhost", "127.0.0.1", "::1"):
        print("local mode serves localhost only; set KAP_OUTCOMES_MODE=clinic (with "
              "authentication) to serve other machines", file=sys.stderr)
        return 2
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
    sub.add_parser("derive", help="recompute every patient's derived outcomes (after a "
                   "settings change)").set_defaults(func=cmd_derive)
    sub.add_parser("init", help="create or upgrade the database schema").set_defaults(
        func=cmd_init)
    demo = sub.add_parser("demo", help="load the bundled sample data (dated up to yesterday)")
    demo.add_argument("--as-is", action="store_true",
                      help="keep the sample's own dates instead of moving them up to yesterday")
    demo.set_defaults(func=cmd_demo)
    imp = sub.add_parser("import", help="import CSV, XLSX or FHIR files (all or nothing each)")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--kind", choices=list(IMPORT_KINDS))
    order = imp.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="date_order", action="store_const", const="dayfirst")
    order.add_argument("--monthfirst", dest="date_order", action="store_const",
                       const="monthfirst")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    imp.add_argument("--patient-identifier-system", metavar="URL",
                     help="FHIR: take each patient's id from the Patient identifier of this "
                          "system (e.g. the clinic's MRN system)")
    imp.add_argument("--clinic", metavar="ID",
                     help="every row is of this clinic: the patient ids are this clinic's "
                          "(two clinics may use the same id for two patients)")
    imp.add_argument("--together", action="store_true",
                     help="the files land together or not at all (one transaction; a "
                          "clinic's whole export is derived once, not once per file)")
    imp.set_defaults(func=cmd_import, date_order="iso")
    met = sub.add_parser("metrics", help="per-course outcomes")
    met.add_argument("--json", action="store_true", help="one JSON object per line")
    met.set_defaults(func=cmd_metrics)
    sig = sub.add_parser("signals", help="current clinical signals (JSON lines)")
    sig.add_argument("--json", action="store_true", help="one JSON object per line (default)")
    sig.add_argument("--as-of", help="the date to treat as today (default: now)")
    sig.add_argument("--all", action="store_true",
                     help="also the signals of patients not seen within active_days")
    sig.set_defaults(func=cmd_signals)
    saf = sub.add_parser("safety", help="session safety: one JSON object per dosing session")
    saf.add_argument("--json", action="store_true", help="one JSON object per line (default)")
    saf.set_defaults(func=cmd_safety)
    exp = sub.add_parser("export", help="export a de-identified table (CSV or XLSX)")
    exp.add_argument("--what", choices=["rates", "extract"], default="rates")
    exp.add_argument("--by", choices=list(BREAKDOWNS))
    exp.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    exp.add_argument("--out", required=True)
    exp.set_defaults(func=cmd_export)
    rep = sub.add_parser("report", help="the quality report (PDF)")
    rep.add_argument("--period", default="last-quarter",
                     help="2025Q3, 2025H1, 2025, last-quarter (default: the latest quarter "
                          "whose follow-up is mature), last-half, last-year or rolling-12m")
    rep.add_argument("--out", required=True)
    rep.add_argument("--clinic", action="append", help="restrict to a clinic (repeatable)")
    rep.add_argument("--instrument", default="PHQ9", choices=["PHQ9", "GAD7", "PCL5"])
    rep.add_argument("--route", action="append", help="restrict to a route (repeatable)")
    rep.add_argument("--indication", action="append",
                     help="restrict to an indication (repeatable)")
    rep.add_argument("--clinic-name", help="the name on every page (default: "
                                           "KAP_OUTCOMES_CLINIC_NAME or 'KAP Outcomes')")
    rep.set_defaults(func=cmd_report)
    usr = sub.add_parser("user", help="manage accounts (clinic mode)")
    usr_sub = usr.add_subparsers(dest="user_command", required=True)
    add = usr_sub.add_parser("add", help="create or replace an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["director", "clinician", "quality",
                                                       "admin"])
    add.add_argument("--clinic", action="append", help="clinic id a director sees (repeatable)")
    add.add_argument("--clinician-id", help="the clinician id whose patients this user sees")
    add.add_argument("--oidc", action="store_true",
                     help="no password: the user signs in through the OIDC provider")
    add.set_defaults(func=cmd_user)
    pat = sub.add_parser("patient", help="manage patients")
    pat_sub = pat.add_subparsers(dest="patient_command", required=True)
    mov = pat_sub.add_parser("move", help="place a patient in another clinic (audited)")
    mov.add_argument("patient", help="the patient as the dashboard shows it")
    mov.add_argument("--clinic", required=True, help="the clinic id")
    mov.add_argument("--clinician-id", help="the primary clinician there")
    mov.set_defaults(func=cmd_patient_move)
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
