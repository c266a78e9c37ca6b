"""The app in a real browser: every page loads, a patient can be chosen, a file can be uploaded."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.conftest import SHOTS

PAGES = [("", "Clinic overview"), ("caseload", "Caseload"), ("patient", "Patient trajectory"),
         ("signals", "Signals"), ("safety", "Session safety"),
         ("export", "Export"), ("data", "Data"),
         ("definitions", "Definitions")]


def _ready(page, title: str) -> None:
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")


def _no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.errors == []
    assert page.outside == [], f"requests to outside hosts: {page.outside[:5]}"


@pytest.mark.parametrize(("path", "title"), PAGES, ids=[t for _, t in PAGES])
def test_page_loads(page, app_url, path, title):
    page.goto(f"{app_url}/{path}")
    _ready(page, title)
    if path == "":
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    _no_errors(page)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)


def test_overview_tabs_render_charts(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 2000})  # Streamlit scrolls inside its main
    page.goto(app_url)
    _ready(page, "Clinic overview")
    for tab in ("Durability & boosters", "Breakdowns", "Trend", "Attrition"):
        page.get_by_role("tab", name=tab).click()
        page.locator('[role="tabpanel"]:visible .js-plotly-plot .main-svg').first.wait_for(
            timeout=30_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / f"overview-{tab.split()[0].lower()}.png"),
                        full_page=True)
    _no_errors(page)


def test_choose_a_patient(page, app_url):
    page.goto(f"{app_url}/patient")
    _ready(page, "Patient trajectory")
    page.get_by_placeholder("Type a patient id or part of it").fill("P000004")
    page.keyboard.press("Enter")
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    page.wait_for_url("**patient=P000004**", timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.get_by_text("Per-course outcomes").count() == 1
    _no_errors(page)
    page.screenshot(path=str(SHOTS / "patient-chosen.png"), full_page=True)


def test_upload_preview_and_import(page, app_url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,instrument,administered_at,total\nP9001,PHQ9,2025-09-01,31\n")
    good = tmp_path / "new_scores.csv"
    good.write_text("patient_id,instrument,administered_at,total\nP9001,PHQ9,2025-09-01,14\n"
                    "P9001,GAD7,2025-09-01,9\n")
    page.goto(f"{app_url}/data")
    _ready(page, "Data")
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text("rejected, nothing written: 1 bad cell(s)").wait_for(timeout=30_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Import").is_disabled()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "data-rejected.png"), full_page=True)
    page.reload()
    _ready(page, "Data")
    page.locator('input[type="file"]').set_input_files(str(good))
    page.get_by_text("would add 2").wait_for(timeout=30_000)
    page.get_by_role("button", name="Import").click()
    page.get_by_text("added 2").first.wait_for(timeout=30_000)
    _no_errors(page)
    page.screenshot(path=str(SHOTS / "data-imported.png"), full_page=True)


def test_download_a_table_and_a_chart(page, app_url):
    page.goto(f"{app_url}/export")
    _ready(page, "Export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    path = info.value.path()
    text = open(path, encoding="utf-8-sig").read()
    assert text.startswith("scope,instrument,outcome") and "P0000" not in text
    page.get_by_role("button", name="Prepare chart").click()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download PNG").click()
    assert open(info.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    _no_errors(page)
    page.screenshot(path=str(SHOTS / "export.png"), full_page=True)


def _patient_ids(kind: str) -> str:
    """A demo patient of each kind the clinician's day needs (the demo is the bundled sample)."""
    from analysis import align, score_assessments
    from sample_data.generate import load_sample

    _, sessions, assessments = load_sample()
    al = align(score_assessments(assessments), sessions)
    c = al.courses
    if kind == "two-course":
        n = c.groupby("patient_id").size()
        return str(n[n >= 2].index[0])
    once = c.groupby("patient_id").size()
    one_course = c[c["patient_id"].isin(once[once == 1].index)]
    return str(one_course.loc[one_course["booster_count"] > 0, "patient_id"].iloc[0])


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("kind", ["two-course", "booster", "intake-only"])
def test_patient_page_at_desktop_and_phone_width(page, app_url, kind, width):
    pid = "P-INTAKE" if kind == "intake-only" else _patient_ids(kind)
    page.set_viewport_size({"width": width, "height": 2200 if width > 500 else 2600})
    page.goto(f"{app_url}/patient?patient={pid}")
    _ready(page, "Patient trajectory")
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    assert page.get_by_text("Next score due").count() >= 1
    _no_errors(page)
    page.screenshot(path=str(SHOTS / f"patient-{kind}-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_caseload_at_desktop_and_phone_width(page, app_url, width):
    page.set_viewport_size({"width": width, "height": 1400})
    page.goto(f"{app_url}/caseload")
    _ready(page, "Caseload")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    _no_errors(page)
    page.screenshot(path=str(SHOTS / f"caseload-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_safety_page_tabs_at_desktop_and_phone_width(page, app_url, width):
    page.set_viewport_size({"width": width, "height": 2000 if width > 500 else 2600})
    page.goto(f"{app_url}/safety")
    _ready(page, "Session safety")
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / f"safety-{width}.png"), full_page=True)
    for tab in ("By route, dose, session", "Trend", "Monitoring & discharge",
                "Benefit beside risk", "Severe or serious events"):
        page.get_by_role("tab", name=tab).first.click()
        page.wait_for_timeout(1500)
        slug = tab.split()[0].lower().strip(",")
        page.screenshot(path=str(SHOTS / f"safety-{slug}-{width}.png"), full_page=True)
    _no_errors(page)


@pytest.mark.parametrize("width", [1280, 390])
def test_patient_session_detail_at_desktop_and_phone_width(page, app_url, width):
    pid = _patient_ids("booster")   # several dosing sessions, monitored
    page.set_viewport_size({"width": width, "height": 1200})
    page.goto(f"{app_url}/patient?patient={pid}")
    _ready(page, "Patient trajectory")
    heading = page.get_by_role("heading", name="Dosing sessions: vital signs and events")
    heading.first.wait_for(timeout=60_000)
    heading.first.scroll_into_view_if_needed()
    page.wait_for_timeout(2500)
    page.screenshot(path=str(SHOTS / f"patient-sessions-{width}.png"))
    # the vitals chart's axis title: plotly may redraw the chart (and replace the element)
    # while a busy machine is still laying the page out, so the scroll finds it again
    for attempt in range(3):
        try:
            page.get_by_text("minutes after the dose").first.scroll_into_view_if_needed()
            break
        except PlaywrightError:
            if attempt == 2:
                raise
            page.wait_for_timeout(1000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / f"patient-session-detail-{width}.png"))
    _no_errors(page)
