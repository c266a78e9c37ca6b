"""Pure plotly figure builders: analysis results in, ``go.Figure`` out (no Streamlit here).

Colours are the Okabe–Ito colour-blind-safe palette, one fixed colour per instrument. Every
figure states its n (in the title, the hover text or per-bin labels).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.instruments import INSTRUMENTS
from analysis.suppression import PROTECTING_MARK, primary_mark
from dashboard.labels import (
    OUTCOME_LABELS,
    STAGE_LABELS,
    instrument_name,
    interval_label,
)
from dashboard.views import AT_RISK_DAYS, FunnelView, KMView, RateTable, TrajectoryView, TrendView

__all__ = ["INSTRUMENT_COLOURS", "GROUP_COLOURS", "trajectory_figure", "km_figure",
           "rates_figure", "funnel_figure", "trend_figure", "weekly_response_figure",
           "patient_figure", "median_text", "safety_rates_figure", "safety_trend_figure",
           "vitals_figure", "tolerance_figure", "session_flag_text"]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
INSTRUMENT_COLOURS: Mapping[str, str] = {"PHQ9": "#0072B2", "GAD7": "#E69F00", "PCL5": "#009E73"}
GROUP_COLOURS = OKABE_ITO
_LAYOUT = dict(template="plotly_white", font=dict(size=13),
               margin=dict(l=60, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.2))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band(fig: go.Figure, x, low, high, colour: str, name: str, **kw) -> None:
    fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=list(high) + list(low)[::-1],
                             fill="toself", fillcolor=_rgba(colour, 0.18), mode="lines",
                             line=dict(width=0), hoverinfo="skip", showlegend=False,
                             name=f"{name} 95% CI", **kw))


def _withheld_text(status: str, min_cell_size: int) -> str:
    return "withheld " + (PROTECTING_MARK if status == "protecting"
                          else primary_mark(min_cell_size))


def trajectory_figure(view: TrajectoryView, *, title: str | None = None) -> go.Figure:
    """Mean change from baseline of one instrument with its CI band, each bin at the real day
    position of its centre, the n of every bin printed (withheld bins are left out and said).

    Args:
        view: :class:`dashboard.views.TrajectoryView`.
    """
    t = view.table
    name = instrument_name(view.instrument)
    colour = INSTRUMENT_COLOURS.get(view.instrument, OKABE_ITO[0])
    shown = t[~t["withheld"]]
    fig = go.Figure()
    # a square-root day axis: bins are placed at their real day, and the first week (where
    # rapid onset happens) is not crushed against day 0
    x = np.sqrt(shown["day_mid"].to_numpy(dtype=float))
    if len(shown):
        _band(fig, x, shown["ci_low"].fillna(shown["mean"]),
              shown["ci_high"].fillna(shown["mean"]), colour, name)
        fig.add_trace(go.Scatter(
            x=x, y=shown["mean"], mode="lines+markers+text", name=name,
            line=dict(color=colour, width=3),
            text=[f"n={int(n)}" for n in shown["n_courses"]],
            # alternate above and below: the first bins sit a day or two apart
            textposition=["top center" if i % 2 else "bottom center"
                          for i in range(len(shown))],
            textfont=dict(size=11, color="#444444"),
            customdata=np.c_[shown["bin"].to_numpy(), shown["n_courses"].to_numpy(),
                             shown["ci_low"].to_numpy(), shown["ci_high"].to_numpy()],
            hovertemplate="days %{customdata[0]}: %{y:.0%} (CI %{customdata[2]:.0%}–"
                          "%{customdata[3]:.0%})<br>n = %{customdata[1]} courses"
                          "<extra></extra>"))
    hidden = t[t["withheld"]]
    note = (f"<br><sup>bins {', '.join(hidden['bin'])}: fewer than the minimum of patients, "
            "not shown</sup>") if len(hidden) else ""
    value_title = ("Mean change from baseline (%)" if view.value == "pct_change"
                   else "Mean total score")
    fig.update_layout(title=(title or f"Change from baseline by days since first dose ({name})")
                      + note, xaxis_title="Days since first dose (square-root scale; each "
                      "point at the centre of its bin: 0, 1–3, 4–7, 8–14, 15–28, 29–56, 57–90, "
                      "91–180)", yaxis_title=value_title, **_LAYOUT)
    ticks = [0, 3, 7, 14, 28, 56, 90, 180]
    fig.update_xaxes(tickvals=np.sqrt(ticks), ticktext=[str(t) for t in ticks],
                     range=[-0.3, np.sqrt(185)])
    if view.value == "pct_change":
        fig.update_yaxes(tickformat=".0%")
    return fig


def km_figure(view: KMView, *, title: str, xaxis_title: str,
              yaxis_title: str = "Share still event-free") -> go.Figure:
    """Kaplan–Meier step curves with CI bands, cut where fewer than the minimum remain at risk,
    a number-at-risk row under the plot, medians (or why not), and the log-rank test among the
    groups shown."""
    fig = go.Figure()
    ci_word = interval_label(view.confidence_level)
    mark = primary_mark(view.min_cell_size)
    for i, gc in enumerate(view.curves):
        c = gc.km.steps()   # one step per day at most: the same curve, fewer points
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        label = f"{gc.group} (n={gc.km.n})" if view.by else f"all (n={gc.km.n})"
        _band(fig, c["time"], c["ci_low"], c["ci_high"], colour, label, line_shape="hv")
        fig.add_trace(go.Scatter(
            x=c["time"], y=c["survival"], mode="lines", line_shape="hv", name=label,
            line=dict(color=colour, width=3),
            customdata=c[["at_risk", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate=f"day %{{x:.0f}}: %{{y:.0%}} ({ci_word} %{{customdata[1]:.0%}}–"
                          "%{customdata[2]:.0%}), at risk %{customdata[0]}"
                          f"<extra>{label}</extra>"))
    subtitle = ""
    if len(view.curves) == 1 and not view.by:
        km = view.curves[0].km
        subtitle = f"<br><sup>{median_text(km)}, n = {km.n}, events = {km.n_events}</sup>"
    if view.logrank is not None:
        lr = view.logrank
        subtitle = (f"<br><sup>log-rank among the groups shown: χ²={lr.chi2:.2f}, df={lr.df}, "
                    f"p={lr.pvalue:.3f}</sup>")
    if view.withheld_groups:
        subtitle += (f"<br><sup>not shown (fewer than {view.min_cell_size} patients): "
                     f"{', '.join(view.withheld_groups)}</sup>")
    # the number-at-risk table under the x axis, in pixels below the plot area
    top = -64
    notes = [dict(xref="paper", yref="paper", x=0, y=0, yshift=top, xanchor="right",
                  xshift=-8, text="<b>At risk</b>", showarrow=False, font=dict(size=11))]
    for day in view.at_risk.columns:
        notes.append(dict(xref="x", yref="paper", x=day, y=0, yshift=top, showarrow=False,
                          text=f"<b>day {day}</b>", font=dict(size=10, color="#555555")))
    for row, (group, counts) in enumerate(view.at_risk.iterrows()):
        shift = top - 17 * (row + 1)
        notes.append(dict(xref="paper", yref="paper", x=0, y=0, yshift=shift, xshift=-8,
                          xanchor="right", text=str(group)[:18], showarrow=False,
                          font=dict(size=11, color=GROUP_COLOURS[row % len(GROUP_COLOURS)])))
        for day, value in counts.items():
            notes.append(dict(xref="x", yref="paper", x=day, y=0, yshift=shift, showarrow=False,
                              text=mark if pd.isna(value) else f"{int(value)}",
                              font=dict(size=11)))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#777777")
    layout = {**_LAYOUT, "margin": dict(l=110, r=30, t=90,
                                        b=90 + 17 * len(view.at_risk))}
    fig.update_layout(title=title + subtitle, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      annotations=notes, **{**layout, "legend": dict(orientation="h", y=1.0,
                                                                   yanchor="bottom", x=1,
                                                                   xanchor="right")})
    fig.update_xaxes(range=[-3, max(AT_RISK_DAYS) + 8], title_standoff=6)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def median_text(km) -> str:
    """The median in words, saying what cannot be estimated (``km`` already truncated)."""
    ci_word = interval_label(km.confidence_level)
    if km.median is None:
        return (f"median not reached while at least {km.min_at_risk} remain at risk"
                if km.min_at_risk else "median not reached")
    lo, hi = km.median_ci
    lo_s = "not estimable" if lo is None else f"{lo:.0f}"
    hi_s = "upper limit not estimable" if hi is None else f"{hi:.0f}"
    return f"median {km.median:.0f} days ({ci_word} {lo_s}–{hi_s})"


def rates_figure(table: RateTable, *, outcome: str, title: str) -> go.Figure:
    """Horizontal bars of one outcome's rate per group with CIs and "k of n"; withheld cells
    are listed as withheld (with their mark), never drawn."""
    r = table.outcome(outcome)
    shown = r[r["rate"].notna()].sort_values("rate")
    hidden = r[r["rate"].isna()]
    m = table.min_cell_size
    ys = list(hidden["group"].astype(str)) + list(shown["group"].astype(str))
    fig = go.Figure(go.Bar(
        y=shown["group"].astype(str), x=shown["rate"], orientation="h",
        marker_color=[INSTRUMENT_COLOURS.get(i, OKABE_ITO[0]) for i in shown["instrument"]],
        error_x=dict(type="data", symmetric=False, array=shown["ci_high"] - shown["rate"],
                     arrayminus=shown["rate"] - shown["ci_low"], color="#333333"),
        text=[f"{v:.0%} ({int(k)} of {int(n)})"
              for v, k, n in zip(shown["rate"], shown["k"], shown["n"], strict=True)],
        textposition="inside", insidetextanchor="start", textfont=dict(color="white"),
        hovertemplate="%{y}: %{x:.0%}<extra></extra>", showlegend=False))
    if len(hidden):
        fig.add_trace(go.Bar(
            y=hidden["group"].astype(str), x=[0.0] * len(hidden), orientation="h",
            text=[_withheld_text(w, m) + ("" if pd.isna(n) else f" (n={int(n)})")
                  for w, n in zip(hidden["withheld"], hidden["n"], strict=True)],
            textposition="outside", textfont=dict(color="#666666"), showlegend=False,
            hoverinfo="skip", marker_color="#cccccc"))
    notes = []
    if table.pooled:
        notes.append(f"pooled into Other (fewer than {m} patients each): "
                     f"{', '.join(table.pooled)}")
    if len(hidden):
        notes.append(f"{primary_mark(m)}: small cell · {PROTECTING_MARK}: withheld so a small "
                     "cell cannot be worked out")
    note = "".join(f"<br><sup>{n}</sup>" for n in notes)
    axis = f"Rate ({interval_label(table.confidence_level)})"
    fig.update_layout(title=title + note, xaxis_title=axis, **_LAYOUT,
                      height=max(280, 90 + 45 * len(ys)))
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_yaxes(categoryorder="array", categoryarray=ys, ticksuffix="  ")
    return fig


def funnel_figure(view: FunnelView, *, title: str = "From course start to lasting response"
                  ) -> go.Figure:
    """The attrition funnel: courses at each nested stage with their share of those started;
    the last step is the Kaplan–Meier estimate among responders; withheld counts are said."""
    f = view.stages
    chain = f[f["nested"]]
    m = view.min_cell_size
    ci_word = interval_label(view.confidence_level)
    responded = chain.loc[chain["stage"] == "responded", "n_courses"]
    responded = float(responded.iloc[0]) if len(responded) else np.nan
    xs, texts = [], []
    for _, row in chain.iterrows():
        if row["stage"] == "in_response_at_90_days":
            if pd.isna(row["estimate"]):
                xs.append(0.0)
                text = f"not estimable: fewer than {m} responders followed 90 days"
                if view.earlier is not None:
                    day, est, lo, hi = view.earlier
                    text += (f"<br>at {day:.0f} days: {est:.0%} of responders ({ci_word} "
                             f"{lo:.0%}–{hi:.0%}), Kaplan–Meier")
                texts.append(text)
            else:
                xs.append(row["estimate"] * responded if pd.notna(responded) else 0.0)
                texts.append(f"{row['estimate']:.0%} of responders ({ci_word} "
                             f"{row['ci_low']:.0%}–{row['ci_high']:.0%}), Kaplan–Meier")
        elif row["withheld"]:
            xs.append(0.0)
            texts.append(_withheld_text(row["withheld"], m))
        else:
            xs.append(row["n_courses"])
            texts.append(f"{int(row['n_courses'])} ({row['share_of_started']:.0%} of started)")
    fig = go.Figure(go.Bar(
        y=[STAGE_LABELS.get(s, s) for s in chain["stage"]], x=xs, orientation="h", text=texts,
        textposition="outside", cliponaxis=False, marker_color=OKABE_ITO[0],
        hoverinfo="skip", showlegend=False))
    side = f[~f["nested"]]
    note = ""
    if len(side):
        row = side.iloc[0]
        value = (_withheld_text(row["withheld"], m) if row["withheld"]
                 else f"{int(row['n_courses'])} ({row['share_of_started']:.0%} of started)")
        note = f"<br><sup>{STAGE_LABELS.get(row['stage'], row['stage'])}: {value}</sup>"
    top = max([x for x in xs if pd.notna(x)] + [1])
    fig.update_layout(title=title + note, xaxis_title="Courses", **_LAYOUT, height=380)
    fig.update_xaxes(range=[0, top * 1.9])
    fig.update_yaxes(autorange="reversed", ticksuffix="  ")
    return fig


def trend_figure(view: TrendView, *, title: str) -> go.Figure:
    """Rate by month of course start with its CI band and n per month; months too recent to
    judge are drawn hollow and named; withheld months are left out and said."""
    t = view.table
    shown = t[t["rate"].notna()]
    code = view.instrument
    colour = INSTRUMENT_COLOURS.get(code, OKABE_ITO[0])
    fig = go.Figure()
    if len(shown):
        _band(fig, shown["start_month"], shown["ci_low"], shown["ci_high"], colour, code)
        fig.add_trace(go.Scatter(
            x=shown["start_month"], y=shown["rate"], mode="lines+markers+text",
            name=instrument_name(code), line=dict(color=colour, width=3),
            marker=dict(size=10, symbol=["circle-open" if i else "circle"
                                         for i in shown["immature"]]),
            text=[f"n={int(n)}" for n in shown["n"]], textposition="top center",
            textfont=dict(size=10, color="#444444"),
            customdata=shown[["k", "n"]].to_numpy(),
            hovertemplate="%{x}: %{y:.0%} (%{customdata[0]} of %{customdata[1]})"
                          "<extra></extra>"))
    notes = []
    immature = t.loc[t["immature"], "start_month"].tolist()
    if immature:
        notes.append(f"hollow = too recent to judge (started within {view.maturity_days:g} "
                     f"days of the data's end): {', '.join(immature)}")
    hidden = t.loc[t["rate"].isna(), "start_month"].tolist()
    if hidden:
        notes.append(f"withheld (small cells): {', '.join(hidden)}")
    note = "".join(f"<br><sup>{n}</sup>" for n in notes)
    fig.update_layout(title=title + note, xaxis_title=f"{view.period.capitalize()} of course "
                      "start", yaxis_title="Rate", **{**_LAYOUT, "margin": dict(
                          l=60, r=20, t=60 + 18 * len(notes), b=50)})
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_xaxes(type="category", categoryorder="array",
                     categoryarray=t["start_month"].tolist())
    return fig


def weekly_response_figure(weekly: pd.DataFrame, *, instrument: str) -> go.Figure:
    """Share of courses in response by week since the first dose, with Wilson bands; withheld
    weeks are left out.

    Args:
        weekly: :func:`dashboard.views.weekly_view`.
    """
    w = weekly.sort_values("bin_order")
    shown = w[w["mean"].notna()]
    colour = INSTRUMENT_COLOURS.get(instrument, OKABE_ITO[0])
    fig = go.Figure()
    _band(fig, shown["bin"], shown["ci_low"], shown["ci_high"], colour, instrument)
    fig.add_trace(go.Scatter(
        x=shown["bin"], y=shown["mean"], mode="lines+markers", name=instrument_name(instrument),
        line=dict(color=colour, width=3), customdata=shown[["n_courses"]].to_numpy(),
        hovertemplate="%{x}: %{y:.0%} in response, n = %{customdata[0]} courses"
                      "<extra></extra>"))
    hidden = w.loc[w["mean"].isna(), "bin"].tolist()
    note = f"<br><sup>withheld (small cells): {', '.join(hidden)}</sup>" if hidden else ""
    fig.update_layout(title=f"Share of courses in response by week of treatment "
                            f"({instrument_name(instrument)}){note}",
                      xaxis_title="Week since first dose", yaxis_title="In response",
                      **_LAYOUT)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=w["bin"].tolist())
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


#: Session markers: neutral ink, told apart by dash (colour stays for the instruments).
SESSION_STYLES = {"dosing": ("#444444", "solid"), "booster": ("#444444", "dash"),
                  "integration": ("#999999", "dot"), "preparation": ("#bbbbbb", "dashdot")}


def patient_figure(assessments: pd.DataFrame, sessions: pd.DataFrame, *,
                   reliable_change: Mapping[str, float],
                   expected: Mapping[str, pd.DataFrame] | None = None,
                   courses: pd.DataFrame | None = None, day_zero: pd.Timestamp | None = None,
                   x_range: tuple[float, float] | None = None,
                   compact: bool = False, safety: pd.DataFrame | None = None) -> go.Figure:
    """One patient's scores over time, one panel per instrument and a small PHQ-9 item 9 panel.

    Each course is its own line segment with its own baseline and response (−50%) marks;
    scores outside any course (intake forms, forms with no session) are hollow markers; severity
    bands are shaded and labelled; sessions are neutral vertical lines told apart by dash, with
    the route on hover; the clinic's expected band (other patients with the same baseline) is
    grey. With ``day_zero`` the x axis is days since that first dose instead of dates.

    Args:
        assessments: the patient's aligned assessments (``administered_at``, ``instrument``,
            ``total``, ``course_id``, ``baseline_total``, ``usable``, ``item_9``).
        sessions: the patient's sessions (``session_at``, ``kind``, ``route``).
        reliable_change: instrument -> points.
        expected: instrument -> ``administered_at``, ``p10``, ``p50``, ``p90``.
        courses: the patient's courses (``course_id``, ``course_number``), for labels.
        day_zero: the first dose of the course to measure days from (None: calendar dates).
        x_range: with ``day_zero``, the days to show (that course's window).
        compact: a phone-width layout (smaller labels, no right-hand band names).
        safety: the patient's session safety records (``analysis.safety.session_safety``):
            dosing sessions with a flag or an adverse event are marked on the timeline, with
            what happened on hover.
    """
    a = assessments[assessments["total"].notna()]
    codes = [c for c in INSTRUMENTS if (a["instrument"] == c).any()]
    item9 = pd.to_numeric(assessments.get("item_9", pd.Series(dtype=float)), errors="coerce")
    has9 = bool((assessments["instrument"] == "PHQ9").any() and item9.notna().any())
    rows = max(len(codes), 1) + (1 if has9 else 0)
    heights = [1.0] * max(len(codes), 1) + ([0.35] if has9 else [])
    titles = [instrument_name(c) for c in codes] or ["No scores"]
    if has9:
        titles.append("PHQ-9 item 9 (thoughts of death or self-harm)")
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=titles, row_heights=heights)

    def x_of(ts: pd.Series):
        if day_zero is None:
            return ts
        return (pd.to_datetime(ts) - pd.Timestamp(day_zero).normalize()).dt.total_seconds() / 86400

    shapes: list[dict] = []
    notes: list[dict] = []
    band_colours = ["#eaf4e4", "#fbf3cf", "#fde3c4", "#fbd0c0", "#f6b9b9"]  # minimal → severe
    number = {} if courses is None else dict(zip(courses["course_id"], courses["course_number"],
                                                 strict=False))
    font = 10 if compact else 11
    for row, code in enumerate(codes, start=1):
        spec = INSTRUMENTS[code]
        yref = fig.get_subplot(row, 1).yaxis.plotly_name.replace("axis", "")
        xref = fig.get_subplot(row, 1).xaxis.plotly_name.replace("axis", "")
        part = a[a["instrument"] == code].sort_values("administered_at")
        for band, colour in zip(spec.severity_bands, band_colours, strict=False):
            shapes.append(dict(type="rect", xref=f"{xref} domain", x0=0, x1=1, yref=yref,
                               y0=band.low, y1=band.high + 1, fillcolor=colour, line_width=0,
                               layer="below"))
            # labels inside the plot's right edge: no margin to lose at phone width
            notes.append(dict(xref=f"{xref} domain", x=0.995, xanchor="right", yref=yref,
                              y=(band.low + band.high + 1) / 2, text=band.label,
                              showarrow=False, font=dict(size=9, color="#8a8a8a")))
        if expected and code in expected and not expected[code].empty:
            e = expected[code]
            ex = list(x_of(e["administered_at"]))
            fig.add_trace(go.Scatter(
                x=ex + ex[::-1], y=list(e["p90"]) + list(e["p10"])[::-1], fill="toself",
                mode="lines", fillcolor="rgba(120,120,120,0.18)", line=dict(width=0),
                hoverinfo="skip", name="Expected for this baseline (10th–90th percentile)",
                showlegend=row == 1, legendgroup="expected"), row=row, col=1)
        colour = INSTRUMENT_COLOURS[code]
        for course_id, seg in part[part["course_id"].notna()].groupby("course_id", sort=False):
            label = (f"course {number[course_id]}" if course_id in number
                     else str(course_id).replace("-", " "))
            fig.add_trace(go.Scatter(
                x=x_of(seg["administered_at"]), y=seg["total"], mode="lines+markers",
                name=f"{instrument_name(code)}, {label}", line=dict(color=colour, width=3),
                showlegend=False,
                hovertemplate=f"%{{x}}: %{{y:.0f}} ({label})<extra>{instrument_name(code)}</extra>"),
                row=row, col=1)
            base = seg["baseline_total"].dropna()
            if len(base):
                b = float(base.iloc[-1])
                x0 = x_of(seg["administered_at"]).iloc[0]
                x1 = x_of(seg["administered_at"]).iloc[-1]
                for y, dash, col in ((b, "dash", "#555555"), (b * 0.5, "dot", "#009E73"),
                                     (b - reliable_change.get(code, 0), "dot", "#CC79A7")):
                    shapes.append(dict(type="line", xref=xref, x0=x0, x1=x1, yref=yref, y0=y,
                                       y1=y, line=dict(color=col, dash=dash, width=1.5)))
                notes.append(dict(xref=xref, x=x0, yref=yref, y=b,
                                  text=f"baseline {b:.0f} ({label})", showarrow=False,
                                  xanchor="left", yanchor="bottom",
                                  font=dict(size=font, color="#555555")))
                if row == 1 and not compact:
                    notes.append(dict(xref=xref, x=x1, yref=yref, y=b * 0.5,
                                      text="response (−50%)", showarrow=False, xanchor="right",
                                      yanchor="top", font=dict(size=9, color="#009E73")))
        loose = part[part["course_id"].isna()]
        if len(loose):
            fig.add_trace(go.Scatter(
                x=x_of(loose["administered_at"]), y=loose["total"], mode="markers",
                name="score outside any course (intake or no session)",
                marker=dict(size=10, color="white", line=dict(color=colour, width=2)),
                showlegend=row == 1, legendgroup="loose",
                hovertemplate="%{x}: %{y:.0f} (outside any course)<extra></extra>"),
                row=row, col=1)
        fig.update_yaxes(range=[0, spec.total_max + 1], title_text="total", row=row, col=1)
    if has9:
        row = rows
        phq = assessments[(assessments["instrument"] == "PHQ9")].assign(_i9=item9)
        phq = phq[phq["_i9"].notna()].sort_values("administered_at")
        flagged = (phq["_i9"] >= 1).to_numpy()
        fig.add_trace(go.Scatter(
            x=x_of(phq["administered_at"]), y=phq["_i9"], mode="markers+lines",
            name="PHQ-9 item 9", line=dict(color="#D55E00", width=1.5, dash="dot"),
            marker=dict(size=[12 if f else 7 for f in flagged],
                        symbol=["diamond" if f else "circle" for f in flagged]),
            hovertemplate="item 9 = %{y}<extra></extra>"), row=row, col=1)
        fig.update_yaxes(range=[-0.3, 3.3], tickvals=[0, 1, 2, 3], title_text="item 9",
                         row=row, col=1)
    kinds_seen = []
    for kind, (colour, dash) in SESSION_STYLES.items():
        part = sessions[sessions["kind"] == kind]
        if part.empty:
            continue
        kinds_seen.append(kind)
        for t in x_of(part["session_at"]):
            shapes.append(dict(type="line", xref="x", x0=t, x1=t, yref="paper", y0=0, y1=1,
                               line=dict(color=colour, dash=dash, width=1), opacity=0.55,
                               layer="below"))
        route = part["route"].fillna("") if "route" in part.columns else ""
        fig.add_trace(go.Scatter(
            x=x_of(part["session_at"]), y=[0] * len(part), mode="markers",
            marker=dict(symbol="triangle-up", size=9, color=colour),
            name=f"{kind} session", legendgroup=kind,
            text=[f"{kind} {r}".strip() for r in route] if len(part) else None,
            hovertemplate="%{x}: %{text}<extra></extra>"), row=1, col=1)
    if safety is not None and len(safety):
        texts = [session_flag_text(r) for _, r in safety.iterrows()]
        marked = np.array([bool(t) for t in texts])
        if marked.any():
            fig.add_trace(go.Scatter(
                x=x_of(safety.loc[marked, "session_at"]), y=[0] * int(marked.sum()),
                mode="markers", marker=dict(symbol="x", size=11, color="#D55E00"),
                name="session with a safety flag or event", legendgroup="safety",
                text=[t for t in texts if t],
                hovertemplate="%{x}: %{text}<extra></extra>"), row=1, col=1)
    fig.update_layout(shapes=shapes, annotations=list(fig.layout.annotations) + notes)
    height = (230 if compact else 260) * max(len(codes), 1) + (110 if has9 else 0) + 110
    legend = dict(orientation="h", y=-0.12 if not compact else -0.2, font=dict(size=font))
    fig.update_layout(height=height, **{**_LAYOUT, "legend": legend, "font": dict(size=font),
                                        "margin": dict(l=50, r=15, t=50, b=60)})
    if day_zero is not None:
        fig.update_xaxes(title_text="days since the first dose of the chosen course",
                         row=rows, col=1)
        if x_range is not None:
            fig.update_xaxes(range=list(x_range))
    return fig


def session_flag_text(row: pd.Series) -> str:
    """What was flagged in one session, in words (``""`` for an uneventful one)."""
    names = {"bp_excursion": "BP excursion", "tachycardia": "tachycardia",
             "desaturation": "desaturation", "sedated": "sedated",
             "serious_event": "serious event", "severe_event": "severe event"}
    parts = [label for col, label in names.items()
             if col in row and not pd.isna(row[col]) and bool(row[col])]
    n = int(row.get("adverse_events", 0) or 0)
    if n:
        parts.append(f"{n} adverse event{'s' if n != 1 else ''}")
    return ", ".join(parts)


def safety_rates_figure(table: RateTable, *, outcomes: tuple[str, ...], labels: Mapping[str, str],
                        title: str) -> go.Figure:
    """One bar per safety flag (the overall decided cells of ``table``), with its interval and
    "k of n sessions"; withheld cells are named, never drawn."""
    rows = []
    for o in outcomes:
        cell = table.cell(o)
        if cell is not None:
            rows.append((labels.get(o, o), cell))
    shown = [(lab, c) for lab, c in rows if pd.notna(c["rate"])]
    hidden = [(lab, c) for lab, c in rows if pd.isna(c["rate"])]
    unit = table.unit + "s"
    good = {labels.get(o, o) for o in ("monitoring_complete",)}
    fig = go.Figure(go.Bar(
        y=[lab for lab, _ in shown], x=[c["rate"] for _, c in shown], orientation="h",
        marker_color=[OKABE_ITO[0] if lab in good else OKABE_ITO[5] for lab, _ in shown],
        error_x=dict(type="data", symmetric=False,
                     array=[c["ci_high"] - c["rate"] for _, c in shown],
                     arrayminus=[c["rate"] - c["ci_low"] for _, c in shown], color="#333333"),
        showlegend=False, hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    # the figures beside each bar, past its interval (never on top of it)
    fig.add_trace(go.Scatter(
        y=[lab for lab, _ in shown], x=[c["ci_high"] + 0.02 for _, c in shown], mode="text",
        text=[f"{c['rate']:.0%} ({int(c['k'])} of {int(c['n'])})" for _, c in shown],
        textposition="middle right", showlegend=False, hoverinfo="skip", cliponaxis=False))
    if hidden:
        fig.add_trace(go.Bar(
            y=[lab for lab, _ in hidden], x=[0.0] * len(hidden), orientation="h",
            text=[_withheld_text(c["withheld"], table.min_cell_size) for _, c in hidden],
            textposition="outside", textfont=dict(color="#666666"), showlegend=False,
            hoverinfo="skip", marker_color="#cccccc"))
    ys = [lab for lab, _ in reversed(rows)]
    fig.update_layout(title=title, xaxis_title=f"Share of {unit} "
                      f"({interval_label(table.confidence_level)})", **_LAYOUT,
                      height=max(260, 80 + 40 * len(rows)))
    fig.update_xaxes(range=[0, 1.45], tickformat=".0%", tickvals=[0, 0.5, 1])
    fig.update_yaxes(categoryorder="array", categoryarray=ys, ticksuffix="  ", automargin=True)
    return fig


def safety_trend_figure(table: RateTable, *, outcome: str, title: str) -> go.Figure:
    """One safety flag's share of sessions by period (``group``) with its interval; withheld
    periods are left out of the line and named below it."""
    t = table.outcome(outcome).sort_values("group")
    shown = t[t["rate"].notna()]
    hidden = t.loc[t["rate"].isna(), "group"].astype(str).tolist()
    fig = go.Figure()
    colour = OKABE_ITO[5]
    if len(shown):
        _band(fig, shown["group"], shown["ci_low"], shown["ci_high"], colour, outcome)
        fig.add_trace(go.Scatter(
            x=shown["group"], y=shown["rate"], mode="lines+markers", line=dict(color=colour),
            name=OUTCOME_LABELS.get(outcome, outcome),
            text=[f"{int(k)} of {int(n)} sessions" for k, n in zip(shown["k"], shown["n"],
                                                                    strict=True)],
            hovertemplate="%{x}: %{y:.1%} (%{text})<extra></extra>"))
    if hidden and not len(shown):
        note = (f"<br><sup>every period withheld: fewer than {table.min_cell_size} patients "
                "with or without it in each</sup>")
    elif hidden:
        note = (f"<br><sup>withheld (fewer than {table.min_cell_size} patients with or without "
                f"it): {', '.join(hidden)}</sup>")
    else:
        note = ""
    top = float(shown["ci_high"].max()) if len(shown) else 1.0
    fig.update_layout(title=title + note, yaxis_title="Share of sessions", **_LAYOUT,
                      height=340, showlegend=False)
    fig.update_yaxes(tickformat=".0%", range=[0, min(1.0, top * 1.15 + 0.02)])
    fig.update_xaxes(type="category", categoryorder="array",
                     categoryarray=t["group"].astype(str).tolist())
    return fig


def vitals_figure(readings: pd.DataFrame, session: pd.Series, *, excursion_at: tuple[float, float],
                  title: str) -> go.Figure:
    """One session's vital signs from before the dose to discharge: systolic and diastolic
    pressure and heart rate against minutes after the dose, the excursion lines and the pre-dose
    values; sedation (MOAA/S) and dissociation on hover; the discharge time marked."""
    r = readings.sort_values("minutes_after_dose")
    fig = go.Figure()
    x = r["minutes_after_dose"]
    for col, name, colour, dash in (("systolic", "Systolic (mmHg)", OKABE_ITO[5], "solid"),
                                    ("diastolic", "Diastolic (mmHg)", OKABE_ITO[0], "solid"),
                                    ("heart_rate", "Heart rate (bpm)", OKABE_ITO[2], "dot")):
        if r[col].notna().any():
            hover = [f"MOAA/S {int(m)}" if pd.notna(m) else "" for m in r["sedation_moaas"]]
            fig.add_trace(go.Scatter(x=x[r[col].notna()], y=r.loc[r[col].notna(), col],
                                     mode="lines+markers", name=name,
                                     line=dict(color=colour, dash=dash),
                                     text=[h for h, ok in zip(hover, r[col].notna(), strict=True)
                                           if ok],
                                     hovertemplate="%{x} min: %{y:.0f} %{text}<extra>"
                                                   + name + "</extra>"))
    for y, label in ((excursion_at[0], f"systolic {excursion_at[0]:g}"),
                     (excursion_at[1], f"diastolic {excursion_at[1]:g}")):
        fig.add_hline(y=y, line=dict(color="#999999", dash="dash", width=1),
                      annotation_text=label, annotation_position="top left",
                      annotation_font=dict(size=10, color="#777777"))
    fig.add_vline(x=0, line=dict(color="#555555", width=1), annotation_text="dose",
                  annotation_position="top")
    if pd.notna(session.get("minutes_to_discharge")):
        fig.add_vline(x=float(session["minutes_to_discharge"]),
                      line=dict(color="#009E73", dash="dot", width=1.5),
                      annotation_text="ready for discharge", annotation_position="top")
    diss = r[r["dissociation"].notna()]
    for _, d in diss.iterrows():
        fig.add_annotation(x=d["minutes_after_dose"], y=0.02, yref="paper", showarrow=False,
                           text=f"dissociation {d['dissociation']:g} ({d['dissociation_scale']})",
                           font=dict(size=10, color="#CC79A7"))
    fig.update_layout(title=title, xaxis_title="minutes after the dose", **_LAYOUT, height=360)
    return fig


def tolerance_figure(sessions: pd.DataFrame, *, title: str) -> go.Figure:
    """Across a patient's dosing sessions: peak dissociation and the largest systolic rise per
    session (tolerance shows as a falling line); sessions with events are marked."""
    t = sessions.sort_values("session_at").reset_index(drop=True)
    x = np.arange(1, len(t) + 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if t["peak_dissociation"].notna().any():
        scale = t["dissociation_scale"].dropna()
        fig.add_trace(go.Scatter(x=x, y=t["peak_dissociation"], mode="lines+markers",
                                 name=f"Peak dissociation ({scale.iloc[0] if len(scale) else ''})",
                                 line=dict(color=OKABE_ITO[3])), secondary_y=False)
    if t["max_systolic_rise"].notna().any():
        fig.add_trace(go.Scatter(x=x, y=t["max_systolic_rise"], mode="lines+markers",
                                 name="Largest systolic rise (mmHg)",
                                 line=dict(color=OKABE_ITO[5], dash="dot")), secondary_y=True)
    events = t["adverse_events"] > 0
    if events.any():
        fig.add_trace(go.Scatter(
            x=x[events.to_numpy()], y=[0] * int(events.sum()), mode="markers",
            marker=dict(symbol="x", size=10, color="#D55E00"), name="adverse event(s)",
            text=[f"{int(n)} event(s)"
                  for n in t.loc[events, "adverse_events"]],
            hovertemplate="session %{x}: %{text}<extra></extra>"), secondary_y=False)
    fig.update_layout(title=title, xaxis_title="dosing session (in order)",
                      **{**_LAYOUT, "legend": dict(orientation="h", y=-0.35)}, height=340)
    fig.update_yaxes(title_text="dissociation", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="systolic rise (mmHg)", secondary_y=True, showgrid=False,
                     tickformat=".0f", nticks=5)
    fig.update_xaxes(dtick=1)
    return fig
