"""Static chart export with Kaleido (plotly) through Debian's Chromium, one browser kept alive."""

from __future__ import annotations

import re
import threading
import warnings
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["figure_bytes", "with_footnote", "slug", "FORMATS"]

FORMATS = ("png", "svg", "pdf")
_lock = threading.Lock()
_started = False


def _ensure_server() -> None:
    """Start Kaleido's sync server once per process (one Chromium, reused: ~0.1 s per image
    instead of 1.5–6 s for a fresh browser each time, setup-notes §3)."""
    global _started
    with _lock:
        if not _started:
            import kaleido

            kaleido.start_sync_server(silence_warnings=True)
            _started = True


def slug(text: str, *, limit: int = 60) -> str:
    """A file-name-safe form of a title: ``Durability, Kaplan–Meier (PHQ-9)`` →
    ``durability-kaplan-meier-phq-9``.

    >>> slug("Durability, Kaplan–Meier (PHQ-9)")
    'durability-kaplan-meier-phq-9'
    """
    ascii_text = text.replace("–", "-").encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:limit].rstrip("-") or "chart"


def with_footnote(fig: go.Figure, footnote: str) -> go.Figure:
    """A copy of ``fig`` with ``footnote`` (date range, n, filters, definitions) under the plot,
    below whatever the figure already keeps in its bottom margin (axis title, legend, a KM
    number-at-risk table)."""
    out = go.Figure(fig)
    lines = [footnote[i:i + 150] for i in range(0, len(footnote), 150)] or [""]
    below = max(int(out.layout.margin.b or 80), 95)
    out.add_annotation(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=0,
                       yshift=-below, xanchor="left", yanchor="top", showarrow=False,
                       align="left", font=dict(size=10, color="#444444"))
    out.update_layout(margin=dict(b=below + 14 + 14 * len(lines)))
    legend_y = out.layout.legend.y
    if legend_y is not None and legend_y < 0:
        out.update_layout(legend=dict(y=-0.12))
    return out


def figure_bytes(fig: go.Figure, fmt: Literal["png", "svg", "pdf"], *, footnote: str,
                 width: int = 1100, height: int = 650, scale: float = 2.0) -> bytes:
    """The figure as PNG, SVG or PDF bytes, with its footnote."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    _ensure_server()
    fig = with_footnote(fig, footnote)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "kopts ignored when using a server"
        return pio.to_image(fig, format=fmt, width=width, height=height,
                            scale=scale if fmt == "png" else 1)
