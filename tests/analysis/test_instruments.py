"""Instrument specs pinned to clinical-reference.md §0, §1.1, §1.5."""

import pytest

from analysis.exceptions import UnknownInstrumentError
from analysis.instruments import GAD7, INSTRUMENTS, PCL5, PHQ9, normalize_instrument


def test_ranges_match_the_reference():
    assert (PHQ9.n_items, PHQ9.item_max, PHQ9.total_max) == (9, 3, 27)
    assert (GAD7.n_items, GAD7.item_max, GAD7.total_max) == (7, 3, 21)
    assert (PCL5.n_items, PCL5.item_max, PCL5.total_max) == (20, 4, 80)


def test_defaults_of_section_0():
    assert [(i.remission_below, i.caseness_at, i.reliable_change_points)
            for i in (PHQ9, GAD7, PCL5)] == [(5, 10, 6), (5, 8, 4), (33, 33, 10)]


@pytest.mark.parametrize(("instrument", "total", "label"), [
    (PHQ9, 0, "minimal"), (PHQ9, 4, "minimal"), (PHQ9, 5, "mild"), (PHQ9, 9, "mild"),
    (PHQ9, 10, "moderate"), (PHQ9, 14, "moderate"), (PHQ9, 15, "moderately severe"),
    (PHQ9, 19, "moderately severe"), (PHQ9, 20, "severe"), (PHQ9, 27, "severe"),
    (GAD7, 4, "minimal"), (GAD7, 5, "mild"), (GAD7, 10, "moderate"), (GAD7, 15, "severe"),
    (GAD7, 21, "severe"), (PCL5, 50, None),
])
def test_severity_band_edges(instrument, total, label):
    # Kroenke 2001: 5, 10, 15, 20 open mild, moderate, moderately severe, severe; 0-4 minimal.
    assert instrument.severity(total) == label


def test_severity_out_of_range_raises():
    with pytest.raises(ValueError, match="outside 0–27 for PHQ9"):
        PHQ9.severity(28)


def test_loinc_codes_pinned_to_their_concepts():
    # §1.5: panel codes on the panel, total codes on the total; 70274-6 (not WHO-5's 70274-5).
    assert (PHQ9.loinc_panel, PHQ9.loinc_total) == ("44249-1", "44261-6")
    assert PHQ9.loinc_items[8] == "44260-8"  # item 9, suicidal ideation
    assert (GAD7.loinc_panel, GAD7.loinc_total) == ("69737-5", "70274-6")
    assert len(PHQ9.loinc_items) == 9 and len(GAD7.loinc_items) == 7
    assert PCL5.loinc_total is None  # not verified: a local code system is used


@pytest.mark.parametrize("name", ["PHQ9", "PHQ-9", "phq 9", "phq_9", " Phq-9 "])
def test_aliases(name):
    assert normalize_instrument(name) == "PHQ9"


def test_unknown_instrument():
    with pytest.raises(UnknownInstrumentError, match="'BDI'"):
        normalize_instrument("BDI")


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        INSTRUMENTS["X"] = PHQ9  # type: ignore[index]
