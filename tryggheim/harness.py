"""What the screenshots (tryggheim/demo/screenshots.py) and the benchmarks (tryggheim/bench/) share: a real
`tryggheim cloud serve` process, and Debian's Chromium through Playwright's Python package (the browser tests in
tests/web use it too).

The browser is the one the set-up installs (`make sysdeps`: Debian's `chromium`); no browser is ever downloaded
(never `playwright install`). It is launched headless with no sandbox (the set-up runs as root) and nothing that
phones home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from common.ports import free_port

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


@contextmanager
def cloud_serve(runtime_url: str, **settings: str) -> Iterator[str]:
    """A real `tryggheim cloud serve` on the database and a free port, with further `TRYGGHEIM_*` settings (none
    is inherited from this process's environment); yields its base URL and stops it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYGGHEIM_")}
    env |= {"TRYGGHEIM_DATABASE_URL": runtime_url, "TRYGGHEIM_PORT": str(port), "TRYGGHEIM_LOG_LEVEL": "WARNING",
            "TRYGGHEIM_PUBLIC_URL": f"http://127.0.0.1:{port}", **settings}  # fmt: skip
    binary = str(Path(sys.executable).parent / "tryggheim")
    server = subprocess.Popen([binary, "cloud", "serve"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # the service prints its URL once it listens
        if not url.startswith("http"):
            raise RuntimeError("the cloud service did not start (its errors are above)")
        yield url
    finally:
        server.terminate()
        server.wait(30)
