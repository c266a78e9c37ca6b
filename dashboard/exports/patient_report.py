"""A progress report a clinician hands to one patient: their own trajectory and a plain-language
summary of their change, from the same chart builder as the patient page; no other patient's
data (no clinic rates, no expected band drawn from other patients)."""

from __future__ import annotations

import datetime as dt
import html
import warnings

import pandas as pd

from analysis import INSTRUMENTS, Settings
from dashboard import charts
from dashboard.exports.figures import figure_bytes
from dashboard.exports.report import html_to_pdf

__all__ = ["progress_summary", "patient_report_html", "patient_report_pdf"]

_WORDS = {"PHQ9": "depression (PHQ-9)", "GAD7": "anxiety (GAD-7)",
          "PCL5": "post-traumatic stress (PCL-5)"}


def progress_summary(assessments: pd.DataFrame, settings: Settings) -> list[str]:
    """One plain sentence per questionnaire: where the score started, where it is, and what the
    change means.

    >>> a = pd.DataFrame({"instrument": ["PHQ9", "PHQ9"], "total": [18.0, 8.0],
    ...     "administered_at": pd.to_datetime(["2025-01-01", "2025-02-01"]),
    ...     "baseline_total": [18.0, 18.0]})
    >>> print(progress_summary(a, Settings())[0])
    Your depression (PHQ-9) score went from 18 before treatment to 8 on 1 Feb 2025: 56% lower, which counts as a response (a drop of at least half). 8 is in the mild range.
    """
    out = []
    for code, spec in INSTRUMENTS.items():
        part = assessments[(assessments["instrument"] == code)
                           & assessments["total"].notna()].sort_values("administered_at")
        if part.empty:
            continue
        last = part.iloc[-1]
        base = part["baseline_total"].dropna()
        start = float(base.iloc[-1]) if len(base) else float(part["total"].iloc[0])
        now = float(last["total"])
        band = next((b.label for b in spec.severity_bands if b.low <= now <= b.high), None)
        where = f" {now:.0f} is in the {band} range." if band else ""
        if start > 0 and now < start:
            drop = (start - now) / start
            meaning = ("which counts as a response (a drop of at least half)"
                       if drop >= settings.response_reduction else
                       "an improvement, not yet a drop of half")
            change = f"{drop:.0%} lower, {meaning}"
        elif now > start:
            change = f"{now - start:.0f} points higher: worth talking through with your clinician"
        else:
            change = "about the same"
        out.append(f"Your {_WORDS[code]} score went from {start:.0f} before treatment to "
                   f"{now:.0f} on {last['administered_at']:%-d %b %Y}: {change}.{where}")
    return out


def patient_report_html(patient_id: str, assessments: pd.DataFrame, sessions: pd.DataFrame,
                        courses: pd.DataFrame, *, settings: Settings,
                        clinic_name: str | None = None) -> str:
    """The one-to-two page report as HTML (chart as inline SVG)."""
    fig = charts.patient_figure(assessments, sessions,
                                reliable_change=dict(settings.reliable_change_points),
                                courses=courses)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        svg = figure_bytes(fig, "svg", footnote="Your scores over time. Lower is better.",
                           width=900, height=min(int(fig.layout.height or 600), 760)
                           ).decode("utf-8")
    lines = "".join(f"<li>{html.escape(t)}</li>" for t in progress_summary(assessments,
                                                                             settings))
    title = html.escape(clinic_name or "Your treatment")
    return ("<!doctype html><html><head><meta charset='utf-8'><style>"
            "@page{size:A4;margin:16mm}body{font-family:'Noto Sans',sans-serif;color:#222}"
            "h1{font-size:22px}li{margin:6px 0;font-size:13px}.small{font-size:11px;color:#555}"
            "</style></head><body>"
            f"<h1>{title}: your progress</h1>"
            f"<p class='small'>For {html.escape(patient_id)} · prepared "
            f"{dt.date.today():%-d %B %Y}. This page shows only your own answers.</p>"
            f"<ul>{lines or '<li>No questionnaire scores yet.</li>'}</ul>"
            f"<div>{svg}</div>"
            "<p class='small'>How to read it: each line is one questionnaire over time; the "
            "shaded bands are the usual ranges (minimal to severe); vertical lines are your "
            "sessions. A drop of half or more from your starting score is called a response. "
            "Please talk any of this through with your clinician.</p></body></html>")


def patient_report_pdf(patient_id: str, assessments: pd.DataFrame, sessions: pd.DataFrame,
                       courses: pd.DataFrame, *, settings: Settings,
                       clinic_name: str | None = None) -> bytes:
    """The report as PDF bytes."""
    return html_to_pdf(patient_report_html(patient_id, assessments, sessions, courses,
                                           settings=settings, clinic_name=clinic_name))
