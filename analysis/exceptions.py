"""Domain exceptions raised by the analysis package."""

from __future__ import annotations

__all__ = ["AnalysisError", "ScoringError", "InsufficientDataError", "UnknownInstrumentError"]


class AnalysisError(ValueError):
    """Base class: bad input to an analysis function (a ``ValueError``)."""


class UnknownInstrumentError(AnalysisError):
    """An instrument name that matches none of PHQ-9, GAD-7, PCL-5 or their aliases."""


class ScoringError(AnalysisError):
    """Item or total values that break an instrument's rules.

    ``problems`` holds one ``(row, column, reason)`` tuple per bad cell, all of them, so callers
    (the importers) can report every bad row at once.
    """

    def __init__(self, problems: list[tuple[object, str, str]]):
        self.problems = problems
        shown = "; ".join(f"row {r}, {c}: {m}" for r, c, m in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} invalid value(s): {shown}{more}")


class InsufficientDataError(AnalysisError):
    """Too few observations to compute a statistic (e.g. an empty cohort)."""
