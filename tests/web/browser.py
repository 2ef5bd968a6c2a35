"""Driving Debian's Chromium with Playwright's Python package (tryggheim/harness.py launches it; never
`playwright install`: no browser is downloaded), injecting axe-core from node_modules, and watching a page for
what the CSP refused."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Page

from tryggheim.harness import chromium as chromium  # the browser tests' browser: one per test module

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
# WCAG 2.1 A and AA, the level Norwegian public-sector solutions must meet.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
T = TypeVar("T")


def beside_the_browser(function: Callable[..., T], *args: Any) -> T:
    """Run `function` in a thread of its own: Playwright's sync API keeps an event loop running in the test's
    thread, where the test helpers' `asyncio.run` may not start another."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(function, *args).result()


class Watch:
    """What a page reported: CSP refusals (the console's Content-Security-Policy messages) and script errors."""

    def __init__(self, page: Page) -> None:
        self.refused: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.refused.append(message.text)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.1 AA violations on the page as it is now. axe is evaluated through
    the DevTools protocol, which the page's CSP does not govern (a script tag would be refused)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                                  nodes: v.nodes.map((n) => n.target.join(" "))}));
        }""",
        WCAG_TAGS,
    )
    return [v for v in found if v["impact"] in {"serious", "critical"}]
