"""The settings in force: the one carrier of :class:`analysis.Settings` for the pages, the CLI,
exports and the report (no page or command builds its own; the analysis functions receive it)."""

from __future__ import annotations

from functools import lru_cache

from analysis import Settings

__all__ = ["settings_in_force"]


@lru_cache(maxsize=1)
def settings_in_force() -> Settings:
    """The clinic's :class:`analysis.Settings` (today the defaults of ``definitions.md``; the
    single place a clinic's own thresholds will be read from).

    >>> settings_in_force().min_cell_size
    11
    """
    return Settings()
