"""The pages in a real browser (Debian's Chromium) against a real `tryggheim cloud serve`: a nurse signs in,
an alert raised by a reading that a gateway posts appears in the open worklist without a reload, and she
acknowledges it, reads its chart and records the outcome with the keyboard alone; a signed-out link from an
e-mail comes back after sign-in; axe-core finds no serious or critical WCAG 2.1 AA violation on any page at
1366×768 or 390×844, and the browser reports no refusal by the Content-Security-Policy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.kits import reading
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants
from tests.web.browser import SIZES, Watch, beside_the_browser, chromium, serious_violations
from tests.web.helpers import alerting_patient, equipped_patient, ingest, raise_alerts

pytestmark = pytest.mark.slow
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _page(browser: Browser, server: str, size: str = "desktop") -> Page:
    context = browser.new_context(base_url=server, viewport=SIZES[size], locale="nb-NO")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _sign_in(page: Page, username: str) -> None:
    """Type the user name and password into the sign-in form and send it with Enter."""
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_load_state()


def _focused(page: Page, script: str) -> object:
    return page.evaluate(f"(() => {{ const e = document.activeElement; return {script}; }})()")


def _tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_a_new_alert_appears_live_and_the_nurse_handles_it_with_the_keyboard(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants
) -> None:
    page = _page(browser, server)
    watch = Watch(page)
    page.goto("/")
    assert "/signin?next=/" in page.url
    _sign_in(page, tenants.a.usernames[Role.NURSE])
    assert page.url == f"{server}/", page.locator("main").inner_text()
    page.wait_for_selector("html[data-live=ready]")
    page.evaluate("window.notReloaded = true")
    patient, kit = beside_the_browser(equipped_patient, http, web_db.runtime_url, tenants.a, "Live Browser")
    started = time.monotonic()
    found = beside_the_browser(raise_alerts, http, web_db.runtime_url, patient, kit)
    row = page.locator(f'.alert-row[data-alert-id="{found.episode}"]')  # NEWS2 shows as its worsening episode
    row.wait_for()
    print(f"gateway POST to the alert's row in the open worklist: {time.monotonic() - started:.2f} s")
    assert page.evaluate("window.notReloaded") is True
    assert "Rød" in row.inner_text()
    # Selectors, not wait_for_function: a string predicate that must be polled is evaluated with eval, which the
    # page's CSP refuses (the test then fails only when the condition is not already true).
    page.wait_for_selector("#announcer:has-text('Live Browser')", state="attached")
    for _ in range(60):  # j moves down the list until our alert has the focus
        if _focused(page, "e.closest('.alert-row')?.dataset.alertId") == str(found.episode):
            break
        page.keyboard.press("j")
    page.keyboard.press("a")
    row.locator(".state-acknowledged").wait_for()  # swapped in by htmx: the focus comes back to the same row
    page.wait_for_selector(f".alert-row[data-alert-id='{found.episode}']:focus-within", state="attached")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/alerts/{found.episode}")
    page.wait_for_selector("#chart[data-points] canvas")
    assert int(page.locator("#chart").get_attribute("data-points") or 0) >= 6
    _tab_to(page, "#outcome-outcome")
    for _ in range(6):
        if page.locator("#outcome-outcome").input_value() == "done":
            break
        page.keyboard.press("ArrowDown")
    _tab_to(page, "#outcome-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/alerts/{found.episode}?done=outcome")
    assert "Utfallet er registrert." in page.locator("main").inner_text()
    stored = named_rows(web_db.runtime_url, "SELECT a.state, a.acknowledged_by, o.outcome FROM alerts a "
                        "JOIN alert_outcomes o ON o.alert_id = a.id WHERE a.id = %s", found.episode)  # fmt: skip
    assert stored == [{"state": "resolved", "acknowledged_by": tenants.a.staff[Role.NURSE], "outcome": "done"}]
    assert watch.refused == [] and watch.errors == []


def test_the_response_centre_hears_a_new_alarm_and_each_press_again_without_a_reload(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants
) -> None:
    page = _page(browser, server)
    watch = Watch(page)
    page.goto("/response-centre")
    _sign_in(page, tenants.a.usernames[Role.RESPONSE_CENTRE])
    page.wait_for_selector("html[data-live=ready]")
    page.evaluate("window.notReloaded = true")
    patient, kit = beside_the_browser(equipped_patient, http, web_db.runtime_url, tenants.a, "Per Igjen")
    found = beside_the_browser(raise_alerts, http, web_db.runtime_url, patient, kit)
    page.wait_for_selector("#alarm-announcer:has-text('Per Igjen')", state="attached")
    again = reading(100, kit.button, "alarm.button", 1, "1", measured_at=datetime.now(UTC))
    beside_the_browser(ingest, http, kit, [again])
    page.wait_for_selector(f"#alarm-{found.button}[data-pressed-again='1']")
    page.wait_for_selector("#alarm-announcer:has-text('Utløst igjen')", state="attached")
    assert "Per Igjen" in (page.locator("#alarm-announcer").text_content() or "")
    assert page.evaluate("window.notReloaded") is True
    assert watch.refused == [] and watch.errors == []


def test_a_signed_out_link_from_an_e_mail_comes_back_after_sign_in(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants
) -> None:
    found = beside_the_browser(alerting_patient, http, web_db.runtime_url, tenants.a, "Mail Link")
    page = _page(browser, server)
    page.goto(f"/alerts/{found.button}")
    assert f"/signin?next=/alerts/{found.button}" in page.url
    _sign_in(page, tenants.a.usernames[Role.NURSE])
    assert page.url == f"{server}/alerts/{found.button}"
    assert "Mail Link" in page.locator("main").inner_text()


@pytest.mark.parametrize("size", SIZES)
def test_every_page_passes_axe_and_the_csp_at_both_sizes(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants, size: str
) -> None:
    found = beside_the_browser(alerting_patient, http, web_db.runtime_url, tenants.a, f"Axe {size}")
    other = beside_the_browser(alerting_patient, http, web_db.runtime_url, tenants.a, f"Axe other {size}", "Sør")
    page = _page(browser, server, size)
    watch = Watch(page)
    page.goto("/signin")
    checked = {"sign-in": serious_violations(page)}
    _sign_in(page, tenants.a.usernames[Role.NURSE])
    for name, path, ready in (
        ("worklist", "/", "html[data-live=ready]"),
        ("alert with chart", f"/alerts/{found.news2}", "#chart[data-points] canvas"),
        ("alarm alert", f"/alerts/{found.button}", "main"),
        ("patient with chart", f"/patients/{found.patient_id}", ".patient-chart .chart[data-points] canvas"),
        ("another team's alert (403)", f"/alerts/{other.news2}", "main"),
        ("no such page (404)", "/no/such/page", "main"),
    ):
        page.goto(path)
        page.wait_for_selector(ready)
        checked[name] = serious_violations(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {size}"
    assert {name: found for name, found in checked.items() if found} == {}
    assert watch.refused == [] and watch.errors == []


def test_the_accessibility_and_csp_checks_can_fail(browser: Browser, server: str) -> None:
    """The controls: an image without a text alternative is a critical violation to axe, and the browser reports
    an inline script that the service's policy refuses."""
    page = _page(browser, server)
    watch = Watch(page)
    page.goto("/signin")
    page.evaluate("() => { const img = document.createElement('img'); img.src = '/x.png'; document.body.append(img); }")
    assert "image-alt" in {v["id"] for v in serious_violations(page)}
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = '1'; document.body.append(s); }")
    page.wait_for_timeout(100)
    assert watch.refused and "script-src" in watch.refused[0]
