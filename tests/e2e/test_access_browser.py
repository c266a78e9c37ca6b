"""Clinic mode in a real browser: sign-in, what each role can reach, wrong passwords."""

from __future__ import annotations

from tests.e2e.conftest import E2E_PASSWORD, SHOTS


def _sign_in(page, url: str, username: str, password: str = E2E_PASSWORD) -> None:
    page.goto(url)
    page.get_by_role("heading", name="KAP Outcomes — sign in").wait_for(timeout=60_000)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_password_shows_nothing(page, clinic_url):
    _sign_in(page, clinic_url, "doc", "not-the-password")
    page.get_by_text("Wrong username or password.").wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 0
    page.screenshot(path=str(SHOTS / "signin-failed.png"))


def test_clinician_reaches_own_patients_only(page, clinic_url):
    _sign_in(page, clinic_url, "doc")
    page.get_by_role("heading", name="Clinic overview").wait_for(timeout=60_000)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Patient trajectory").count() == 1
    assert nav.get_by_text("Export").count() == 0 and nav.get_by_text("Admin").count() == 0
    nav.get_by_text("Patient trajectory").click()
    page.get_by_placeholder("Type a patient id or part of it").fill("P000002")  # not theirs
    page.keyboard.press("Enter")
    page.get_by_text("No patient id contains").wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 0
    page.screenshot(path=str(SHOTS / "clinician-foreign-id.png"))


def test_quality_has_no_patient_pages_even_by_url(page, clinic_url):
    _sign_in(page, clinic_url, "qa")
    page.get_by_role("heading", name="Clinic overview").wait_for(timeout=60_000)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Patient trajectory").count() == 0
    assert nav.get_by_text("Export").count() == 1
    page.goto(f"{clinic_url}/patient?patient=P000001")  # a new session: must sign in again
    page.get_by_role("heading", name="KAP Outcomes — sign in").wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == 0


def test_clinician_works_their_signals(page, clinic_url):
    _sign_in(page, clinic_url, "doc")
    page.get_by_role("heading", name="Clinic overview").wait_for(timeout=60_000)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Signals").click()
    page.get_by_role("heading", name="Signals").wait_for(timeout=60_000)
    # the page has rendered either the list (with its Save button) or "no open signals"
    page.get_by_role("button", name="Save").or_(page.get_by_text("No open signals")).first \
        .wait_for(timeout=60_000)
    save = page.get_by_role("button", name="Save")
    if save.count() == 0:  # no open signal for this clinician today
        return
    page.get_by_text("Acknowledge").first.click()
    save.click()
    page.wait_for_timeout(2000)
    page.get_by_role("heading", name="Signals").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "signals-clinician.png"), full_page=True)


def test_quality_cannot_reach_signals(page, clinic_url):
    _sign_in(page, clinic_url, "qa")
    page.get_by_role("heading", name="Clinic overview").wait_for(timeout=60_000)
    page.get_by_text("Open signals for current patients").wait_for(timeout=60_000)  # counts
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Signals").count() == 0


def test_deep_link_opens_after_sign_in(page, clinic_url):
    page.goto(f"{clinic_url}/patient?patient=P000999")
    page.get_by_role("heading", name="KAP Outcomes — sign in").wait_for(timeout=60_000)
    page.get_by_role("textbox", name="Username").fill("doc")
    page.get_by_role("textbox", name="Password").fill(E2E_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Patient trajectory").wait_for(timeout=60_000)
    assert "patient=P000999" in page.url
