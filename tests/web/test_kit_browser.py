"""Enrolling a kit in a real browser (Debian's Chromium) against a real `tryggheim cloud serve`: the administrator
creates the code on the home's page and its QR code encodes exactly the enrolment address shown; the installer,
on a phone-sized screen, opens that address signed out, signs in, lands on the home's confirmation, confirms it;
a gateway enrols through the real API and sends its heartbeat, and the page shows it online without a reload; the
installer confirms the device the gateway proposed and assigns it to the resident. axe-core finds no serious or
critical violation on the kit pages at both sizes, and the CSP refuses nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
import segno
from playwright.sync_api import Browser, Page

from cloud.access.roles import Role
from cloud.web.kits import QR_ERROR
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants, insert_patient
from tests.web.browser import SIZES, Watch, chromium, serious_violations

pytestmark = pytest.mark.slow
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _page(browser: Browser, server: str, size: str) -> Page:
    context = browser.new_context(base_url=server, viewport=SIZES[size], locale="nb-NO")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _sign_in(page: Page, username: str) -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_load_state()


def _path(svg: str) -> str:
    found = re.search(r' d="([^"]+)"', svg)
    assert found, svg[:200]
    return found.group(1)


def _checked(page: Page, name: str, found: dict[str, list[object]]) -> None:
    for size in SIZES:
        page.set_viewport_size(SIZES[size])  # type: ignore[arg-type]
        found[f"{name} {size}"] = serious_violations(page)  # type: ignore[assignment]


def test_an_installer_enrols_a_kit_through_the_qr_page_sees_it_online_and_assigns_its_device(
    browser: Browser, server: str, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, admin = web_db.runtime_url, tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    violations: dict[str, list[object]] = {}
    with httpx.Client(base_url=server, timeout=30) as http:
        home = http.post("/api/v1/homes", json={"address": "Skannerveien 3"}, headers=admin).json()["id"]
        patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Berit Browser")
        assert http.patch(f"/api/v1/patients/{patient}", json={"home_id": home}, headers=admin).status_code == 204
        desk = _page(browser, server, "desktop")
        desk_watch = Watch(desk)
        desk.goto(f"/kits/homes/{home}")
        _sign_in(desk, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
        desk.get_by_role("button", name="Lag en registreringskode").click()
        shown = desk.locator("#enrolment-url").inner_text()
        code = desk.locator("#enrolment-code").inner_text()
        drawn = segno.make(shown, error=QR_ERROR).svg_inline(scale=5, border=4, light="#fff", lineclass=None)
        assert _path(desk.locator(".kit-qr svg").evaluate("e => e.outerHTML")) == _path(drawn)
        assert shown.endswith(f"/enrol#code={code}")
        _checked(desk, "code", violations)

        phone = _page(browser, server, "phone")
        watch = Watch(phone)
        scanned = urlsplit(shown)
        phone.goto(f"{scanned.path}#{scanned.fragment}")  # the QR code's address, on this test's server
        phone.wait_for_selector("#username")
        _sign_in(phone, tenants.a.usernames[Role.INSTALLER])
        phone.wait_for_selector("#confirm-home")
        assert "Skannerveien 3" in phone.locator("main").inner_text()
        assert "Berit Browser" in phone.locator("main").inner_text()
        assert code not in phone.url
        _checked(phone, "enrolment", violations)
        phone.locator("#confirm-home").click()
        phone.wait_for_selector("html[data-live=ready]")
        assert phone.locator("[data-code-slot]").inner_text() == code
        phone.evaluate("window.notReloaded = true")

        enrolled = http.post("/api/v1/gateways/enrol", json={"code": code})
        assert enrolled.status_code == 201, enrolled.text
        gateway, auth = enrolled.json()["gateway_id"], {"Authorization": f"Bearer {enrolled.json()['credential']}"}
        beat = {
            "software_version": "b",
            "uptime_s": 1,
            "gateway_clock": datetime.now(UTC).isoformat(),
            "outbox_depth": 0,
        }
        assert http.post(f"/api/v1/gateways/{gateway}/status", json=beat, headers=auth).status_code == 200
        address = f"BB:{uuid.uuid4().hex[:2].upper()}:00:00:00:02"
        proposal = {"address": address, "profile_id": "and-uc-352ble"}
        assert http.post(f"/api/v1/gateways/{gateway}/devices", json=proposal, headers=auth).status_code == 202
        phone.wait_for_selector('#gateway-state:has-text("Tilkoblet")')
        assert phone.evaluate("window.notReloaded === true")  # online without a reload
        _checked(phone, "enrolment online", violations)

        phone.locator("#gateway-link").click()
        phone.wait_for_selector(f'[data-proposal="{address}"]')
        _checked(phone, "gateway", violations)
        phone.locator(f'[data-proposal="{address}"] select').select_option(label="Berit Browser")
        phone.locator(f'[data-proposal="{address}"] button').click()
        phone.wait_for_selector(f'[data-device="{address}"] .fleet-assigned:has-text("Berit Browser")')
        assigned = rows(url, "SELECT a.patient_id FROM device_assignments a JOIN devices d ON d.id = a.device_id "
                        "WHERE d.address = %s AND a.valid @> now()", address)  # fmt: skip
        assert assigned == [(UUID(str(patient)),)]
        phone.goto("/fleet")
        phone.wait_for_selector(f'[data-gateway-id="{gateway}"]')
        _checked(phone, "fleet", violations)
        desk.goto("/kits")
        _checked(desk, "homes", violations)
    assert {name: found for name, found in violations.items() if found} == {}
    assert watch.refused == [] and watch.errors == [] and desk_watch.refused == [] and desk_watch.errors == []
