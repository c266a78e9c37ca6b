"""Pure plotly figure builders: analysis results in, ``go.Figure`` out (no Streamlit here).

Colours are the Okabe–Ito colour-blind-safe palette, one fixed colour per instrument. Every
figure states its n (in the title, the hover text or per-bin labels).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.durability import SurvivalSummary
from analysis.instruments import INSTRUMENTS

__all__ = ["INSTRUMENT_COLOURS", "GROUP_COLOURS", "trajectory_figure", "km_figure",
           "rates_figure", "funnel_figure", "trend_figure", "weekly_response_figure",
           "patient_figure"]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
INSTRUMENT_COLOURS: Mapping[str, str] = {"PHQ9": "#0072B2", "GAD7": "#E69F00", "PCL5": "#009E73"}
GROUP_COLOURS = OKABE_ITO
_NAMES = {code: spec.name for code, spec in INSTRUMENTS.items()}
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


def trajectory_figure(trajectories: Mapping[str, pd.DataFrame], *, value: str = "total",
                      title: str = "Mean score by days since first dose") -> go.Figure:
    """Mean trajectories with 95% CI bands, one line per instrument, n per bin on hover.

    Args:
        trajectories: instrument code -> :func:`analysis.mean_trajectory` frame.
        value: what was averaged (``total`` or ``pct_change``), for the axis title.
    """
    fig = go.Figure()
    for code, t in trajectories.items():
        if t.empty:
            continue
        colour = INSTRUMENT_COLOURS.get(code, OKABE_ITO[0])
        _band(fig, t["bin"], t["ci_low"].fillna(t["mean"]), t["ci_high"].fillna(t["mean"]),
              colour, _NAMES.get(code, code))
        fig.add_trace(go.Scatter(
            x=t["bin"], y=t["mean"], mode="lines+markers", name=_NAMES.get(code, code),
            line=dict(color=colour, width=3),
            customdata=t[["n_courses", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate="day %{x}: %{y:.1f} (95% CI %{customdata[1]:.1f}–%{customdata[2]:.1f})"
                          "<br>n = %{customdata[0]} courses<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, xaxis_title="Days since first dose (bins)",
                      yaxis_title="Mean total score" if value == "total"
                      else "Mean change from baseline (%)", **_LAYOUT)
    fig.update_xaxes(type="category")
    if value == "pct_change":
        fig.update_yaxes(tickformat=".0%")
    return fig


def km_figure(summary: SurvivalSummary, *, title: str, xaxis_title: str,
              yaxis_title: str = "Share still event-free") -> go.Figure:
    """Kaplan–Meier step curves with 95% CI bands and medians; log-rank in the subtitle."""
    fig = go.Figure()
    for i, gc in enumerate(summary.curves):
        c = gc.km.curve
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        label = f"{gc.group} (n={gc.km.n})" if summary.by else f"all (n={gc.km.n})"
        _band(fig, c["time"], c["ci_low"], c["ci_high"], colour, label, line_shape="hv")
        med = "not reached" if gc.km.median is None else f"{gc.km.median:.0f} days"
        fig.add_trace(go.Scatter(
            x=c["time"], y=c["survival"], mode="lines", line_shape="hv", name=label,
            line=dict(color=colour, width=3),
            customdata=c[["at_risk", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate="day %{x:.0f}: %{y:.0%} (95% CI %{customdata[1]:.0%}–"
                          "%{customdata[2]:.0%}), at risk %{customdata[0]}"
                          f"<br>median {med}<extra>{label}</extra>"))
    subtitle = ""
    if len(summary.curves) == 1:
        km = summary.curves[0].km
        if km.median is None:
            subtitle = "<br><sup>median not reached"
        else:
            lo, hi = km.median_ci
            ci = f"{lo:.0f}–{hi:.0f}" if hi is not None else f"{lo:.0f}–not reached"
            subtitle = f"<br><sup>median {km.median:.0f} days (95% CI {ci})"
        subtitle += f", n = {km.n}, events = {km.n_events}</sup>"
    if summary.logrank is not None:
        lr = summary.logrank
        subtitle = f"<br><sup>log-rank χ²={lr.chi2:.2f}, df={lr.df}, p={lr.pvalue:.3f}</sup>"
    fig.add_hline(y=0.5, line_dash="dot", line_color="#777777")
    fig.update_layout(title=title + subtitle, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      **_LAYOUT)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def rates_figure(rates: pd.DataFrame, *, by: str, outcome: str, title: str,
                 suppress_below: int = 0) -> go.Figure:
    """Horizontal bars of one outcome's rate per group with Wilson 95% CIs and n.

    Groups with fewer than ``suppress_below`` patients are shown as suppressed, not drawn.
    """
    r = rates[rates["outcome"] == outcome].sort_values("rate")
    small = r["n_patients"] < suppress_below
    shown = r[~small]
    fig = go.Figure(go.Bar(
        y=shown[by].astype(str), x=shown["rate"], orientation="h",
        marker_color=[INSTRUMENT_COLOURS.get(i, OKABE_ITO[0]) for i in shown["instrument"]],
        error_x=dict(type="data", symmetric=False, array=shown["ci_high"] - shown["rate"],
                     arrayminus=shown["rate"] - shown["ci_low"], color="#333333"),
        text=[f"{v:.0%} (n={n})" for v, n in zip(shown["rate"], shown["n"], strict=True)],
        textposition="inside", insidetextanchor="start", textfont=dict(color="white"),
        hovertemplate="%{y}: %{x:.0%}<extra></extra>"))
    note = (f"<br><sup>{int(small.sum())} group(s) with fewer than {suppress_below} patients "
            "not shown</sup>") if small.any() else ""
    fig.update_layout(title=title + note, xaxis_title="Rate (95% CI)", **_LAYOUT,
                      height=max(260, 60 + 45 * len(shown)))
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%")
    return fig


def funnel_figure(funnel: pd.DataFrame, *, title: str = "From course start to lasting response"
                  ) -> go.Figure:
    """Attrition funnel: courses at each stage, with the share of those started."""
    labels = {"started": "Started", "completed_induction": "Completed induction",
              "assessed_at_endpoint": "Assessed at endpoint", "responded": "Responded",
              "in_response_at_90_days": "Still in response at 90 days"}
    fig = go.Figure(go.Funnel(
        y=[labels.get(s, s) for s in funnel["stage"]], x=funnel["n_courses"],
        textinfo="value+percent initial", marker=dict(color=OKABE_ITO[0])))
    unknown = int(funnel["unknown"].iloc[-1]) if len(funnel) else 0
    note = f"<br><sup>{unknown} responders not yet followed for 90 days</sup>" if unknown else ""
    fig.update_layout(title=title + note, **_LAYOUT)
    return fig


def trend_figure(rates: pd.DataFrame, *, outcome: str, title: str) -> go.Figure:
    """Rate by month of course start with its 95% CI band."""
    r = rates[rates["outcome"] == outcome].sort_values("start_month")
    fig = go.Figure()
    for code, part in r.groupby("instrument", sort=True):
        colour = INSTRUMENT_COLOURS.get(str(code), OKABE_ITO[0])
        _band(fig, part["start_month"], part["ci_low"], part["ci_high"], colour, str(code))
        fig.add_trace(go.Scatter(
            x=part["start_month"], y=part["rate"], mode="lines+markers",
            name=_NAMES.get(str(code), str(code)), line=dict(color=colour, width=3),
            customdata=part[["n"]].to_numpy(),
            hovertemplate="%{x}: %{y:.0%}, n = %{customdata[0]}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, xaxis_title="Month of course start",
                      yaxis_title="Rate (95% CI)", **_LAYOUT)
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def weekly_response_figure(weekly: pd.DataFrame, *, instrument: str) -> go.Figure:
    """Share of courses in response by week since the first dose, with Wilson 95% bands.

    Args:
        weekly: :func:`analysis.mean_trajectory` with ``value="is_response"`` and week bins.
    """
    w = weekly.sort_values("bin_order")
    colour = INSTRUMENT_COLOURS.get(instrument, OKABE_ITO[0])
    fig = go.Figure()
    _band(fig, w["bin"], w["ci_low"], w["ci_high"], colour, instrument)
    fig.add_trace(go.Scatter(
        x=w["bin"], y=w["mean"], mode="lines+markers", name=_NAMES.get(instrument, instrument),
        line=dict(color=colour, width=3), customdata=w[["n_courses"]].to_numpy(),
        hovertemplate="%{x}: %{y:.0%} in response, n = %{customdata[0]} courses<extra></extra>"))
    fig.update_layout(title=f"Share of courses in response by week of treatment "
                            f"({_NAMES.get(instrument, instrument)})",
                      xaxis_title="Week since first dose", yaxis_title="In response (95% CI)",
                      **_LAYOUT)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def patient_figure(assessments: pd.DataFrame, sessions: pd.DataFrame, *,
                   reliable_change: Mapping[str, float],
                   expected: Mapping[str, pd.DataFrame] | None = None) -> go.Figure:
    """One patient's scores over time: one panel per instrument, severity bands shaded,
    baseline, response and reliable-change thresholds drawn, sessions marked, PHQ-9 item 9 shown
    as its own trace with flagged points.

    Args:
        assessments: the patient's aligned assessments (``administered_at``, ``instrument``,
            ``total``, ``baseline_total``, ``usable``, ``item_9``).
        sessions: the patient's sessions (``session_at``, ``kind``).
        reliable_change: instrument -> points.
        expected: instrument -> frame with ``administered_at``, ``p10``, ``p50``, ``p90`` (the
            cohort's expected course for patients of similar baseline), drawn as a band.
    """
    codes = [c for c in INSTRUMENTS if (assessments["instrument"] == c).any()]
    rows = max(len(codes), 1)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[_NAMES[c] for c in codes] or ["No scores"],
                        specs=[[{"secondary_y": c == "PHQ9"}] for c in codes] or [[{}]])
    # Shapes and annotations are collected as plain dicts and set once: plotly's add_hline /
    # add_vrect with row/col cost ~10 ms each, which made this figure take most of a second.
    shapes: list[dict] = []
    notes: list[dict] = []
    band_colours = ["#eaf4e4", "#fbf3cf", "#fde3c4", "#fbd0c0", "#f6b9b9"]  # minimal → severe

    def hline(y: float, yref: str, colour: str, dash: str, text: str, right: bool) -> None:
        shapes.append(dict(type="line", xref="x domain", x0=0, x1=1, yref=yref, y0=y, y1=y,
                           line=dict(color=colour, dash=dash, width=1.5)))
        notes.append(dict(xref="x domain", x=1 if right else 0, yref=yref, y=y, text=text,
                          showarrow=False, xanchor="right" if right else "left",
                          yanchor="bottom", font=dict(size=11, color="#555555")))

    for row, code in enumerate(codes, start=1):
        spec = INSTRUMENTS[code]
        yref = fig.get_subplot(row, 1).yaxis.plotly_name.replace("axis", "")
        a = assessments[(assessments["instrument"] == code) & assessments["usable"]]
        a = a.sort_values("administered_at")
        for band, colour in zip(spec.severity_bands, band_colours, strict=False):
            shapes.append(dict(type="rect", xref="x domain", x0=0, x1=1, yref=yref,
                               y0=band.low, y1=band.high + 1, fillcolor=colour, line_width=0,
                               layer="below"))
        if expected and code in expected and not expected[code].empty:
            e = expected[code]
            fig.add_trace(go.Scatter(
                x=list(e["administered_at"]) + list(e["administered_at"])[::-1],
                y=list(e["p90"]) + list(e["p10"])[::-1], fill="toself", mode="lines",
                fillcolor="rgba(120,120,120,0.18)", line=dict(width=0), hoverinfo="skip",
                name="Expected course (10th–90th percentile)", showlegend=row == 1),
                row=row, col=1)
        fig.add_trace(go.Scatter(x=a["administered_at"], y=a["total"], mode="lines+markers",
                                 name=_NAMES[code], line=dict(color=INSTRUMENT_COLOURS[code],
                                                              width=3),
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:.0f}<extra></extra>"),
                      row=row, col=1)
        base = a["baseline_total"].dropna()
        if not base.empty:
            b = float(base.iloc[-1])
            hline(b, yref, "#555555", "dash", f"baseline {b:.0f}", right=False)
            hline(b * 0.5, yref, "#009E73", "dot", "response (−50%)", right=False)
            hline(b - reliable_change[code], yref, "#CC79A7", "dot", "reliable change",
                  right=True)
        if code == "PHQ9" and "item_9" in a.columns:
            item9 = pd.to_numeric(a["item_9"], errors="coerce").astype(float)
            flagged = (item9 >= 1).to_numpy()
            fig.add_trace(go.Scatter(
                x=a["administered_at"], y=item9, mode="lines+markers", name="PHQ-9 item 9",
                line=dict(color="#D55E00", width=1.5, dash="dot"),
                marker=dict(size=[12 if f else 6 for f in flagged],
                            symbol=["diamond" if f else "circle" for f in flagged]),
                hovertemplate="item 9 = %{y}<extra></extra>"), row=row, col=1, secondary_y=True)
            fig.update_yaxes(range=[-0.2, 3.2], dtick=1, title_text="item 9", row=row, col=1,
                             secondary_y=True, showgrid=False)
        fig.update_yaxes(range=[0, spec.total_max + 1], title_text="total", row=row, col=1,
                         secondary_y=False)
    styles = {"dosing": ("#0072B2", "solid"), "booster": ("#D55E00", "solid"),
              "integration": ("#56B4E9", "dot"), "preparation": ("#999999", "dot")}
    for kind, (colour, dash) in styles.items():
        when = sessions.loc[sessions["kind"] == kind, "session_at"]
        for t in when:
            shapes.append(dict(type="line", xref="x", x0=t, x1=t, yref="paper", y0=0, y1=1,
                               line=dict(color=colour, dash=dash, width=1), opacity=0.6))
        if len(when):  # legend entry for the session kind
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines",
                                     line=dict(color=colour, dash=dash), name=f"{kind} session"))
    fig.update_layout(shapes=shapes, annotations=list(fig.layout.annotations) + notes)
    fig.update_layout(height=260 * rows + 80, **{**_LAYOUT, "legend": dict(orientation="h",
                                                                          y=-0.08)})
    return fig
