"""`tryggheim demo --exit-when-ready`: wait for the story's milestones, print the time each took from the demo's
start as one machine-readable line (`milestone first_alert 12.3 s`), then stop the demo.

The milestones: the first alert, the first escalation e-mail and SMS, a worklist with at least two patients with
alerts, and one alert journaled to the VKP stand-in after the nurse resolved it through the service's own API (the
same calls the pages make: sign in, post the outcome, read the journal state).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg

from tryggheim.demo import console

ORDER = ("first_alert", "first_email", "first_sms", "worklist", "journaled")
NURSE = "demo.sykepleier"
POLL_S = 0.5
WORKLIST_PATIENTS = 2  # a populated worklist: at least this many patients with open alerts
_SUMMARY_RULES: tuple[str, ...] = ()  # every rule of the story journals (an episode as a summary)
_JOURNALED_CLASSES = frozenset({"clinical", "alarm"})


@dataclass
class Milestones:
    """The times (seconds from `started`) each milestone was reached; thread-safe."""

    started: float
    reached: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reach(self, name: str) -> None:
        """Record `name` the first time it happens."""
        with self.lock:
            self.reached.setdefault(name, time.monotonic() - self.started)

    def missing(self) -> list[str]:
        """The milestones not reached yet, in the story's order."""
        with self.lock:
            return [name for name in ORDER if name not in self.reached]

    def lines(self) -> list[str]:
        """One `milestone <name> <seconds> s` line for each reached milestone, in the story's order."""
        with self.lock:
            return [f"milestone {name} {self.reached[name]:.1f} s" for name in ORDER if name in self.reached]


def _alerts_opened(runtime_url: str) -> bool:
    with psycopg.connect(runtime_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM alerts").fetchone()
    return row is not None and int(row[0]) > 0


def _signed_in(base_url: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=15)
    answer = client.post("/auth/login", json={"username": NURSE, "password": password})
    answer.raise_for_status()
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


def _worklist_alert(nurse: httpx.Client) -> int | None:
    """An alert to resolve once the nurse's worklist is populated (None until then)."""
    patients = nurse.get("/api/v1/worklist").json()["patients"]
    with_alerts = [p for p in patients if p["alerts"]]
    if len(with_alerts) < WORKLIST_PATIENTS:
        return None
    # Kari's last: the guided tour has the person acknowledge her alert.
    ordered = sorted(with_alerts, key=lambda p: p["display_name"].startswith("Kari"))
    candidates = [
        a for p in ordered for a in p["alerts"]
        if a["alert_class"] in _JOURNALED_CLASSES and not a["rule"].startswith(_SUMMARY_RULES)
    ]  # fmt: skip
    return int(candidates[0]["id"]) if candidates else None


def _resolve(nurse: httpx.Client, alert_id: int) -> None:
    """The nurse closes the alert after a call, as the alert page's buttons do."""
    body = {"outcome": "resolved_by_phone", "note": "Ringte pasienten, avklart (demo)"}
    nurse.post(f"/api/v1/alerts/{alert_id}/outcomes", json=body).raise_for_status()


def _journaled(nurse: httpx.Client, alert_id: int) -> bool:
    return bool(nurse.get(f"/api/v1/alerts/{alert_id}/journal").json()["state"] == "journaled")


def watch(
    milestones: Milestones, base_url: str, runtime_url: str, password: str, sms_count: Callable[[], int],
    timeout_s: float, outcome: list[int],
) -> None:  # fmt: skip
    """Poll until every milestone is reached or `timeout_s` from the start passes; print the lines, put the exit
    status in `outcome` (0, or 1 naming what is missing), and stop the demo as Ctrl-C would."""
    resolved: int | None = None
    nurse: httpx.Client | None = None
    while milestones.missing() and time.monotonic() - milestones.started < timeout_s:
        try:
            if _alerts_opened(runtime_url):
                milestones.reach("first_alert")
            if sms_count() > 0:
                milestones.reach("first_sms")
            nurse = nurse or _signed_in(base_url, password)
            if resolved is None and (resolved := _worklist_alert(nurse)) is not None:
                milestones.reach("first_alert")  # listed alerts were opened, if the count was not seen yet
                milestones.reach("worklist")
                _resolve(nurse, resolved)
            if resolved is not None and _journaled(nurse, resolved):
                milestones.reach("journaled")
        except (httpx.HTTPError, psycopg.Error, KeyError):  # the service is still starting: the next poll tries again
            pass
        time.sleep(POLL_S)
    if nurse is not None:
        nurse.close()
    for line in milestones.lines():
        console.say(line)
    missing = milestones.missing()
    for name in missing:
        console.say(f"milestone {name} missing")
    outcome.append(1 if missing else 0)
    os.kill(os.getpid(), signal.SIGINT)
