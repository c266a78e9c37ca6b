"""One truth in every figure: for the same filters, the responder count and n are equal on the
overview card, the funnel, the rates export, the PDF report and counts derived from
``kap-outcomes metrics --json``; the durability curve's n is the number of responders.

(On the first implementation these differed: the card said 111 of 236, the funnel 86, the
durability curve n = 149; PCL-5 remission exceeded response.)
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import Settings, course_attributes, per_course_outcomes
from dashboard import views
from dashboard.cli import main
from dashboard.exports.report import parse_period, report_html
from dashboard.exports.tables import funnel_table, rates_table
from tests.dashboard.test_app import APP

FILTERS = [dict(), dict(clinics=("coast",)), dict(routes=("IV",)), dict(indications=("TRD",)),
           dict(clinics=("north",), routes=("IN", "SL")), dict(clinics=("central",), routes=("IM",))]


def _counts_from_rows(rows: pd.DataFrame, outcome: str) -> tuple[int, int]:
    """k and n of an outcome counted from per-course rows, as an analyst with the metrics
    export would."""
    v = rows[outcome].dropna()
    return int(v.astype(bool).sum()), int(len(v))


@pytest.fixture(scope="module")
def sample(sample_alignment, sample_frames):
    patients, _, _ = sample_frames
    o = per_course_outcomes(sample_alignment)
    return sample_alignment, o, course_attributes(sample_alignment, patients)


@pytest.mark.parametrize("instrument", ["PHQ9", "GAD7", "PCL5"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(map(str, f.values())) or "all")
def test_card_funnel_export_metrics_and_km_agree(sample, instrument, filters):
    _, o, attrs = sample
    settings = Settings(min_cell_size=1)  # compare the raw counts (withholding tested apart)
    keep = views.course_mask(attrs, **filters)
    of = o.merge(keep[["patient_id", "course_id"]], on=["patient_id", "course_id"])
    head = views.headline_rates(of, instrument=instrument, settings=settings)
    card = head.cell("endpoint_response")
    rows = of[of["instrument"] == instrument]
    k, n = _counts_from_rows(rows, "endpoint_response")
    if card is None:  # an empty cohort: nothing on the card, nothing anywhere else
        assert n == 0 and of[of["instrument"] == instrument].empty
        return
    assert (int(card["k"]), int(card["n"])) == (k, n)
    funnel = funnel_table(views.funnel_view(of, instrument=instrument, settings=settings,
                                            headline=head)).set_index("stage")
    assert (funnel.loc["responded", "courses"], funnel.loc["assessed_at_endpoint",
                                                           "courses"]) == (k, n)
    export = rates_table(head).set_index("outcome")
    assert (export.loc["endpoint_response", "k"], export.loc["endpoint_response", "n"]) == (k, n)
    km = views.km_view(of, endpoint="durability", instrument=instrument, settings=settings)
    assert (km.curves[0].km.n if km else 0) == k
    # remission and clinically significant improvement: courses starting at/above caseness
    case = dict(settings.caseness_at)[instrument]
    eligible = rows[(rows["baseline_total"] >= case) & rows["endpoint_total"].notna()]
    rem = head.cell("endpoint_remission")
    assert (0 if rem is None else int(rem["n"])) == len(eligible)
    # a breakdown's groups add up to the card
    by = views.breakdown_view(of, keep, instrument=instrument, by="route", settings=settings)
    cells = by.rates.outcome("endpoint_response")
    assert (cells["k"].sum(), cells["n"].sum()) == (k, n)


def test_remission_counts_only_courses_that_could_remit(sample):
    _, o, _ = sample
    for code in ("PHQ9", "GAD7", "PCL5"):
        rows = o[o["instrument"] == code]
        case = dict(Settings().caseness_at)[code]
        defined = rows["endpoint_remission"].notna()
        assert (rows.loc[defined, "baseline_total"] >= case).all()
    # PHQ-9 and GAD-7: the remission cut-off (< 5) is at most half of caseness (10, 8), so
    # every course counted as remitting is also a response: remission <= response per course
    for code in ("PHQ9", "GAD7"):
        rows = o[(o["instrument"] == code) & o["endpoint_remission"].fillna(False)]
        assert rows["endpoint_response"].all()
    # PCL-5 remission is "below the provisional cut-off" (< 33): a lower bar than a 50% drop
    # (40 -> 32 remits without responding), so its rate may exceed response; the Definitions
    # page says so rather than hiding it
    pcl = o[(o["instrument"] == "PCL5") & o["endpoint_remission"].fillna(False)]
    assert not pcl["endpoint_response"].all()


def test_every_renderer_shows_the_same_responders(demo_db, tmp_path, capsys):
    # the overview card, as a person reads it
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if " of " in c.value and "courses ·" in c.value)
    k, n = (int(x) for x in re.match(r"(\d+) of (\d+) courses", caption).groups())
    # the funnel on the overview's Attrition tab
    funnel = [json.loads(el.proto.spec) for el in at.get("plotly_chart")
              if "From course start" in json.loads(el.proto.spec)["layout"]["title"]["text"]][0]
    text = funnel["data"][0]["text"]
    assert text[2].startswith(f"{n} (") and text[3].startswith(f"{k} (")
    # the rates export of the CLI
    out = tmp_path / "rates.csv"
    assert main(["--db", str(demo_db), "export", "--what", "rates", "--format", "csv",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    row = table[(table["instrument"] == "PHQ9") & (table["outcome"] == "endpoint_response")]
    assert (int(row["k"].iloc[0]), int(row["n"].iloc[0])) == (k, n)
    # counts derived from metrics --json
    capsys.readouterr()
    assert main(["--db", str(demo_db), "metrics", "--json"]) == 0
    rows = pd.DataFrame([json.loads(line) for line in
                         capsys.readouterr().out.splitlines() if line.strip()])
    phq = rows[rows["instrument"] == "PHQ9"]
    assert _counts_from_rows(phq, "endpoint_response") == (k, n)
    # the PDF report's table for one quarter (from the dashboard's derived results) equals the
    # views on that quarter's courses
    from dashboard.data import derived

    starts = pd.to_datetime(phq["first_dose_at"])
    middle = starts.sort_values().iloc[len(starts) // 2]
    period = parse_period(f"{middle.year}Q{(middle.month - 1) // 3 + 1}")
    page = report_html(derived(f"sqlite:///{demo_db}", Settings()), period, settings=Settings())
    q = phq[(starts >= period.start) & (starts < period.end)]
    qk, qn = _counts_from_rows(q, "endpoint_response")
    # the executive summary's cell for the period: "48% (95% CI 40%–56%; 75 of 157)"
    cells = re.findall(r"<td>Response at endpoint</td>\s*<td>([^<]*)</td>", page)
    assert cells, "the report has the period's response row"
    shown = cells[0]
    assert shown == "withheld (small numbers)" or shown.endswith(f"; {qk} of {qn})"), shown


def test_current_patients_are_one_count_on_card_caseload_and_signals(demo_db, monkeypatch):
    """The overview's "Current patients" card, the caseload's current rows and the signals'
    split into current and "not seen since" all follow :func:`analysis.signals.is_current`."""
    from dashboard import data
    from dashboard.security import LOCAL_USER
    from dashboard.state import Filters

    url = f"sqlite:///{demo_db}"
    settings = Settings()
    end = data.data_end(url, settings)
    # two months after the last record, so that some patients are current and some are not
    monkeypatch.setenv("KAP_OUTCOMES_AS_OF", f"{end + pd.Timedelta(days=60):%Y-%m-%d} 12:00")
    contacts = data.derived(url, settings).contacts
    cut = pd.Timestamp(data.signal_clock()).normalize() - pd.Timedelta(days=settings.active_days)
    by_hand = set(contacts.loc[contacts["last_contact"] >= cut, "patient_id"])
    assert 0 < len(by_hand) < contacts["patient_id"].nunique()
    card = data.overview(url, settings, Filters()).n_current
    table = data.caseload(url, settings, LOCAL_USER)
    current = set(table.loc[table["current"], "patient_id"])
    assert card == len(current) == len(by_hand) and current == by_hand
    now, old = data.signals(url, settings, Filters(), LOCAL_USER)
    assert len(now) and len(old)
    assert set(now["patient_id"]) <= current and not set(old["patient_id"]) & current
    # under a filter the card counts the current patients with a course that passes it
    coast = Filters(clinics=("coast",))
    in_coast = table[(table["clinic_id"] == "coast") & table["course_id"].notna()]
    assert data.overview(url, settings, coast).n_current == int(in_coast["current"].sum()) > 0
