"""Export speed: time per chart export (cold and warm) and the full quarterly report.

Run: ``python -m benchmarks.bench_exports [--patients 100000] [--repeats 5]``

Chart exports go through one Kaleido browser kept alive (the first call starts it: "cold").
The report is timed on the bundled sample and on a generated clinic of ``--patients``
(frames straight from the generator; the database read is timed by bench_dashboard).
"""

from __future__ import annotations

import argparse
import statistics
import time

import plotly.graph_objects as go

from analysis import Settings, align, per_course_outcomes
from dashboard import charts, views
from dashboard.db.repository import Frames
from dashboard.exports.figures import figure_bytes
from dashboard.exports.report import parse_period, report_pdf
from sample_data.generate import generate, load_sample


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--keep", help="also write the large report to this PDF file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    patients, sessions, assessments = load_sample()
    al = align(assessments, sessions, settings=Settings())
    km = views.km_view(per_course_outcomes(al), endpoint="durability", instrument="PHQ9",
                       settings=Settings())
    fig = charts.km_figure(km, title="Still in response", xaxis_title="days")
    note = "all clinics · n = 300 patients"
    cold = _time(lambda: figure_bytes(fig, "png", footnote=note))
    print(f"chart export cold (starts the browser): {cold:.2f} s")
    for fmt in ("png", "svg", "pdf"):
        warm = [_time(lambda f=fmt: figure_bytes(fig, f, footnote=note))
                for _ in range(args.repeats)]
        print(f"chart export warm {fmt}: median {statistics.median(warm):.3f} s "
              f"(n={len(warm)})")
    blank = go.Figure()
    print(f"empty figure png warm: {_time(lambda: figure_bytes(blank, 'png', footnote='')):.3f} s")
    sample = Frames(patients=patients, sessions=sessions, assessments=assessments)
    runs = [_time(lambda: report_pdf(sample, parse_period("2025Q2"))) for _ in range(3)]
    print(f"report on the sample (300 patients): median {statistics.median(runs):.2f} s")
    big = generate(args.patients, seed=5, with_items=False)
    big_frames = Frames(patients=big.patients, sessions=big.sessions,
                        assessments=big.assessments.assign(
                            total=big.assessments["total"].astype(float)))
    t = _time(lambda: report_pdf(big_frames, parse_period("2025Q2")))
    print(f"report on {args.patients} patients ({len(big.assessments)} assessments): {t:.1f} s")
    if args.keep:
        from pathlib import Path

        Path(args.keep).write_bytes(report_pdf(big_frames, parse_period("2025Q2")))
        print(f"wrote {args.keep}")


if __name__ == "__main__":
    main()
