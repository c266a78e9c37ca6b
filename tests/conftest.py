"""Shared fixtures: the bundled sample data, scored and aligned once per session."""

from __future__ import annotations

import pytest

from analysis import align, score_assessments
from sample_data.generate import load_sample


@pytest.fixture(scope="session")
def sample_frames():
    """``(patients, sessions, scored assessments)`` of the bundled CSV files."""
    patients, sessions, assessments = load_sample()
    return patients, sessions, score_assessments(assessments)


@pytest.fixture(scope="session")
def sample_alignment(sample_frames):
    _, sessions, scored = sample_frames
    return align(scored, sessions)
