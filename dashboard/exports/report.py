"""The quarterly quality report: HTML built from the app's own chart builders, printed to PDF by
Debian's Chromium (the same browser Kaleido uses), de-identified and small-cell suppressed."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import Settings, align, course_attributes, per_course_outcomes
from analysis.suppression import WITHHELD_FOOTNOTE
from dashboard import charts, views
from dashboard.db.repository import Frames
from dashboard.exports.figures import figure_bytes
from dashboard.exports.tables import rates_table
from dashboard.labels import breakdown_label, human_table

__all__ = ["Period", "parse_period", "report_html", "report_pdf", "html_to_pdf"]

_PERIOD_RE = re.compile(r"^(\d{4})Q([1-4])$")
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Period:
    """A calendar quarter: courses whose first dose falls in ``[start, end)``."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp

    def previous(self) -> Period:
        year, q = int(self.label[:4]), int(self.label[-1])
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
        return parse_period(f"{year}Q{q}")


def parse_period(text: str) -> Period:
    """``2025Q3`` → courses started 2025-07-01 up to (not including) 2025-10-01."""
    m = _PERIOD_RE.match(text.strip().upper())
    if not m:
        raise ValueError(f"period must look like 2025Q3, got {text!r}")
    year, q = int(m.group(1)), int(m.group(2))
    start = pd.Timestamp(year=year, month=3 * q - 2, day=1)
    return Period(label=f"{year}Q{q}", start=start, end=start + pd.DateOffset(months=3))


def _svg(fig, footnote: str) -> str:
    svg = figure_bytes(fig, "svg", footnote=footnote, width=900, height=520).decode("utf-8")
    return f'<div class="fig">{svg}</div>'


def _table(frame: pd.DataFrame) -> str:
    return human_table(frame).to_html(index=False, border=0, classes="t", na_rep="–",
                                      escape=True)


def report_html(frames: Frames, period: Period, *, settings: Settings | None = None,
                clinic_ids: tuple[str, ...] = (), progress: Progress | None = None) -> str:
    """The report as a self-contained HTML page (charts as inline SVG)."""
    settings = settings or Settings()
    step = progress or (lambda i, n, what: None)
    total_steps = 7
    step(0, total_steps, "aligning scores")
    al = align(frames.assessments, frames.sessions, settings=settings)
    attrs = course_attributes(al, frames.patients)
    outcomes = per_course_outcomes(al)
    if clinic_ids:
        attrs = attrs[attrs["clinic_id"].isin(clinic_ids)]

    def in_period(p: Period) -> pd.DataFrame:
        keep = attrs[(attrs["first_dose_at"] >= p.start) & (attrs["first_dose_at"] < p.end)]
        return outcomes.merge(keep[["patient_id", "course_id"]], on=["patient_id", "course_id"])

    cur, prev = in_period(period), in_period(period.previous())
    n_pat, n_courses = cur["patient_id"].nunique(), len(cur.drop_duplicates(
        ["patient_id", "course_id"]))
    where = ", ".join(clinic_ids) if clinic_ids else "all clinics"
    foot = (f"{where} · courses started {period.start:%Y-%m-%d} to "
            f"{(period.end - pd.Timedelta(days=1)):%Y-%m-%d} · n = {n_courses} courses of "
            f"{n_pat} patients · definitions in the methods appendix")
    parts = [f"<h1>Quarterly outcomes report {html.escape(period.label)}</h1>",
             f"<p class='cover'>{html.escape(where)} · courses started {period.start:%d %b %Y} – "
             f"{period.end - pd.Timedelta(days=1):%d %b %Y} · <b>{n_courses}</b> courses of "
             f"<b>{n_pat}</b> patients · generated {dt.date.today():%d %b %Y} · synthetic or "
             "de-identified data only: no patient identifiers appear in this report.</p>"]
    step(1, total_steps, "headline rates")
    rows = []
    for label, frame in ((period.label, cur), (period.previous().label, prev)):
        if frame.empty:
            continue
        head = views.headline_rates(frame, instrument="PHQ9", settings=settings)
        t = rates_table(head)
        t = t[t["outcome"].isin(["endpoint_response", "endpoint_remission", "rapid_response"])]
        rows.append(t.assign(scope=label).rename(columns={"scope": "period"}))
    if rows:
        parts += ["<h2>Response, remission and rapid response (PHQ-9) vs. the previous "
                  "quarter</h2>", _table(pd.concat(rows, ignore_index=True))]
    else:
        parts.append("<p>No course started in this period.</p>")
    step(2, total_steps, "durability and boosters")
    parts.append("<h2>Durability of response and time to first booster</h2>")
    for endpoint, title, xaxis, instrument in (
            ("durability", "Still in response (PHQ-9 responders)", "Days since first response",
             "PHQ9"),
            ("time_to_booster", "Not yet boosted", "Days since induction end", None)):
        km = views.km_view(cur, endpoint=endpoint, instrument=instrument, settings=settings)
        if km is None:
            parts.append(f"<p>{title}: not shown (fewer than {settings.min_cell_size} patients "
                         "with this outcome).</p>")
        else:
            yaxis = ("Share without a booster" if endpoint == "time_to_booster"
                     else "Share still in response")
            parts.append(_svg(charts.km_figure(km, title=title, xaxis_title=xaxis,
                                               yaxis_title=yaxis), foot))
    step(3, total_steps, "breakdowns")
    for by in ("route", "indication"):
        if cur.empty:
            continue
        view = views.breakdown_view(cur, attrs, instrument="PHQ9", by=by, settings=settings)
        if view.rates.table.empty:
            continue
        t = rates_table(view.rates)
        parts += [f"<h2>By {breakdown_label(by)} (PHQ-9)</h2>",
                  _svg(charts.rates_figure(view.rates, outcome="endpoint_response",
                                           title=f"Response at endpoint by {breakdown_label(by)}"),
                       foot),
                  _table(t[t["outcome"].isin(["endpoint_response", "endpoint_remission"])])]
    step(4, total_steps, "attrition")
    if not cur.empty:
        head = views.headline_rates(cur, instrument="PHQ9", settings=settings)
        parts += ["<h2>Attrition (PHQ-9)</h2>",
                  _svg(charts.funnel_figure(views.funnel_view(cur, instrument="PHQ9",
                                                              settings=settings,
                                                              headline=head)), foot)]
    step(5, total_steps, "methods")
    parts += ["<h2 class='newpage'>Methods appendix: every definition and threshold in force</h2>",
              _table(pd.DataFrame(settings.as_rows(), columns=["setting", "value", "meaning"])),
              "<p>Rates are per treatment course with Wilson 95% intervals; durability and time "
              "to booster are Kaplan–Meier estimates (log-log 95% intervals; medians with the "
              "interval where the band crosses 50%). Cells built from fewer than "
              f"{settings.min_cell_size} patients are withheld. "
              f"{html.escape(WITHHELD_FOOTNOTE(settings.min_cell_size))}</p>"]
    style = ("body{font-family:'Noto Sans',sans-serif;margin:28px;color:#222}"
             "h1{font-size:24px}h2{font-size:17px;margin-top:22px;page-break-after:avoid}"
             ".cover{font-size:13px;color:#444}.t{border-collapse:collapse;font-size:11px}"
             ".t td,.t th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}"
             ".fig{page-break-inside:avoid}.newpage{page-break-before:always}")
    step(6, total_steps, "layout")
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style>"
            f"<title>KAP Outcomes {period.label}</title></head><body>{''.join(parts)}</body></html>")


def html_to_pdf(page: str, *, chromium: str | None = None) -> bytes:
    """Print an HTML page to PDF with headless Chromium (no network, no sandbox as root)."""
    exe = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.html"
        out = Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-pdf-header-footer", f"--user-data-dir={tmp}/profile",
               f"--print-to-pdf={out}", src.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, timeout=120)
        if not out.exists():
            raise RuntimeError(f"Chromium did not write the PDF (exit {proc.returncode})")
        return out.read_bytes()


def report_pdf(frames: Frames, period: Period, *, settings: Settings | None = None,
               clinic_ids: tuple[str, ...] = (), progress: Progress | None = None) -> bytes:
    """The quarterly report as PDF bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kaleido: "kopts ignored with a server"
        page = report_html(frames, period, settings=settings, clinic_ids=clinic_ids,
                           progress=progress)
    pdf = html_to_pdf(page)
    if progress:
        progress(7, 7, "done")
    return pdf
