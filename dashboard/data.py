"""The one place pages get their frames from (cached).

Until the data store lands, frames come straight from the bundled sample CSVs.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import (
    Alignment,
    Settings,
    align,
    course_attributes,
    per_course_outcomes,
    score_assessments,
    summarize_rates,
)
from sample_data.generate import load_sample


@st.cache_data(show_spinner="Lining scores up against treatment courses…")
def sample_alignment(settings: Settings) -> Alignment:
    """Alignment of the bundled sample data under ``settings``."""
    _, sessions, assessments = load_sample()
    return align(score_assessments(assessments), sessions, settings=settings)


@st.cache_data
def sample_outcomes(settings: Settings) -> pd.DataFrame:
    """Per-course outcomes of the sample data."""
    return per_course_outcomes(sample_alignment(settings))


@st.cache_data
def sample_rates(settings: Settings, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Outcome rates with Wilson intervals, optionally broken down."""
    patients, _, _ = load_sample()
    al = sample_alignment(settings)
    attrs = course_attributes(al, patients)
    return summarize_rates(sample_outcomes(settings), attributes=attrs, by=list(by),
                           settings=settings)
