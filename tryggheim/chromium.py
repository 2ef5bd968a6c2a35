"""Debian's Chromium through Playwright's Python package, for the screenshots (tryggheim/demo/screenshots.py) and
the pages' benchmark (tryggheim/bench/ui.py).

The browser is the one the set-up installs (`make sysdeps`: Debian's `chromium`); no browser is ever downloaded
(never `playwright install`). It is launched headless with the browser tests' arguments (tests/web/browser.py):
no sandbox (the set-up runs as root), and nothing that phones home.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


class BrowserRunError(Exception):
    """The browser could not do what the run needs (sign in, reach a page); the message says what."""


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Debian Chromium, closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(tab: Page, username: str, password: str) -> None:
    """Sign in through the sign-in page's form, as a person types it; fails with the page's message."""
    tab.goto("/signin")
    tab.locator("#username").fill(username)
    tab.locator("#password").fill(password)
    tab.locator("#password").press("Enter")
    tab.wait_for_load_state()
    if "/signin" in tab.url:
        raise BrowserRunError(f"{username} could not sign in: {tab.locator('main').inner_text()}")
