"""Exports render real files: charts, tables (suppressed, formula-safe), the PDF report."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import Settings
from dashboard.cli import main
from dashboard.exports.figures import figure_bytes
from dashboard.exports.report import parse_period
from dashboard.exports.tables import (
    neutralize,
    rates_table,
    research_extract,
    to_csv_bytes,
    to_xlsx_bytes,
)

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(A1:A2)", "-2+3", "@SUM(1)", "\tTAB", "\rCR", "safe"]


def test_neutralize_every_formula_prefix():
    assert [neutralize(v) for v in HOSTILE] == ["'" + v for v in HOSTILE[:-1]] + ["safe"]
    assert neutralize(-3) == -3 and neutralize(2.5) == 2.5


def test_csv_and_xlsx_are_formula_safe_with_hostile_names():
    frame = pd.DataFrame({"clinic_id": HOSTILE, "k": range(len(HOSTILE))})
    settings = Settings()
    text = to_csv_bytes(frame, meta=["=evil note"], settings=settings).decode("utf-8-sig")
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    cells = back["clinic_id"].tolist()
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert "note: =evil note" in " ".join(cells)         # the note row, neutralised as a whole
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(frame, meta=["=x"], settings=settings)))
    values = [c.value for c in book["table"]["A"]][1:]
    # (XLSX stores a carriage return as a line feed; the apostrophe is what matters)
    assert values == ["'" + v.replace("\r", "\n") for v in HOSTILE[:-1]] + ["safe"]
    assert book["table"]["B"][1].value == 0                  # numbers stay numbers
    assert book["about"]["A"][1].value == "'=x"


def test_rates_export_withholds_with_marks_and_says_so(sample_alignment, sample_frames):
    from analysis import course_attributes, per_course_outcomes
    from dashboard import views

    patients, _, _ = sample_frames
    o = per_course_outcomes(sample_alignment)
    attrs = course_attributes(sample_alignment, patients)
    view = views.breakdown_view(o, attrs, instrument="PHQ9", by="clinician_id",
                                settings=Settings())
    table = rates_table(view.rates)
    decided = view.rates.table
    primary = (decided["withheld"] == "primary").to_numpy()
    protecting = (decided["withheld"] == "protecting").to_numpy()
    assert (table.loc[primary, "rate_%"] == "<11").all()
    assert (table.loc[protecting, "rate_%"] == "‡").all()       # not labelled as if small
    # every group that is shown has at least 11 patients after pooling
    shown_n = pd.to_numeric(table["n_patients"], errors="coerce").dropna()
    assert (shown_n >= 11).all()
    text = to_csv_bytes(table, meta=["test"], settings=Settings()).decode("utf-8-sig")
    assert "<11: withheld, fewer than 11 patients" in text and "‡: withheld so that" in text
    assert "P0" not in text                                  # no patient ids in aggregates


def test_research_extract_has_no_ids_or_dates(sample_alignment, sample_frames):
    from analysis import course_attributes, per_course_outcomes

    patients, _, _ = sample_frames
    o = per_course_outcomes(sample_alignment)
    attrs = course_attributes(sample_alignment, patients)
    a = research_extract(o, attrs, rng=1)
    b = research_extract(o, attrs, rng=2)
    assert "patient_id" not in a.columns and "first_dose_at" not in a.columns
    assert not a.select_dtypes(include=["datetime64[ns]"]).columns.size
    assert a["research_id"].nunique() == o["patient_id"].nunique()
    assert not a["research_id"].str.startswith("P").any()
    assert (a.groupby("research_id").size().sort_values().to_numpy()
            == b.groupby("research_id").size().sort_values().to_numpy()).all()
    assert a["research_id"].tolist() != b["research_id"].tolist() or len(a) < 2
    # whole days only: a fraction would give away the time of day of a visit
    days = a["durability_days"].dropna().to_numpy(dtype=float)
    assert len(days) and (days == np.floor(days)).all()
    assert (a["endpoint_day"].dropna().to_numpy(dtype=float) % 1 == 0).all()


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg"),
                                            ("pdf", b"%PDF")])
def test_chart_files_are_valid(fmt, magic):
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 0.8, 0.5], name="all (n=30)"),
                    layout=dict(title="Still in response"))
    data = figure_bytes(fig, fmt, footnote="PHQ9 · 2025-01-01 to 2025-03-31 · n = 30 courses")
    assert data.startswith(magic) and len(data) > 3000
    if fmt == "svg":
        assert "n = 30 courses" in data.decode()   # the footnote is in the file
    if fmt == "png":
        from PIL import Image

        img = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
        assert img.shape[1] == 2200 and img.std() > 5    # 1100 px at scale 2, not blank


def test_period_parsing():
    p = parse_period("2025q3")
    assert (p.start, p.end, p.previous().label) == (pd.Timestamp("2025-07-01"),
                                                     pd.Timestamp("2025-10-01"), "2025Q2")
    assert parse_period("2025Q1").previous().label == "2024Q4"
    assert parse_period("2025H2").previous().label == "2025H1"
    assert parse_period("2025").previous().label == "2024"
    assert parse_period("2025Q3").trailing_12m().start == pd.Timestamp("2024-07-01")
    # relative periods: the latest whose follow-up is mature (60 days after its end)
    as_of = pd.Timestamp("2025-11-15")
    # 2025Q3 ended with 2025-09-30: mature 60 days after, from 2025-11-30 on
    assert parse_period("last-quarter", as_of=as_of).label == "2025Q2"
    assert parse_period("last-quarter", as_of=pd.Timestamp("2025-11-30")).label == "2025Q3"
    assert parse_period("last-half", as_of=as_of).label == "2025H1"
    assert parse_period("last-year", as_of=as_of).label == "2024"
    roll = parse_period("rolling-12m", as_of=as_of)
    assert (roll.start, roll.end) == (pd.Timestamp("2024-09-01"), pd.Timestamp("2025-09-01"))
    with pytest.raises(ValueError):
        parse_period("2025-07")


def _pdf_pages(pdf: Path, tmp_path: Path) -> list[str]:
    texts = []
    n = len(list(_page_images(pdf, tmp_path)))
    for i in range(1, n + 1):
        out = subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), "-layout", str(pdf), "-"],
                             capture_output=True, text=True, check=True)
        texts.append(out.stdout)
    return texts


def _page_images(pdf: Path, tmp_path: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)
    return sorted(tmp_path.glob("page-*.png"))


def test_cli_report_pages_have_content_numbers_and_the_clinic(tmp_path, capsys):
    db = str(tmp_path / "demo.db")
    assert main(["--db", db, "demo"]) == 0
    out = tmp_path / "report.pdf"
    assert main(["--db", db, "report", "--period", "rolling-12m", "--out", str(out),
                 "--clinic-name", "Demo Clinics"]) == 0
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 50_000
    assert shutil.which("pdftoppm"), "scripts/test.sh installs poppler-utils"
    pages = _page_images(out, tmp_path)
    assert len(pages) >= 5
    from PIL import Image

    for page in pages:
        img = np.asarray(Image.open(page).convert("L"))
        assert (img < 200).mean() > 0.005, page.name     # ink on every page
    texts = _pdf_pages(out, tmp_path)
    assert "Executive summary" in texts[0] and "Measurement completeness" in texts[0]
    assert "over the last eight quarters" in texts[0]
    for i, text in enumerate(texts, start=1):
        assert f"Page {i} of {len(texts)}" in text and "Demo Clinics" in text
        assert "generated" in text and "PHQ-9" in text                 # filters on every page
    joined = "\n".join(texts)
    for section in ("Rapid onset", "Durability of response", "By route", "By indication",
                    "Attrition and completeness", "Methods appendix"):
        assert section in joined, section
    assert "endpoint_response" not in joined                           # human labels
    assert main(["--db", db, "report", "--period", "July", "--out", str(out)]) == 2


def test_no_report_table_is_mostly_withheld_on_the_sample_rolling_year(tmp_path):
    import re

    from dashboard.db import make_engine
    from dashboard.db.repository import load_frames
    from dashboard.exports.report import report_html

    db = tmp_path / "demo.db"
    assert main(["--db", str(db), "demo"]) == 0
    frames = load_frames(make_engine(f"sqlite:///{db}"), item_columns=("item_9",))
    as_of = frames.assessments["administered_at"].max()
    page = report_html(frames, parse_period("rolling-12m", as_of=as_of), as_of=as_of)
    tables = re.findall(r"<table.*?</table>", page, flags=re.S)
    assert len(tables) >= 5
    for table in tables:
        cells = re.findall(r"<td>(.*?)</td>", table, flags=re.S)
        marks = sum(c.strip() in ("&lt;11", "‡") or c.startswith("withheld") for c in cells)
        figures = sum(bool(re.fullmatch(r"[-+]?\d+(\.\d+)?", c.strip())) or "%" in c
                      for c in cells)
        assert marks <= figures, (marks, figures, table[:300])


def test_cli_export_tables(tmp_path, capsys):
    db = str(tmp_path / "demo.db")
    assert main(["--db", db, "demo"]) == 0
    csv_path = tmp_path / "rates.csv"
    assert main(["--db", db, "export", "--by", "route", "--out", str(csv_path)]) == 0
    text = csv_path.read_text(encoding="utf-8-sig")
    assert text.startswith("route,instrument,outcome,k,n,n_patients,rate_%")
    xlsx = tmp_path / "extract.xlsx"
    assert main(["--db", db, "export", "--what", "extract", "--format", "xlsx",
                 "--out", str(xlsx)]) == 0
    book = openpyxl.load_workbook(xlsx)
    header = [c.value for c in book["table"][1]]
    assert header[0] == "research_id" and "patient_id" not in header


def test_report_trend_quarters_cannot_be_worked_out_from_the_summary_sums():
    # sample, 2025Q2: the summary publishes the 12 months before (2024Q2-2025Q1: 66 of 146);
    # 2024Q2 alone is small (10 responders), so with the other three quarters shown it would
    # be 66 - 22 - 19 - 15. Every quarter of that window is withheld instead.
    import re

    from dashboard.db.repository import Frames
    from dashboard.exports.report import report_html
    from sample_data.generate import load_sample

    patients, sessions, assessments = load_sample()
    page = report_html(Frames(patients, sessions, assessments), parse_period("2025Q2"),
                       as_of=pd.Timestamp("2025-12-31"))
    trend = re.search(r"over the last eight quarters</h2>.*?(<table.*?</table>)", page,
                      flags=re.S).group(1)
    rows = dict(re.findall(r"<tr>\s*<td>(\d{4}Q\d)</td>\s*<td>([^<]*)</td>", trend))
    window = [rows[q] for q in ("2024Q2", "2024Q3", "2024Q4", "2025Q1")]
    assert all(v in ("&lt;11", "‡") for v in window), window
    assert "66 of 146" in page   # the published sum is still there
