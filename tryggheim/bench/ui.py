"""`tryggheim bench ui`: what the pages cost the server, and how soon a new alert shows in a browser.

Starts a private PostgreSQL (unless given a superuser URL) and one real `tryggheim cloud serve` on it (detection
on, escalation off, local sign-in), and makes the population of tryggheim/bench/ui_population.py: by default 500
open alerts over 200 patients, the first with 90 days of readings. Then:

* **Render time**: each page of PAGES is fetched `renders` times (after a warm-up) by the signed-in nurse, one
  request at a time over a kept-alive loopback connection: p50/p99 of the time to the response's last byte,
  which is the server's time to render it plus a loopback round trip (well under a millisecond).
* **Alert in the browser**: the worklist is open in Debian's Chromium (tryggheim/harness.py) with its live
  stream connected; `trials` times a gateway posts an alarm-button press for a patient without alerts, and
  the time from just before the POST to the patient's name on the page is taken: ingest, detection, the
  worklist NOTIFY, the event stream, the list's refresh and the browser's swap.

A page that answers anything but 200 (a 404: the page does not exist in this build) fails the benchmark naming
it: nothing is left out silently. One JSON line on stdout; figures in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tryggheim.bench.ingest import cloud_service
from tryggheim.bench.ui_population import NURSE, Person, Population, populate
from tryggheim.harness import BrowserRunError, chromium, sign_in

# (name, path): `{patient}` is the patient with the reading history.
PAGES = (("worklist", "/"), ("patient", "/patients/{patient}"))
WARM_UP = 3
TIMEOUT_S = 15


class BenchmarkError(BrowserRunError):
    """A page could not be measured (it did not answer 200, or a new alert never showed)."""


def _ms(values: list[float], quantile: int) -> float:
    """The `quantile`-th percentile of seconds, in milliseconds (the value itself for a single sample)."""
    if len(values) < 2:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[quantile - 1] * 1000, 1)


def _fetch(client: httpx.Client, name: str, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise BenchmarkError(f"the {name} page ({path}) answered {response.status_code}; not measured")
    return elapsed, len(response.content)


def _renders(base_url: str, password: str, pages: list[tuple[str, str]], renders: int) -> dict[str, Any]:
    """p50/p99 of each page's time to the last byte over `renders` fetches by the signed-in nurse."""
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=60, headers={"Accept": "text/html"}) as client:
        client.post("/auth/login", json={"username": NURSE, "password": password}).raise_for_status()
        for name, path in pages:
            for _ in range(WARM_UP):
                _fetch(client, name, path)
            times, sizes = zip(*(_fetch(client, name, path) for _ in range(renders)), strict=True)
            figures[name] = {"path": path, "p50_ms": _ms(list(times), 50), "p99_ms": _ms(list(times), 99),
                             "max_ms": round(max(times) * 1000, 1), "kb": round(max(sizes) / 1024, 1)}  # fmt: skip
    return figures


def _press(client: httpx.Client, person: Person) -> None:
    now = datetime.now(UTC)
    person.send(client, [("button", "alarm.button", 1.0, "1", now)])


def _alert_in_browser(base_url: str, password: str, trials: list[Person]) -> dict[str, Any]:
    """Seconds from a gateway's POST of an alarm press to the patient's name in the open worklist, per trial."""
    times = []
    with chromium() as browser, httpx.Client(base_url=base_url, timeout=30) as gateway:
        context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 768}, locale="nb-NO")
        context.set_default_timeout(TIMEOUT_S * 1000)
        tab = context.new_page()
        sign_in(tab, NURSE, password)
        response = tab.goto("/")
        if response is None or response.status != 200:
            raise BenchmarkError(f"the worklist answered {response.status if response else 'nothing'} in the browser")
        tab.wait_for_selector("html[data-live=ready]", state="attached")
        for person in trials:
            started = time.perf_counter()
            _press(gateway, person)
            tab.wait_for_function("(name) => document.body.textContent.includes(name)", arg=person.name,
                                  polling="raf")  # fmt: skip
            times.append(time.perf_counter() - started)
    return {"trials": len(times), "p50_ms": _ms(times, 50), "max_ms": round(max(times) * 1000, 1)}


def run(admin_url: str | None, *, patients: int, alerts: int, days: int, renders: int, trials: int,
        pages: list[str]) -> dict[str, Any]:  # fmt: skip
    """Set everything up, measure, clean up; returns the JSON-able result."""
    with cloud_service(admin_url, 1, TRYGGHEIM_AUTH_MODE="local", TRYGGHEIM_COOKIE_SECURE="false",
                       TRYGGHEIM_ESCALATION="false") as (runtime_url, (url,)):  # fmt: skip
        started = time.perf_counter()
        population: Population = populate(runtime_url, url, patients, alerts, days, trials)
        setup_s = time.perf_counter() - started
        chosen = [(name, path.format(patient=population.people[0].id)) for name, path in PAGES if name in pages]
        figures = _renders(url, population.nurse_password, chosen, renders)
        live = _alert_in_browser(url, population.nurse_password, population.trials) if trials else None
    return {
        "benchmark": "ui",
        "patients": patients,
        "open_alerts": alerts,
        "history_days": days,
        "history_readings": population.history_readings,
        "renders": renders,
        "pages": figures,
        "alert_in_browser": live,
        "setup_s": round(setup_s, 1),
        "cpus": os.cpu_count(),
    }
