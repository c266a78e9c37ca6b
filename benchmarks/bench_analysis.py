"""Time alignment + per-course outcomes + cohort statistics on generated clinics.

Run: ``python -m benchmarks.bench_analysis [--sizes 1000 10000 100000] [--repeats 3]``

Each size runs in a fresh subprocess so its peak memory (max RSS) is its own. Prints, per size,
the median wall time of each stage over the repeats and the peak RSS; the growth ratio between
sizes shows whether cost is linear. Generation time is reported but not part of the target.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _run_one(n_patients: int, repeats: int) -> dict:
    from analysis import (
        align,
        attrition_funnel,
        booster_effect,
        completeness,
        course_attributes,
        mean_trajectory,
        per_course_outcomes,
        summarize_rates,
        summarize_survival,
    )
    from sample_data.generate import generate

    t = time.perf_counter()
    data = generate(n_patients, seed=1, with_items=False)
    gen_s = time.perf_counter() - t
    scored = data.assessments.assign(total=data.assessments["total"].astype(float))
    stages: dict[str, list[float]] = {"align": [], "outcomes": [], "completeness": [],
                                      "cohort": []}
    for _ in range(repeats):
        t = time.perf_counter()
        al = align(scored, data.sessions)
        stages["align"].append(time.perf_counter() - t)
        t = time.perf_counter()
        out = per_course_outcomes(al)
        stages["outcomes"].append(time.perf_counter() - t)
        t = time.perf_counter()
        completeness(al, out)
        stages["completeness"].append(time.perf_counter() - t)
        t = time.perf_counter()
        attrs = course_attributes(al, data.patients)
        summarize_rates(out, attributes=attrs, by=["route"])
        summarize_rates(out)
        for endpoint in ("durability", "time_to_response"):
            summarize_survival(out, endpoint=endpoint, instrument="PHQ9", attributes=attrs,
                               by="route")
        summarize_survival(out, endpoint="time_to_booster", instrument=None)
        for instrument in ("PHQ9", "GAD7", "PCL5"):
            mean_trajectory(al, instrument=instrument)
        booster_effect(al, instrument="PHQ9")
        attrition_funnel(out, instrument="PHQ9")
        stages["cohort"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in stages.items()}
    return {"patients": n_patients, "assessments": len(scored), "sessions": len(data.sessions),
            "generate_s": gen_s, **{f"{k}_s": v for k, v in med.items()},
            "align_plus_outcomes_s": med["align"] + med["outcomes"],
            "total_s": sum(med.values()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_run_one(args.child, args.repeats)))
        return
    rows = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_analysis", "--child",
                               str(n), "--repeats", str(args.repeats)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['patients']:>7} patients {r['assessments']:>9} assessments | "
              f"align {r['align_s']:6.2f} s  outcomes {r['outcomes_s']:6.2f} s  "
              f"completeness {r['completeness_s']:5.2f} s  cohort {r['cohort_s']:5.2f} s | "
              f"total {r['total_s']:6.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB "
              f"(generate {r['generate_s']:.1f} s)", flush=True)
    for a, b in zip(rows, rows[1:], strict=False):
        print(f"{a['patients']} -> {b['patients']} patients: "
              f"x{b['assessments'] / a['assessments']:.1f} rows, "
              f"x{b['total_s'] / a['total_s']:.1f} time")


if __name__ == "__main__":
    main()
