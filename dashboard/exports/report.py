"""The quality report: HTML built from the app's own chart builders and view objects, printed to
PDF by Debian's Chromium (the same browser Kaleido uses), de-identified and small cells withheld.

Periods: a quarter, a half, a year, or rolling 12 months; by default the latest period whose
follow-up is mature. Every page carries the clinic name, the period, the filters, the generation
date and its page number."""

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

from analysis import Settings
from analysis.cohort import compare_proportions
from analysis.derive import Derived, derive, split_means
from analysis.outcomes import COMPLETENESS_REASONS
from analysis.suppression import WITHHELD_FOOTNOTE
from dashboard import charts, views
from dashboard.config import settings_in_force
from dashboard.db.derived import DerivedTables
from dashboard.db.repository import Frames, SafetyFrames
from dashboard.exports.figures import figure_bytes
from dashboard.exports.tables import benefit_risk_table, counts_table, rates_table, safety_table
from dashboard.labels import (
    SAFETY_SHORT,
    breakdown_label,
    human_table,
    instrument_name,
    interval_label,
    outcome_label,
    safety_outcome_label,
)

__all__ = ["Period", "parse_period", "report_html", "report_pdf", "html_to_pdf"]

_QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
_HALF_RE = re.compile(r"^(\d{4})H([12])$")
_YEAR_RE = re.compile(r"^(\d{4})$")
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Period:
    """A reporting period: the courses whose first dose falls in ``[start, end)``.

    ``kind`` is ``quarter``, ``half``, ``year`` or ``rolling`` (12 months)."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str = "quarter"

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        months = {"quarter": 3, "half": 6}.get(self.kind, 12)
        return _period(self.kind, self.start - pd.DateOffset(months=months))

    def trailing_12m(self) -> Period:
        """The 12 months before this period (disjoint from it: comparable by a test)."""
        start = self.start - pd.DateOffset(months=12)
        return Period(label=f"12 months to {self.start - pd.Timedelta(days=1):%Y-%m-%d}",
                      start=start, end=self.start, kind="rolling")

    def mature(self, as_of: pd.Timestamp, settings: Settings) -> bool:
        """Whether the period's courses have had time to reach their endpoint."""
        return self.end + pd.Timedelta(days=settings.maturity_days) <= as_of


def _period(kind: str, start: pd.Timestamp) -> Period:
    start = pd.Timestamp(start).normalize()
    if kind == "quarter":
        q = (start.month - 1) // 3 + 1
        return Period(f"{start.year}Q{q}", start, start + pd.DateOffset(months=3), kind)
    if kind == "half":
        h = 1 if start.month <= 6 else 2
        return Period(f"{start.year}H{h}", start, start + pd.DateOffset(months=6), kind)
    if kind == "year":
        return Period(f"{start.year}", start, start + pd.DateOffset(years=1), kind)
    end = start + pd.DateOffset(months=12)
    return Period(f"12 months to {end - pd.Timedelta(days=1):%Y-%m-%d}", start, end, "rolling")


def parse_period(text: str, *, as_of: pd.Timestamp | None = None,
                 settings: Settings | None = None) -> Period:
    """A period from its name.

    ``2025Q3`` (courses started 2025-07-01 up to, not including, 2025-10-01), ``2025H1``,
    ``2025``; or, relative to ``as_of`` (the data's last contact; default today):
    ``last-quarter`` / ``last-half`` / ``last-year`` — the latest such period whose follow-up
    is mature (ended at least ``maturity_days`` before ``as_of``) — and ``rolling-12m``, the 12
    months ending at the latest mature month end.

    >>> parse_period("2025q3").label, parse_period("2025H2").start.month
    ('2025Q3', 7)
    >>> parse_period("last-quarter", as_of=pd.Timestamp("2025-12-15")).label
    '2025Q3'
    """
    settings = settings or settings_in_force()
    t = text.strip().upper()
    for rx, kind in ((_QUARTER_RE, "quarter"), (_HALF_RE, "half")):
        m = rx.match(t)
        if m:
            year, n = int(m.group(1)), int(m.group(2))
            months = 3 if kind == "quarter" else 6
            return _period(kind, pd.Timestamp(year=year, month=months * (n - 1) + 1, day=1))
    m = _YEAR_RE.match(t)
    if m:
        return _period("year", pd.Timestamp(year=int(m.group(1)), month=1, day=1))
    relative = {"LAST-QUARTER": "quarter", "LAST-HALF": "half", "LAST-YEAR": "year",
                "ROLLING-12M": "rolling"}
    if t not in relative:
        raise ValueError(f"period must be like 2025Q3, 2025H1, 2025, last-quarter, last-half, "
                         f"last-year or rolling-12m; got {text!r}")
    now = pd.Timestamp(as_of if as_of is not None else pd.Timestamp.today()).normalize()
    latest_end = now - pd.Timedelta(days=settings.maturity_days)
    kind = relative[t]
    if kind == "rolling":
        end = latest_end.to_period("M").start_time  # the latest whole month ended by then
        return _period("rolling", end - pd.DateOffset(months=12))
    months = {"quarter": 3, "half": 6, "year": 12}[kind]
    start = pd.Timestamp(year=latest_end.year, month=1, day=1)
    while start + pd.DateOffset(months=months) <= latest_end:
        start += pd.DateOffset(months=months)
    return _period(kind, start - pd.DateOffset(months=months))


def _svg(fig, footnote: str, height: int = 520) -> str:
    svg = figure_bytes(fig, "svg", footnote=footnote, width=900, height=height).decode("utf-8")
    return f'<div class="fig">{svg}</div>'


def _table(frame: pd.DataFrame) -> str:
    return human_table(frame).to_html(index=False, border=0, classes="t", na_rep="–",
                                      escape=True)


def _cell_words(cell, ci_word: str) -> str:
    if cell is None:
        return "–"
    if pd.isna(cell["rate"]):
        return "withheld (small numbers)"
    return (f"{cell['rate']:.0%} ({ci_word} {cell['ci_low']:.0%}–{cell['ci_high']:.0%}; "
            f"{int(cell['k'])} of {int(cell['n'])})")


def _compare(a, b) -> str:
    """In words, whether two decided cells differ beyond chance (Fisher's exact test, two
    periods of disjoint courses)."""
    if a is None or b is None or pd.isna(a["rate"]) or pd.isna(b["rate"]):
        return "not comparable (a period has too few courses)"
    p = compare_proportions(int(a["k"]), int(a["n"]), int(b["k"]), int(b["n"]))
    diff = a["rate"] - b["rate"]
    verdict = "a change beyond chance" if p < 0.05 else "within chance"
    return f"{diff:+.0%} points, {verdict} (Fisher p = {p:.2f})"


def report_html(source: Frames | Derived | DerivedTables, period: Period, *, settings: Settings | None = None,
                clinic_ids: tuple[str, ...] = (), instrument: str = "PHQ9",
                routes: tuple[str, ...] = (), indications: tuple[str, ...] = (),
                clinic_name: str | None = None, as_of: pd.Timestamp | None = None,
                progress: Progress | None = None, safety: SafetyFrames | None = None) -> str:
    """The report as a self-contained HTML page (charts as inline SVG): executive summary,
    trend over the last eight quarters, rapid onset, durability and boosters, breakdowns,
    attrition and completeness, session safety (with ``safety``), methods. Every figure comes from :mod:`dashboard.views` (small cells withheld as
    everywhere).

    ``source`` is the derived results the dashboard reads (:func:`dashboard.db.derived.read`:
    no score is lined up again), or the records themselves (:class:`Frames`, derived here by
    the same function). ``safety`` asks for the safety section: its adverse events give the
    severe or serious count (those events alone suffice,
    :func:`dashboard.db.repository.load_grave_events`); the sessions' safety records are the
    derived ones, or with records as ``source`` made here from ``safety``'s monitoring and
    events."""
    settings = settings or settings_in_force()
    step = progress or (lambda i, n, what: None)
    total_steps = 8
    step(0, total_steps, "reading outcomes")
    d = (derive(source.assessments, source.sessions, source.patients, settings=settings,
                monitoring=None if safety is None else safety.monitoring,
                events=None if safety is None else safety.events)
         if isinstance(source, Frames) else source)
    attrs = views.course_mask(d.courses, clinics=clinic_ids, routes=routes,
                              indications=indications)
    outcomes, bin_means = split_means(d.outcomes)
    if as_of is None:
        as_of = d.contacts["last_contact"].max() if len(d.contacts) else pd.Timestamp.today()
    name = instrument_name(instrument)
    ci_word = interval_label(settings.confidence_level)

    def in_period(p: Period) -> pd.DataFrame:
        keep = attrs[(attrs["first_dose_at"] >= p.start) & (attrs["first_dose_at"] < p.end)]
        return outcomes.merge(keep[["patient_id", "course_id"]], on=["patient_id", "course_id"])

    cur = in_period(period)
    prev, trailing = in_period(period.previous()), in_period(period.trailing_12m())
    n_pat, n_courses = cur["patient_id"].nunique(), len(cur.drop_duplicates(
        ["patient_id", "course_id"]))
    where = ", ".join(clinic_ids) if clinic_ids else "all clinics"
    scope = " · ".join(x for x in (
        name, where, f"routes {', '.join(routes)}" if routes else "",
        f"indications {', '.join(indications)}" if indications else "") if x)
    last_day = period.end - pd.Timedelta(days=1)
    title = clinic_name or "KAP Outcomes"
    foot = (f"{scope} · courses started {period.start:%Y-%m-%d} to {last_day:%Y-%m-%d} · "
            f"n = {n_courses} courses of {n_pat} patients · definitions in the methods appendix")
    mature = period.mature(as_of, settings)
    parts = [f"<h1>{html.escape(title)} — outcomes report {html.escape(period.label)}</h1>",
             f"<p class='cover'>{html.escape(scope)} · courses started {period.start:%d %b %Y} – "
             f"{last_day:%d %b %Y} · <b>{n_courses}</b> courses of <b>{n_pat}</b> patients · "
             f"generated {dt.date.today():%d %b %Y} · data up to {as_of:%d %b %Y} · "
             "de-identified: no patient identifiers appear in this report; counts of fewer "
             f"than {settings.min_cell_size} patients are withheld.</p>"]
    if not mature:
        parts.append(f"<p class='warn'>Follow-up is not yet mature: the period ended less than "
                     f"{settings.maturity_days:g} days before the data's last contact, so some "
                     "courses have not reached their endpoint. Rates may still change.</p>")
    step(1, total_steps, "executive summary")
    heads = {label: views.headline_rates(frame, instrument=instrument, settings=settings)
             for label, frame in (("cur", cur), ("prev", prev), ("trail", trailing))}
    rows = []
    for outcome in ("endpoint_response", "endpoint_remission", "rapid_response"):
        c, p_, t = (heads[k].cell(outcome) for k in ("cur", "prev", "trail"))
        rows.append({"Outcome": outcome_label(outcome), period.label: _cell_words(c, ci_word),
                     f"Previous ({period.previous().label})": _cell_words(p_, ci_word),
                     "Trailing 12 months": _cell_words(t, ci_word),
                     "vs previous": _compare(c, p_), "vs trailing 12 months": _compare(c, t)})
    funnel = views.funnel_view(cur, instrument=instrument, settings=settings,
                               headline=heads["cur"]).stages.set_index("stage")
    started = funnel.loc["started", "n_courses"]
    assessed = funnel.loc["assessed_at_endpoint", "n_courses"]
    completeness = ("withheld (small numbers)" if pd.isna(started) or pd.isna(assessed)
                    else f"{assessed / max(started, 1):.0%} ({int(assessed)} of {int(started)} "
                    "courses had a baseline and an endpoint score)")
    parts += ["<h2>Executive summary</h2>",
              pd.DataFrame(rows).to_html(index=False, border=0, classes="t summary",
                                         escape=True),
              f"<p>Measurement completeness ({html.escape(name)}): {completeness}. Rates are per "
              f"course with Wilson {ci_word}s; comparisons are Fisher's exact tests between "
              "periods of different courses.</p>"]
    step(2, total_steps, "trend")
    parts += _trend_section(outcomes, attrs, period, instrument, settings, as_of, foot)
    step(3, total_steps, "onset and durability")
    if not cur.empty:
        means = bin_means.merge(cur[["patient_id", "course_id"]].drop_duplicates(),
                                on=["patient_id", "course_id"])
        traj = views.trajectory_view(means, instrument=instrument, settings=settings)
        parts += ["<h2 class='newpage'>Rapid onset</h2>",
                  _svg(charts.trajectory_figure(traj), foot, height=480)]
    parts.append("<h2>Durability of response and time to first booster</h2>")
    for endpoint, fig_title, xaxis, instr, yaxis in (
            ("durability", f"Still in response ({name} responders)", "Days since first response",
             instrument, "Share still in response"),
            ("time_to_booster", "Not yet boosted", "Days since induction end", None,
             "Share without a booster")):
        km = views.km_view(cur, endpoint=endpoint, instrument=instr, settings=settings)
        if km is None:
            parts.append(f"<p>{fig_title}: not shown (fewer than {settings.min_cell_size} "
                         "patients with this outcome).</p>")
        else:
            parts.append(_svg(charts.km_figure(km, title=fig_title, xaxis_title=xaxis,
                                               yaxis_title=yaxis), foot))
    step(4, total_steps, "breakdowns")
    for by in ("route", "indication"):
        if cur.empty:
            continue
        view = views.breakdown_view(cur, attrs, instrument=instrument, by=by, settings=settings)
        if view.rates.table.empty:
            continue
        t = rates_table(view.rates)
        height = 260 + 45 * len(view.rates.outcome("endpoint_response"))
        parts += [f"<h2 class='newpage'>By {breakdown_label(by)} ({html.escape(name)})</h2>",
                  _svg(charts.rates_figure(view.rates, outcome="endpoint_response",
                                           title=f"Response at endpoint by {breakdown_label(by)}"),
                       foot, height=min(height, 520)),
                  _table(t[t["outcome"].isin(["endpoint_response", "endpoint_remission"])])]
    step(5, total_steps, "attrition and completeness")
    if not cur.empty:
        comp = views.completeness_view(d.completeness.merge(
            cur[["patient_id", "course_id"]].drop_duplicates(), on=["patient_id", "course_id"]),
            settings=settings)
        comp = comp[comp["instrument"] == instrument]
        comp = comp.assign(meaning=comp["endpoint_status"].map(COMPLETENESS_REASONS))
        parts += [f"<h2 class='newpage'>Attrition and completeness ({html.escape(name)})</h2>",
                  _svg(charts.funnel_figure(views.funnel_view(
                      cur, instrument=instrument, settings=settings, headline=heads["cur"])),
                      foot, height=420),
                  _table(counts_table(comp, value="courses", min_cell_size=settings.min_cell_size,
                                      percent=["share"]).drop(columns=["instrument"]))]
    step(6, total_steps, "session safety")
    parts += _safety_section(d.safety, attrs, cur, safety, period, instrument, settings, foot)
    parts += ["<h2 class='newpage'>Methods appendix: every definition and threshold in force</h2>",
              _table(pd.DataFrame(settings.as_rows(), columns=["setting", "value", "meaning"])),
              "<p>Rates are per treatment course with Wilson intervals; durability and time to "
              "booster are Kaplan–Meier estimates (log-log intervals; medians with the interval "
              "where the band crosses 50%), drawn only while at least "
              f"{settings.min_cell_size} remain at risk. "
              f"{html.escape(WITHHELD_FOOTNOTE(settings.min_cell_size))}</p>"]
    footer = _css_string(f"{title} · {period.label} · {scope} · generated "
                         f"{dt.date.today():%Y-%m-%d} · response ≥ "
                         f"{settings.response_reduction:.0%} drop, cells < "
                         f"{settings.min_cell_size} withheld, settings in the methods appendix")
    style = ("@page{size:A4;margin:16mm 14mm 18mm 14mm;"
             f"@bottom-left{{content:\"{footer}\";font-size:8px;color:#555}}"
             "@bottom-right{content:\"Page \" counter(page) \" of \" counter(pages);"
             "font-size:8px;color:#555}}"
             "body{font-family:'Noto Sans',sans-serif;margin:0;color:#222}"
             "h1{font-size:22px}h2{font-size:16px;margin-top:18px;page-break-after:avoid}"
             ".cover{font-size:12px;color:#444}.warn{color:#8a4b00;font-size:12px}"
             ".t{border-collapse:collapse;font-size:10px}"
             ".t td,.t th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}"
             ".summary{font-size:10.5px}.fig{page-break-inside:avoid}"
             ".newpage{page-break-before:always}")
    step(7, total_steps, "layout")
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style>"
            f"<title>{html.escape(title)} {period.label}</title></head><body>{''.join(parts)}"
            "</body></html>")


def _safety_section(table: pd.DataFrame, attrs: pd.DataFrame, cur: pd.DataFrame,
                    safety: SafetyFrames | None, period: Period, instrument: str,
                    settings: Settings, foot: str) -> list[str]:
    """Session safety in the period: the dosing sessions *dated* in it (not the courses started
    in it), with the Safety page's decided cells; response beside risk by route. ``table``:
    every dosing session's safety record (the derived ``safety``)."""
    from analysis.safety import SAFETY_OUTCOMES

    if safety is None:
        return []
    last_day = (period.end - pd.Timedelta(days=1)).date()
    t = views.safety_mask(table, attrs, start=period.start.date(), end=last_day)
    parts = ["<h2 class='newpage'>Session safety</h2>"]
    if t.empty:
        return parts + ["<p>No dosing sessions in the period.</p>"]
    sv = views.safety_view(t, safety.events, settings=settings)
    ci_word = interval_label(settings.confidence_level)
    labels = {o: safety_outcome_label(o, settings) for o in SAFETY_OUTCOMES}
    m = settings.min_cell_size
    n_serious = (str(sv.n_serious_shared) if sv.n_serious_shared is not None
                 else f"withheld (fewer than {m} patients had one)")
    no_record = "" if table["has_monitoring"].any() else (
        " <b>No session monitoring has been imported: every session counts as incomplete and "
        "no vital-sign flag can be told.</b>")
    parts += [f"<p>{sv.n_sessions} dosing sessions dated {period.start:%d %b %Y} – "
              f"{last_day:%d %b %Y}, of {sv.n_patients} patients. Shares of sessions with "
              f"Wilson {ci_word}s on the effective number of sessions (sessions of one patient "
              f"are not independent); a course has a flag when any of its sessions had it. "
              f"Severe or serious adverse events: {n_serious} (listed for the clinic's own "
              f"review on the Safety page, never in this report).{no_record}</p>",
              _svg(charts.safety_rates_figure(sv.headline, outcomes=SAFETY_OUTCOMES,
                                              labels=SAFETY_SHORT,
                                              title="Share of dosing sessions with each flag"),
                   foot.replace("courses started", "sessions dated"), height=420)]
    overall = safety_table(sv)
    overall = overall[overall["outcome"] != "severe_or_serious_events"]
    overall["outcome"] = overall["outcome"].map(labels)
    parts.append(_table(overall.drop(columns=["scope"])))
    by_route = safety_table(sv, "route")
    by_route = by_route[by_route["outcome"].isin(["bp_excursion", "any_adverse_event",
                                                  "sedated", "monitoring_complete"])]
    by_route["outcome"] = by_route["outcome"].map(labels)
    parts += ["<h3>By route</h3>", _table(by_route.drop(columns=["unit"]))]
    if not cur.empty:
        response = views.breakdown_view(cur, attrs, instrument=instrument, by="route",
                                        settings=settings).rates
        br = views.benefit_risk_view(response, sv.by["route"])

        name = instrument_name(instrument)
        side = benefit_risk_table(
            br, group="Route",
            response=f"Response at endpoint ({name}, courses started in the period)",
            outcomes={o: f"{labels[o]} (sessions)" for o in ("any_adverse_event",
                                                             "bp_excursion")})
        parts += ["<h3>Benefit beside risk, by route</h3>",
                  side.to_html(index=False, border=0, classes="t", escape=True),
                  "<p>Observational: routes are chosen for different patients, so the columns "
                  "describe each route; they do not compare treatments.</p>"]
    return parts


def _css_string(text: str) -> str:
    """Text safe inside a double-quoted CSS string in a <style> element (a clinic name cannot
    close the string or the element)."""
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
            .replace("\n", " "))


def _trend_section(outcomes: pd.DataFrame, attrs: pd.DataFrame, period: Period,
                   instrument: str, settings: Settings, as_of: pd.Timestamp,
                   foot: str) -> list[str]:
    """Response by quarter over the eight quarters up to the period's end (decided cells)."""
    last = _period("quarter", (period.end - pd.Timedelta(days=1)).to_period("Q").start_time)
    quarters = [last]
    for _ in range(7):
        quarters.insert(0, quarters[0].previous())
    rows = []
    for q in quarters:
        keep = attrs[(attrs["first_dose_at"] >= q.start) & (attrs["first_dose_at"] < q.end)]
        o = outcomes.merge(keep[["patient_id", "course_id"]], on=["patient_id", "course_id"])
        cell = views.headline_rates(o, instrument=instrument, settings=settings).cell(
            "endpoint_response")
        if cell is None:
            continue
        rows.append({**cell.drop(labels=["group"]).to_dict(), "start_month": q.label,
                     "immature": not q.mature(as_of, settings)})
    if not rows:
        return []
    # the first page publishes sums of these quarters (the period, the previous period, the
    # 12 months before): no withheld quarter may be left recoverable from them
    windows = [[q.label for q in quarters if q.start >= w.start and q.end <= w.end]
               for w in (period, period.previous(), period.trailing_12m())
               if w.start.to_period("Q").start_time == w.start
               and w.end.to_period("Q").start_time == w.end]
    decided = views.protect_published_sums(
        pd.DataFrame(rows).rename(columns={"start_month": "group"}), windows)
    table = decided.rename(columns={"group": "start_month"})
    trend = views.TrendView(instrument=instrument, outcome="endpoint_response", table=table,
                            maturity_days=settings.maturity_days, period="quarter")
    shown = rates_table(views.RateTable(table.rename(columns={"start_month": "group"}),
                                        by="quarter", min_cell_size=settings.min_cell_size,
                                        confidence_level=settings.confidence_level))
    return ["<h2>Response at endpoint over the last eight quarters</h2>",
            _svg(charts.trend_figure(trend, title=f"Response at endpoint by quarter of course "
                                                  f"start ({instrument_name(instrument)})"),
                 foot, height=440),
            _table(shown.drop(columns=["instrument", "outcome"]))]


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


def report_pdf(source: Frames | Derived | DerivedTables, period: Period, *,
               settings: Settings | None = None, clinic_ids: tuple[str, ...] = (), instrument: str = "PHQ9",
               routes: tuple[str, ...] = (), indications: tuple[str, ...] = (),
               clinic_name: str | None = None, as_of: pd.Timestamp | None = None,
               progress: Progress | None = None, safety: SafetyFrames | None = None) -> bytes:
    """The report as PDF bytes (see :func:`report_html`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kaleido: "kopts ignored with a server"
        page = report_html(source, period, settings=settings, clinic_ids=clinic_ids,
                           instrument=instrument, routes=routes, indications=indications,
                           clinic_name=clinic_name, as_of=as_of, progress=progress,
                           safety=safety)
    pdf = html_to_pdf(page)
    if progress:
        progress(8, 8, "done")
    return pdf
