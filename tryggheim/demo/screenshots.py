"""`make screenshots`: the pages as people see them, at 1366×768 (a municipal laptop) and 390×844 (a phone),
written to docs/screenshots/ as `<page>-<width>.png` (docs/nurse-guide.md and the README show them).

A private demo-like service is started for the run and removed after it: an embedded PostgreSQL in a temporary
directory (the demo's machinery), the demo's accounts and registry, the showcase population
(tryggheim/demo/showcase.py: 90 days of readings, open alerts of several kinds, alarm-button presses, comments,
a waiting proposal of personal limits), and a real `tryggheim cloud serve` on it with local sign-in and the
demo's e-mail escalation into a mail sink that keeps quiet. Debian's Chromium is driven by Playwright's Python
package (tryggheim/harness.py: no browser is ever downloaded, never `playwright install`).

Every page of PAGES is shot, each signed in as its account. A page that answers anything but 200 (a 404
because it does not exist yet, a 403) or throws a script error stops the run, naming the page, its path and
what happened: nothing is skipped silently. `--only NAME` (repeatable) shoots some of the pages.

Run: `make screenshots`, or `.venv/bin/python -m tryggheim.demo.screenshots --only worklist --only alert`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Request
from playwright.sync_api import Page as Tab

from cloud.config import CloudSettings
from cloud.runtime import database
from common.ports import free_port
from tryggheim.demo import mail as demo_mail
from tryggheim.demo import seed as demo_seed
from tryggheim.demo import showcase
from tryggheim.harness import BrowserRunError, chromium, cloud_serve, sign_in


@dataclass(frozen=True)
class Page:
    """One page to shoot: its file name, its path (`{...}` names a showcase patient or alert), who looks at it."""

    name: str
    path: str
    account: str


PAGES = (
    Page("worklist", "/", "demo.sykepleier"),
    Page("alert", "/alerts/{kari_weight}", "demo.sykepleier"),
    Page("patient", "/patients/{kari}", "demo.sykepleier"),
    Page("response-centre", "/response-centre", "demo.responssenter"),
    Page("handover", "/handover", "demo.sykepleier"),
    Page("fleet", "/fleet", "demo.installator"),
    Page("enrolment", "/enrol/{enrolment}", "demo.installator"),
    Page("gateway", "/fleet/gateways/{gateway}", "demo.installator"),
    Page("me", "/me", "demo.kari"),
    Page("relative", "/relative/{kari}", "demo.parorende"),
    Page("registry", "/registry/patients", "demo.admin"),
    Page("admin", "/admin/escalation", "demo.admin"),
    Page("audit", "/audit?verify=1", "demo.revisor"),
)
SIZES = ((1366, 768), (390, 844))
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
QUIET_S = 0.5  # no request in flight for this long (live event streams aside): the page has drawn its data
TIMEOUT_S = 20


class ShotFailedError(BrowserRunError):
    """A page could not be shot as it should look."""


class _Quiet:
    """Requests in flight on a tab, apart from live event streams (which stay open)."""

    def __init__(self, tab: Tab) -> None:
        self.pending: set[Request] = set()
        self.errors: list[str] = []
        tab.on("request", self._started)
        tab.on("requestfinished", self._ended)
        tab.on("requestfailed", self._ended)
        tab.on("pageerror", lambda error: self.errors.append(str(error)))

    def _started(self, request: Request) -> None:
        if request.resource_type != "eventsource":
            self.pending.add(request)

    def _ended(self, request: Request) -> None:
        self.pending.discard(request)

    def wait(self, tab: Tab) -> None:
        """Return once nothing has been in flight for QUIET_S (charts fetch their series after the load)."""
        deadline, quiet_since = time.monotonic() + TIMEOUT_S, time.monotonic()
        while time.monotonic() < deadline:
            if self.pending:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                return
            tab.wait_for_timeout(50)
        raise ShotFailedError(f"{tab.url}: requests still in flight after {TIMEOUT_S} s: {self.pending}")


def _shoot(browser: Browser, base_url: str, pages: list[Page], password: str, names: dict[str, str],
           out: Path) -> list[Path]:  # fmt: skip
    """Shoot `pages` (one account's) at every size; returns the files written."""
    written = []
    for width, height in SIZES:
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}, locale="nb-NO",
            timezone_id="Europe/Oslo", reduced_motion="reduce",
        )  # fmt: skip
        context.set_default_timeout(TIMEOUT_S * 1000)
        tab = context.new_page()
        quiet = _Quiet(tab)
        sign_in(tab, pages[0].account, password)
        for page in pages:
            path = page.path.format(**names)
            response = tab.goto(path)
            status = response.status if response is not None else "no response"
            if status != 200:
                raise ShotFailedError(f"{page.name} ({path}, as {page.account}) answered {status}; not shot")
            quiet.wait(tab)
            if quiet.errors:
                raise ShotFailedError(f"{page.name} ({path}): script errors {quiet.errors}")
            written.append(out / f"{page.name}-{width}.png")
            tab.screenshot(path=written[-1], animations="disabled", caret="hide")
        context.close()
    return written


def run(pages: list[Page], out: Path) -> list[Path]:
    """Start the private service, build the showcase, shoot `pages`; returns the files written."""
    root = Path(tempfile.mkdtemp(prefix="tryggheim-screens-", dir="/tmp"))
    root.chmod(0o755)  # the unprivileged database user must reach the data directory
    smtp_port = free_port()
    sink: Any = demo_mail.start_sink(smtp_port, lambda to, subject, link: None)
    try:
        with database(CloudSettings(state_dir=root, database_url=None)) as db:
            passwords = {username: password for _, username, password in demo_seed.seed(db.runtime_url, root)}
            demo_mail.configure(db.runtime_url, demo_seed.MUNICIPALITY[0])
            with cloud_serve(db.runtime_url, TRYGGHEIM_AUTH_MODE="local", TRYGGHEIM_COOKIE_SECURE="false",
                             TRYGGHEIM_SMTP_HOST="127.0.0.1", TRYGGHEIM_SMTP_PORT=str(smtp_port),
                             TRYGGHEIM_SMTP_FROM="varsel@demo.tryggheim.invalid",
                             TRYGGHEIM_ESCALATION_MINUTE_S=str(demo_mail.DEMO_MINUTE_S)) as url:  # fmt: skip
                names = showcase.build(url, db.runtime_url, passwords).names()
                out.mkdir(parents=True, exist_ok=True)
                written: list[Path] = []
                with chromium() as browser:
                    for account in dict.fromkeys(page.account for page in pages):
                        mine = [page for page in pages if page.account == account]
                        written += _shoot(browser, url, mine, passwords[account], names, out)
                return written
    finally:
        if sink is not None:
            sink.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the options, shoot, print each file written; exit 1 naming the page that could not be shot."""
    names = [page.name for page in PAGES]
    parser = argparse.ArgumentParser(prog="python -m tryggheim.demo.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=names, help="shoot this page only (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNG files go (default: {OUT})")
    args = parser.parse_args(argv)
    chosen = [page for page in PAGES if page.name in (args.only or names)]
    try:
        for path in run(chosen, args.out):
            print(path, flush=True)
    except BrowserRunError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
