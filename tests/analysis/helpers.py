"""Tiny frame builders for hand-worked tests: days are offsets from 2025-01-01."""

from __future__ import annotations

import pandas as pd

T0 = pd.Timestamp("2025-01-01")


def at(day: float, time: str | None = None) -> pd.Timestamp:
    """Timestamp ``day`` days after 2025-01-01, optionally at ``HH:MM``."""
    ts = T0 + pd.Timedelta(days=day)
    if time:
        h, m = map(int, time.split(":"))
        ts += pd.Timedelta(hours=h, minutes=m)
    return ts


def sessions(*rows: tuple, patient: str = "p1") -> pd.DataFrame:
    """Rows of ``(day, kind)`` or ``(day, kind, time)`` or ``(day, kind, time, course_id)``."""
    out = []
    for row in rows:
        day, kind, *rest = row
        time = rest[0] if rest else "10:00"
        course = rest[1] if len(rest) > 1 else None
        out.append({"patient_id": patient, "session_at": at(day, time), "kind": kind,
                    "route": "IV" if kind in ("dosing", "booster") else None,
                    "course_id": course})
    return pd.DataFrame(out)


def scores(*rows: tuple, patient: str = "p1", instrument: str = "PHQ9") -> pd.DataFrame:
    """Rows of ``(day, total)`` or ``(day, total, time)``."""
    out = []
    for row in rows:
        day, total, *rest = row
        out.append({"patient_id": patient, "instrument": instrument,
                    "administered_at": at(day, rest[0] if rest else None),
                    "total": float(total) if total is not None else float("nan")})
    return pd.DataFrame(out)
