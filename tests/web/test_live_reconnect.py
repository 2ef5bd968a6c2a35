"""A nurse's open worklist across a restart of the process that serves it (a rolling update, a crash and
restart): the stopping process ends the live stream, the browser reconnects to the process that takes its
place, and an alert that opened while no process served the page appears in the list and is announced, without
a reload. The stream does not replay what it missed, so the page must fetch its list again on a reconnect."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cloud.access.roles import Role
from common.ports import free_port
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants
from tests.web.browser import SIZES, Watch, beside_the_browser, chromium
from tests.web.helpers import equipped_patient, raise_alerts

pytestmark = pytest.mark.slow
TIMEOUT_MS = 20_000
NAME = "Gjenoppkoblet Pasient"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _signed_in(browser: Browser, base_url: str, username: str, path: str) -> tuple[Page, Watch]:
    """A new browser context signed in as `username` on `path`, its live stream open."""
    context = browser.new_context(base_url=base_url, viewport=SIZES["desktop"], locale="nb-NO")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"/signin?next={path}")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_selector("html[data-live=ready]")
    page.evaluate("window.notReloaded = true")
    return page, watch


def test_what_opened_while_the_pages_were_reconnecting_appears_and_is_announced(
    browser: Browser, server: str, web_db: TestDatabase, tenants: Tenants
) -> None:
    # The pages' own process, on a port the process after it takes over; alerts are raised through `server`.
    port = str(free_port())
    settings = {"TRYGGHEIM_AUTH_MODE": "local", "TRYGGHEIM_COOKIE_SECURE": "false", "TRYGGHEIM_ESCALATION": "false",
                "TRYGGHEIM_EVALUATION": "false", "TRYGGHEIM_PORT": port}  # fmt: skip
    with httpx.Client(base_url=server, timeout=30) as http:
        patient, kit = beside_the_browser(equipped_patient, http, web_db.runtime_url, tenants.a, NAME)
        with cloud_serve(web_db.runtime_url, **settings) as first:
            nurse, nurse_watch = _signed_in(browser, first, tenants.a.usernames[Role.NURSE], "/")
            centre, centre_watch = _signed_in(browser, first, tenants.a.usernames[Role.RESPONSE_CENTRE],
                                              "/response-centre")  # fmt: skip
        # The first process has stopped (SIGTERM); the alerts open while nothing serves the pages.
        found = beside_the_browser(raise_alerts, http, web_db.runtime_url, patient, kit)
        with cloud_serve(web_db.runtime_url, **settings):
            nurse.locator(f'.alert-row[data-alert-id="{found.episode}"]').wait_for()
            nurse.wait_for_selector(f"#announcer:has-text('{NAME}')", state="attached")
            centre.locator(f"#alarm-{found.button}").wait_for()
            centre.wait_for_selector(f"#alarm-announcer:has-text('{NAME}')", state="attached")
            assert nurse.evaluate("window.notReloaded") is True and centre.evaluate("window.notReloaded") is True
            nurse.context.close()
            centre.context.close()
    # The browser's failed attempts to reconnect while nothing listened are network errors, not script errors.
    for watch in (nurse_watch, centre_watch):
        assert watch.refused == [] and watch.errors == []
