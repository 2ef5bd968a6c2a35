"""The administrator's and auditor's pages in a real browser (Debian's Chromium) against a real `tryggheim cloud
serve`: an administrator changes a step's wait in the escalation policy on the page, and the next alert a
gateway's readings raise carries the changed policy; a wait the validator refuses is shown next to its field;
axe-core finds no serious or critical WCAG 2.1 AA violation on any of the pages at 1366×768 or 390×844, none
scrolls sideways, and the browser reports no refusal by the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants, insert_patient
from tests.web.browser import SIZES, Watch, beside_the_browser, chromium, serious_violations
from tests.web.helpers import equipped_patient, raise_alerts

pytestmark = pytest.mark.slow
TIMEOUT_MS = 15_000
RED_VITALS_TEAM_LEAD = "#p1s1_after_minutes"  # red_vitals' second step: e-mail to the team lead


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _signed_in(browser: Browser, server: str, username: str, size: str = "desktop") -> Page:
    context = browser.new_context(base_url=server, viewport=SIZES[size], locale="nb-NO")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/signin")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_load_state()
    return page


def test_an_admin_changes_the_escalation_policy_and_the_next_alert_follows_it(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants
) -> None:
    page = _signed_in(browser, server, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
    watch = Watch(page)
    try:
        page.goto("/admin/escalation")
        assert page.locator(RED_VITALS_TEAM_LEAD).input_value() == "30"
        page.locator(RED_VITALS_TEAM_LEAD).fill("-1")
        page.locator("#policy-form button[type=submit]").click()
        error = page.locator("#p1s1_after_minutes-error")
        assert "greater than or equal to 0" in error.inner_text()
        assert page.locator(RED_VITALS_TEAM_LEAD).get_attribute("aria-invalid") == "true"
        page.locator(RED_VITALS_TEAM_LEAD).fill("45")
        page.locator("#policy-form button[type=submit]").click()
        page.wait_for_url("**/admin/escalation?done=policy")
        assert page.locator(RED_VITALS_TEAM_LEAD).input_value() == "45"
        patient, kit = beside_the_browser(equipped_patient, http, web_db.runtime_url, tenants.a, "Policy Follower")
        beside_the_browser(raise_alerts, http, web_db.runtime_url, patient, kit)
        copied = named_rows(web_db.runtime_url, "SELECT escalation FROM alerts WHERE patient_id = %s AND "
                            "escalation -> 'policy' ->> 'name' = 'red_vitals'", patient)  # fmt: skip
        assert copied, "no alert of the patient follows the red vitals policy"
        assert {row["escalation"]["policy"]["steps"][1]["after_minutes"] for row in copied} == {45}
        assert watch.refused == [] and watch.errors == []
    finally:
        http.delete("/api/v1/escalation/policy", headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))


@pytest.mark.parametrize("size", SIZES)
def test_every_admin_page_passes_axe_and_the_csp_at_both_sizes(
    browser: Browser, server: str, http: httpx.Client, web_db: TestDatabase, tenants: Tenants, size: str
) -> None:
    person = insert_patient(web_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], f"Axe reg {size}")
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    home = http.post("/api/v1/homes", json={"address": f"Axeveien {size}"}, headers=admin).json()["id"]
    http.patch(f"/api/v1/patients/{person}", json={"home_id": home}, headers=admin)
    page = _signed_in(browser, server, tenants.a.usernames[Role.MUNICIPALITY_ADMIN], size)
    watch = Watch(page)
    checked = {}
    paths = (
        "/admin",
        "/admin/staff",
        "/admin/protocols",
        "/admin/escalation",
        "/registry/patients",
        "/registry/homes",
        f"/registry/homes/{home}",
        "/registry/consents",
        f"/registry/patients/{person}",
    )
    for path in paths:
        page.goto(path)
        checked[path] = serious_violations(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at {size}"
    page.goto("/admin/escalation")
    page.locator(RED_VITALS_TEAM_LEAD).fill("-1")
    page.locator("#policy-form button[type=submit]").click()
    page.locator("#p1s1_after_minutes-error").wait_for()
    checked["refused policy"] = serious_violations(page)
    auditor = _signed_in(browser, server, tenants.a.usernames[Role.AUDITOR], size)
    assert auditor.url.endswith("/audit")
    auditor.goto("/audit?verify=1")
    checked["audit"] = serious_violations(auditor)
    assert auditor.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert {name: found for name, found in checked.items() if found} == {}
    assert watch.refused == [] and watch.errors == []
