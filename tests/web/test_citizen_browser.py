"""The citizens' pages in a real browser (Debian's Chromium) against a real `tryggheim cloud serve`, with local
citizen accounts: a patient whose kit has sent readings answers the day's questions, finds the answers among
their measurements and sees the nurse who opened their record in "who has looked"; she invites her daughter,
who sees the page without the questions until the patient stops it, when the daughter's next request is
refused. axe-core finds no serious or critical WCAG 2.1 AA violation on either page at both sizes, in bokmål
and English; the base text is at least 20 px and every text has a contrast of at least 7:1 (axe's
`color-contrast-enhanced`, WCAG AAA); the CSP refuses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cloud.access.roles import Role
from tests.support.kits import reading
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenant, Tenants
from tests.web.browser import AXE, SIZES, Watch, beside_the_browser, chromium, serious_violations
from tests.web.citizens import add_account, national_id, with_account
from tests.web.helpers import equipped_patient, ingest

pytestmark = pytest.mark.slow
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _page(browser: Browser, server: str, size: str, locale: str) -> Page:
    context = browser.new_context(base_url=server, viewport=SIZES[size], locale=locale)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _sign_in(page: Page, username: str) -> None:
    page.goto("/signin")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_load_state()


def _aaa(page: Page) -> tuple[float, list[dict[str, Any]]]:
    """The body's computed font size in px, and axe's WCAG AAA contrast violations (7:1, 4.5:1 for large text)."""
    size = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: "rule", values: ["color-contrast-enhanced"]}}))
             .violations.map((v) => ({id: v.id, nodes: v.nodes.map((n) => n.target.join(" "))}))"""
    )
    return size, found


def _checked(page: Page, watch: Watch) -> None:
    assert serious_violations(page) == [], page.url
    size, contrast = _aaa(page)
    assert size >= 20, size
    assert contrast == [], contrast
    assert watch.refused == [] and watch.errors == []


def _kari(server: str, url: str, tenant: Tenant) -> tuple[UUID, str, str, str]:
    """A patient whose kit has sent oxygen readings over the last day, opened by the nurse through the API, with
    a local citizen account; and her daughter's account (not yet invited): the patient, her user name, the
    daughter's national id and user name."""
    with httpx.Client(base_url=server, timeout=30) as http:
        patient, kit = equipped_patient(http, url, tenant, "Kari Selv")
        now = datetime.now(UTC)
        readings = [reading(i, kit.oximeter, "spo2", v, "%", measured_at=now - timedelta(hours=20 - 4 * i))
                    for i, v in enumerate((97, 96, 95, 97, 96), 1)]  # fmt: skip
        ingest(http, kit, readings)
        assert http.get(f"/api/v1/patients/{patient}", headers=tenant.auth(Role.NURSE)).status_code == 200
    daughter_id = national_id()
    return patient, with_account(url, tenant, patient), daughter_id, add_account(url, tenant.municipality_id,
                                                                                 daughter_id, "relative")  # fmt: skip


def test_a_patient_answers_sees_who_looked_and_a_relative_loses_access_on_revoke(
    browser: Browser, server: str, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username, daughter_id, daughter = beside_the_browser(_kari, server, url, tenant)

    me = _page(browser, server, "desktop", "nb-NO")
    watch = Watch(me)
    _sign_in(me, username)
    assert me.url.endswith("/me")
    me.get_by_role("heading", name="Siste målinger").wait_for()
    _checked(me, watch)
    me.get_by_role("group", name="Er du tung i pusten i dag?").get_by_label("Litt").check()
    me.get_by_role("group", name="Er bena eller føttene dine hovne i dag?").get_by_label("Ikke i det hele tatt").check()
    me.get_by_role("group", name="Hvordan har du det i dag?").get_by_label("Bra", exact=True).check()
    me.get_by_role("button", name="Send svarene mine").click()
    me.get_by_role("status").filter(has_text="Svarene dine er lagret").wait_for()
    answer = me.locator(".own-answer").filter(has_text="Tung i pusten")
    assert "Litt" in answer.inner_text()
    assert "Oksygen i blodet" in me.locator("#measurements").inner_text()
    assert "nurse a, sykepleier, Nord" in me.locator("#who-has-looked").inner_text()
    me.get_by_label("Navnet deres").fill("Ingrid Datter")
    me.get_by_label("Fødselsnummeret deres (11 sifre)").fill(daughter_id)
    me.get_by_role("button", name="La denne personen se siden min").click()
    me.get_by_role("status").filter(has_text="Personen er invitert").wait_for()

    for size, locale in (("desktop", "nb-NO"), ("phone", "en-GB")):
        relative = _page(browser, server, size, locale)
        seen = Watch(relative)
        _sign_in(relative, daughter)
        assert relative.url.endswith(f"/relative/{patient}")
        relative.get_by_role("heading", name="Kari Selv").wait_for()
        assert relative.locator("#questions, form[action='/me/answers']").count() == 0
        assert relative.locator(".own-answer").count() == 3  # the answers show; the questions do not
        _checked(relative, seen)
    phone = _page(browser, server, "phone", "en-GB")
    phone_watch = Watch(phone)
    _sign_in(phone, username)
    phone.get_by_role("heading", name="Who has looked at my record").wait_for()
    assert "Ingrid Datter, relative" in phone.locator("#who-has-looked").inner_text()
    _checked(phone, phone_watch)

    me.reload()
    me.get_by_role("button", name="Stopp Ingrid Datter fra å se siden min").click()
    me.get_by_role("status").filter(has_text="Personen kan ikke lenger se siden din").wait_for()
    relative.reload()  # the English phone session of the daughter, opened before the revoke
    relative.get_by_text("This person has withdrawn your access to their page.").wait_for()
    assert "Kari Selv" not in relative.locator("main").inner_text()
