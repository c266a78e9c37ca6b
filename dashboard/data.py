"""The one place pages get their frames from: repository → analysis, cached.

Everything a page shows is computed from :func:`frames` (the tidy frames of the database named
by ``KAP_OUTCOMES_DB``) through the analysis package, under the :class:`analysis.Settings` in
force. Cached per database URL and settings; :func:`clear` after imports.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analysis import (
    Alignment,
    Settings,
    align,
    course_attributes,
    per_course_outcomes,
    score_assessments,
    summarize_rates,
)
from dashboard.db import database_url, make_engine, upgrade
from dashboard.db.repository import Frames, load_frames


@st.cache_resource
def engine(url: str) -> Engine:
    """One engine per database URL, schema brought up to date once."""
    eng = make_engine(url)
    upgrade(eng)
    return eng


def current_url() -> str:
    """The database URL in force (``KAP_OUTCOMES_DB`` or the default SQLite file)."""
    return database_url()


@st.cache_data(ttl="10m", show_spinner="Loading scores…")
def frames(url: str) -> Frames:
    """Patients, sessions and assessments of the database at ``url``."""
    return load_frames(engine(url))


@st.cache_data(ttl="10m", show_spinner="Lining scores up against treatment courses…")
def alignment(url: str, settings: Settings) -> Alignment:
    """Scored assessments aligned to courses under ``settings``."""
    f = frames(url)
    return align(score_assessments(f.assessments), f.sessions, settings=settings)


@st.cache_data(ttl="10m")
def outcomes(url: str, settings: Settings) -> pd.DataFrame:
    """Per-course outcomes."""
    return per_course_outcomes(alignment(url, settings))


@st.cache_data(ttl="10m")
def attributes(url: str, settings: Settings) -> pd.DataFrame:
    """Course attributes for breakdowns."""
    return course_attributes(alignment(url, settings), frames(url).patients)


@st.cache_data(ttl="10m")
def rates(url: str, settings: Settings, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Outcome rates with Wilson intervals, optionally broken down."""
    return summarize_rates(outcomes(url, settings), attributes=attributes(url, settings),
                           by=list(by), settings=settings)


def clear() -> None:
    """Forget cached data (after an import)."""
    frames.clear()
    alignment.clear()
    outcomes.clear()
    attributes.clear()
    rates.clear()
