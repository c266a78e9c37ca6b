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
from dashboard.labels import STAGE_LABELS, instrument_name, interval_label
from dashboard.views import AT_RISK_DAYS, FunnelView, KMView, RateTable, TrajectoryView, TrendView

__all__ = ["INSTRUMENT_COLOURS", "GROUP_COLOURS", "trajectory_figure", "km_figure",
           "rates_figure", "funnel_figure", "trend_figure", "weekly_response_figure",
           "patient_figure", "median_text"]

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
        c = gc.km.curve
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
                name="Expected for this baseline (10th–90th percentile of other patients)",
                showlegend=row == 1),
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
