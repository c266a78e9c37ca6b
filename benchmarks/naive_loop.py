"""The yardstick of issue 14: CSV to per-course outcomes as a clinic analyst would write it from
``definitions.md`` — the csv module, dicts and one Python loop per patient, no pandas.

Run: ``python -m benchmarks.naive_loop --patients 100000`` (generates the clinic once under
``benchmarks/.cache/``), or ``--compare`` to time it against the public analysis API
(``pandas.read_csv`` → :func:`analysis.align` → :func:`analysis.per_course_outcomes`) on the
same files, each in a fresh subprocess so its peak memory (max RSS) is its own, with the ratio.

The loop computes what an analyst's first spreadsheet needs per course and instrument:
baseline, endpoint, response and remission at endpoint, rapid response. Courses are split by the
90-day gap (``course_id`` is not used, as in a file without it); induction doses follow within 14
days, at most 8; the endpoint is the last score from induction end to 14 days after, before the
first booster. The same settings as :class:`analysis.Settings`' defaults. Agreement with the API
on these fields is checked by ``--compare`` (counts of responders and remitters).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
REMISSION_BELOW = {"PHQ9": 5.0, "GAD7": 5.0, "PCL5": 33.0}


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text) if "T" in text else dt.datetime.fromisoformat(
        text + "T00:00")


def _days(t: dt.datetime, t0: dt.datetime) -> float:
    timed = t.time() != dt.time(0) and t0.time() != dt.time(0)
    if timed:
        return (t - t0).total_seconds() / 86400
    return float((t.date() - t0.date()).days)


def naive_outcomes(folder: Path) -> list[dict]:
    """Per-course outcomes from ``sessions.csv`` and ``assessments.csv`` in ``folder``."""
    doses: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    with open(folder / "sessions.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] in ("dosing", "booster"):
                doses[row["patient_id"]].append((_when(row["session_at"]), row["kind"]))
    scores: dict[str, list[tuple[dt.datetime, str, float]]] = defaultdict(list)
    with open(folder / "assessments.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["total"] != "":
                scores[row["patient_id"]].append((_when(row["administered_at"]),
                                                  row["instrument"], float(row["total"])))
    out = []
    for pid, ds in doses.items():
        ds.sort()
        courses: list[list[tuple[dt.datetime, str]]] = []
        for when, kind in ds:
            if courses and (kind == "booster" or (when - courses[-1][-1][0]).days <= 90):
                courses[-1].append((when, kind))
            else:
                courses.append([(when, kind)])
        for c, course in enumerate(courses):
            day0 = course[0][0]
            induction_end, n = day0, 1
            first_booster = None
            for when, kind in course[1:]:
                if first_booster is None and kind != "booster" and n < 8 and \
                        _days(when, induction_end) <= 14:
                    induction_end, n = when, n + 1
                elif first_booster is None:
                    first_booster = when
            window_start = day0.date() - dt.timedelta(days=30)
            next_start = (courses[c + 1][0][0].date() - dt.timedelta(days=30)
                          if c + 1 < len(courses) else None)
            by_instr: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for when, instr, total in sorted(scores.get(pid, ())):
                if when.date() < window_start or (next_start and when.date() >= next_start):
                    continue
                by_instr[instr].append((_days(when, day0), total))
            end_day = _days(induction_end, day0)
            booster_day = _days(first_booster, day0) if first_booster else None
            for instr, series in by_instr.items():
                before = [t for d, t in series if d <= 0]
                baseline = before[-1] if before else None
                row = {"patient_id": pid, "course_number": c + 1, "instrument": instr,
                       "baseline_total": baseline, "endpoint_response": None,
                       "endpoint_remission": None, "rapid_response": None}
                after = [(d, t) for d, t in series
                         if d > 0 and (booster_day is None or d < booster_day)]
                endpoint = [t for d, t in after if end_day <= d <= end_day + 14]
                if endpoint:
                    row["endpoint_remission"] = endpoint[-1] < REMISSION_BELOW[instr]
                if baseline:
                    if endpoint:
                        row["endpoint_response"] = (endpoint[-1] - baseline) / baseline <= -0.5
                    early = [t for d, t in after if d <= 7]
                    if early:
                        row["rapid_response"] = any((t - baseline) / baseline <= -0.5
                                                    for t in early)
                out.append(row)
    return out


def _api(folder: Path) -> dict:
    import pandas as pd

    from analysis import align, per_course_outcomes

    t = time.perf_counter()
    sessions = pd.read_csv(folder / "sessions.csv", dtype={"patient_id": str},
                           parse_dates=["session_at"])
    a = pd.read_csv(folder / "assessments.csv", dtype={"patient_id": str})
    a["administered_at"] = pd.to_datetime(a["administered_at"], format="ISO8601")
    out = per_course_outcomes(align(a, sessions.drop(columns=["course_id"], errors="ignore")))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "courses": len(out),
            "responders": int(out["endpoint_response"].fillna(False).astype(bool).sum())}


def _naive(folder: Path) -> dict:
    t = time.perf_counter()
    rows = naive_outcomes(folder)
    return {"seconds": time.perf_counter() - t, "courses": len(rows),
            "responders": sum(1 for r in rows if r["endpoint_response"])}


def _folder(n_patients: int) -> Path:
    from sample_data.generate import generate, write_csv

    folder = CACHE / f"safety_csv_{n_patients}"
    if not (folder / "assessments.csv").exists():
        write_csv(generate(n_patients, seed=11, with_items=False), folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--one", choices=["naive", "api"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = _folder(args.patients)
    if args.one:
        result = (_naive if args.one == "naive" else _api)(folder)
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    runs = {}
    for which in (["naive", "api"] if args.compare else ["naive"]):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.naive_loop", "--patients",
                               str(args.patients), "--one", which], cwd=ROOT, check=True,
                              capture_output=True, text=True)
        runs[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = runs[which]
        print(f"{which:5s}: {r['seconds']:7.1f} s, peak {r['max_rss_mb']:6.0f} MB, "
              f"{r['courses']} course x instrument rows, {r['responders']} responders",
              flush=True)
    if args.compare:
        print(f"API / naive loop: {runs['naive']['seconds'] / runs['api']['seconds']:.1f}x "
              f"faster, peak memory {runs['api']['max_rss_mb'] / runs['naive']['max_rss_mb']:.2f}"
              "x the loop's")


if __name__ == "__main__":
    main()
