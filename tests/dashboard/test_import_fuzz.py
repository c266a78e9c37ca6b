"""Fuzzed importers (hypothesis): hostile files never crash and never leave a partial import."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard.db import repository
from dashboard.importers import import_file

HEADERS = ["patient_id", "instrument", "administered_at", "total", "item_1", "item_9",
           "session_at", "kind", "route", "dose_mg", "clinic_id", "birth_year", "Total",
           "phq9_total", "PHQ-9 Total", "", "course_id"]
CELLS = st.one_of(
    st.sampled_from(["P1", "P2", "0042", "PHQ9", "GAD-7", "pcl5", "BDI", "2025-03-01",
                     "2025-03-01T09:30", "31/12/2025", "2025-02-30", "dosing", "booster", "IV",
                     "", " ", "3", "-1", "27", "1e308", "NaN", "inf", "9" * 40, "=cmd|' /C calc'!A0",
                     "+SUM(A1)", "@x", "\t", "é", "\u202e", "12.5", "1,5", "null"]),
    st.text(max_size=12),
    st.integers(-10**12, 10**12).map(str),
)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@st.composite
def tables(draw):
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=6))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(st.sampled_from([",", ";"])))
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))


def _check(engine, data: bytes, name: str) -> None:
    before = repository.counts(engine)
    report = import_file(engine, data, name=name)  # must not raise
    after = repository.counts(engine)
    if report.ok:
        assert after["import_batches"] == before["import_batches"] + 1
    else:
        assert after == before, report.summary()
        assert report.file_error or report.errors or report.conflicts


@FUZZ
@given(data=tables())
def test_hostile_tables_never_crash_or_half_import(engine, data):
    _check(engine, data, "fuzz.csv")


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(engine, data):
    _check(engine, data, "random.csv")


@FUZZ
@given(data=st.binary(max_size=200))
@example(data=b"}")  # "{}": a resource with no type and nothing imported (was a KeyError)
def test_random_bytes_named_as_fhir_or_xlsx(engine, data):
    _check(engine, b"{" + data, "fuzz.json")
    _check(engine, b"PK\x03\x04" + data, "fuzz.xlsx")
