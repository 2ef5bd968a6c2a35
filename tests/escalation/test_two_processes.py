"""Two real cloud processes (`tryggheim cloud serve`) on one database: 200 alerts climb a 3-step policy with
short policy minutes (TRYGGHEIM_ESCALATION_MINUTE_S, the injected clock of a real process), one process is
killed with SIGKILL mid-run, and a real SMTP server and a signature-checking HTTP receiver count what arrives.
An SSE client on process B sees an alert that process A opened."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cloud.access.roles import Role
from common.ports import free_port
from tests.escalation.conftest import SECRET, new_patient, open_alerts, set_endpoint, set_policy, three_steps
from tests.escalation.receivers import Inbox, WebhookServer, smtp_server, webhook_server
from tests.support.app import app_client
from tests.support.db import named_rows, rows
from tests.support.kits import batch, enrol_kit, reading
from tests.support.proc import TRYGGHEIM, env_with, wait_for_line
from tests.support.services import TestDatabase
from tests.support.services import test_database as fresh_database
from tests.support.tenants import Tenants, build_tenants

pytestmark = pytest.mark.slow
MINUTE_S = 3.0  # one policy minute lasts 3 s in these processes: steps fall due at +0, +3 and +6 s
ALERTS = 200
PATIENTS = 10
ACKED_PATIENTS = 2  # their 40 alerts are acknowledged at once: no e-mail or webhook may follow


@dataclass
class Cloud:
    """One `tryggheim cloud serve` process."""

    name: str
    url: str
    process: subprocess.Popen[str]


@dataclass
class Rig:
    a: Cloud
    b: Cloud
    smtp: Inbox
    hook: WebhookServer
    db: TestDatabase
    tenants: Tenants
    smtp_port: int

    def live_a(self) -> Cloud:
        """Process A, started again if an earlier test killed it."""
        if self.a.process.poll() is not None:
            self.a = _start("A", self.db, self.smtp_port)
        return self.a


def _start(name: str, db: TestDatabase, smtp_port: int, **extra: str) -> Cloud:
    env = env_with(
        TRYGGHEIM_DATABASE_URL=db.runtime_url, TRYGGHEIM_PORT=str(free_port()), TRYGGHEIM_LOG_LEVEL="ERROR",
        TRYGGHEIM_ESCALATION_MINUTE_S=str(MINUTE_S), TRYGGHEIM_ESCALATION_TICK_S="0.25",
        TRYGGHEIM_NOTIFY_BACKOFF_S="0.5", TRYGGHEIM_SMTP_HOST="127.0.0.1", TRYGGHEIM_SMTP_PORT=str(smtp_port),
        TRYGGHEIM_SMTP_FROM="varsel@kommune.test", TRYGGHEIM_PUBLIC_URL="https://tryggheim.test", **extra,
    )  # fmt: skip
    process = subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=env, stdout=subprocess.PIPE, text=True)
    return Cloud(name, wait_for_line(process, "http://", timeout=60), process)


@pytest.fixture(scope="module")
def rig(pg_admin_url: str) -> Iterator[Rig]:
    """Two processes on their own database, with the receivers and municipality A's 3-step policy."""
    with fresh_database(pg_admin_url) as db, smtp_server() as (smtp_port, inbox), webhook_server(SECRET) as hook:
        tenants = build_tenants(db.runtime_url)
        town = tenants.a.municipality_id
        set_policy(db.runtime_url, town, three_steps(email_after=1, webhook_after=2))
        set_endpoint(db.runtime_url, town, "team_lead", "email", "leder@kommune.test", None)
        set_endpoint(db.runtime_url, town, "response_centre", "webhook", f"{hook.url}/ok", SECRET)
        # B evaluates nothing, so an alert that opens is opened by A; both run the escalation engine.
        a = _start("A", db, smtp_port)
        b = _start("B", db, smtp_port, TRYGGHEIM_EVALUATION="false")
        built = Rig(a, b, inbox, hook, db, tenants, smtp_port)
        try:
            yield built
        finally:
            for cloud in (built.a, built.b):
                if cloud.process.poll() is None:
                    cloud.process.terminate()
                    cloud.process.wait(30)


def test_two_cloud_processes_share_one_database(rig: Rig) -> None:
    """One test, so both phases share the two processes (pytest-xdist's loadgroup does not keep tests of a
    group on one worker in the version locked here, and starting the processes twice costs a minute)."""
    sse_client_on_b_sees_an_alert_opened_by_a(rig)
    escalates_200_alerts_with_one_process_killed(rig)


def sse_client_on_b_sees_an_alert_opened_by_a(rig: Rig) -> None:
    """An SSE client connected to process B sees an alert that process A opened."""
    url, tenants, a = rig.db.runtime_url, rig.tenants, rig.live_a()
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    with app_client(url, evaluation=False, escalation=False) as client:
        kit = enrol_kit(client, url, tenants.a.municipality_id, patient)
    seen: list[tuple[str, dict[str, Any]]] = []
    other: list[str] = []
    ready = threading.Barrier(3, timeout=30)
    streams: list[httpx.Response] = []

    def listen(token_headers: dict[str, str], into: list[Any], keep_data: bool) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the outsider's stream ends when the processes stop
            _read(token_headers, into, keep_data)

    def _read(token_headers: dict[str, str], into: list[Any], keep_data: bool) -> None:
        with httpx.stream("GET", f"{rig.b.url}/api/v1/worklist/events", headers=token_headers, timeout=30) as stream:
            streams.append(stream)
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "ready":
                    ready.wait()
                elif line.startswith("data: "):
                    into.append((event, json.loads(line[6:])) if keep_data else event)
                    if keep_data and event == "opened":
                        return

    nurse = threading.Thread(target=listen, args=(tenants.a.auth(Role.NURSE), seen, True), daemon=True)
    outsider = threading.Thread(target=listen, args=(tenants.b.auth(Role.NURSE), other, False), daemon=True)
    nurse.start()
    outsider.start()
    ready.wait()
    sent = time.monotonic()
    press = reading(1, kit.button, metric="alarm.button", value=1, unit="1")
    answer = httpx.post(f"{a.url}/api/v1/ingest", json=batch(kit, [press]), headers=kit.auth, timeout=30)
    assert answer.status_code == 200 and answer.json()["stored"] == 1
    nurse.join(15)
    latency = time.monotonic() - sent
    opened = [data for event, data in seen if event == "opened"]
    assert opened, f"no 'opened' event on B within {latency:.1f} s: {seen}"
    assert opened[0]["patient_id"] == str(patient) and opened[0]["rule"] == "wf.alarm_button"
    assert "display_name" not in opened[0]
    print(f"\nSSE: alarm press on A -> 'opened' on B in {latency * 1000:.0f} ms")
    # The other municipality's nurse, on the same process, was told nothing about this patient.
    time.sleep(0.5)
    for stream in streams:
        stream.close()
    outsider.join(5)
    assert other == []


def _wait_until_done(url: str, acked: set[int], ids: list[int], timeout: float) -> None:
    """Until every unacknowledged alert has its three steps sent and nothing is left pending."""
    deadline = time.monotonic() + timeout
    chained = [a for a in ids if a not in acked]
    expected = 3 * len(chained)
    while time.monotonic() < deadline:
        sent = rows(url, "SELECT count(*) FROM notifications WHERE alert_id = ANY(%s) AND status = 'sent'", chained)
        pending = rows(url, "SELECT count(*) FROM notifications WHERE alert_id = ANY(%s) AND status = 'pending'", ids)
        if sent[0][0] == expected and pending[0][0] == 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"{sent[0][0]} of {expected} sent, {pending[0][0]} pending after {timeout} s")


@dataclass
class Run:
    """The alerts of a run and when things happened to them."""

    ids: list[int]
    acked: set[int]
    ack_done_s: float
    opened_all: float
    killed_at: float


def escalates_200_alerts_with_one_process_killed(rig: Rig) -> None:
    """200 alerts, a 3-step policy, both processes stepping and delivering, A killed with SIGKILL mid-run."""
    run = _open_acknowledge_and_kill(rig)
    url = rig.db.runtime_url
    _wait_until_done(url, run.acked, run.ids, timeout=90)
    found = named_rows(url, "SELECT n.alert_id, n.step, n.channel, n.status, n.idempotency_key::text AS key, "
                       "n.due_at, n.sent_at, n.created_at, n.sent_by, a.acknowledged_at FROM notifications n "
                       "JOIN alerts a ON a.id = n.alert_id WHERE n.alert_id = ANY(%s) ORDER BY n.alert_id, n.step",
                       run.ids)  # fmt: skip
    steps: dict[int, list[dict[str, Any]]] = {}
    for row in found:
        steps.setdefault(row["alert_id"], []).append(row)
    _assert_one_record_per_step_in_order(url, run, steps)
    _assert_each_step_delivered_once(url, rig, run, found, steps)
    # Both processes did work, and the one left standing finished what the killed one had not.
    workers = {r["sent_by"] for r in found if r["sent_by"] is not None}
    assert len(workers) == 2, workers
    after_kill = {
        r["sent_by"] for r in found if r["sent_at"] is not None and r["sent_at"].timestamp() > run.killed_at + 1
    }
    assert after_kill and {w.rpartition(":")[2] for w in after_kill} == {str(rig.b.process.pid)}, after_kill
    _report(url, rig, run, found)


def _open_acknowledge_and_kill(rig: Rig) -> Run:
    """Open the alerts (those to acknowledge first, acknowledged at once through process B's API), then kill
    process A with SIGKILL while e-mails are being sent and before any webhook step is due."""
    url, tenants = rig.db.runtime_url, rig.tenants
    rig.live_a()
    patients = [new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"]) for _ in range(PATIENTS)]
    start = time.time()
    per = ALERTS // PATIENTS
    by_patient = [open_alerts(url, p, per, prefix=f"run{i}-") for i, p in enumerate(patients[:ACKED_PATIENTS])]
    acked = {a for group in by_patient for a in group}
    nurse = tenants.a.auth(Role.NURSE)
    with httpx.Client(base_url=rig.b.url, headers=nurse, timeout=30) as api:
        for alert in sorted(acked):
            assert api.post(f"/api/v1/alerts/{alert}/acknowledge").status_code == 200
    ack_done = time.time() - start
    by_patient += [open_alerts(url, p, per, prefix=f"run{i}-") for i, p in enumerate(patients[ACKED_PATIENTS:])]
    opened_all = time.time()
    time.sleep(1.2 * MINUTE_S)
    os.kill(rig.a.process.pid, signal.SIGKILL)
    killed_at = time.time()
    rig.a.process.wait(10)
    return Run([a for group in by_patient for a in group], acked, ack_done, opened_all, killed_at)


def _assert_one_record_per_step_in_order(url: str, run: Run, steps: dict[int, list[dict[str, Any]]]) -> None:
    """Exactly one record per (alert, step): three for every unacknowledged alert, one for every acknowledged;
    every chain in order by recorded due and sent times."""
    opened = {r["id"]: r["opened_at"] for r in named_rows(url, "SELECT id, opened_at FROM alerts WHERE id = ANY(%s)",
                                                          run.ids)}  # fmt: skip
    for alert in run.ids:
        numbers = [r["step"] for r in steps.get(alert, [])]
        # A step written before the acknowledgement but not yet delivered is cancelled, not sent.
        assert all(r["status"] == "sent" or (alert in run.acked and r["step"] > 0 and r["status"] == "cancelled")
                   for r in steps[alert])  # fmt: skip
        if alert not in run.acked:
            assert numbers == [0, 1, 2], (alert, numbers)
            continue
        # Steps stop at acknowledge: a step falls due one policy minute after opening; acknowledged before
        # that, the alert has its worklist step only, and nothing is ever written after the acknowledgement.
        acknowledged_at = steps[alert][0]["acknowledged_at"]
        assert all(r["created_at"] <= acknowledged_at for r in steps[alert]), alert
        if (acknowledged_at - opened[alert]).total_seconds() < MINUTE_S:
            assert numbers == [0], (alert, numbers)
        else:
            assert numbers == list(range(len(numbers))), (alert, numbers)
    for alert in set(run.ids) - run.acked:
        chain = steps[alert]
        assert chain[0]["due_at"] < chain[1]["due_at"] < chain[2]["due_at"], alert
        assert chain[0]["sent_at"] <= chain[1]["sent_at"] <= chain[2]["sent_at"], alert


def _assert_each_step_delivered_once(
    url: str, rig: Rig, run: Run, found: list[dict[str, Any]], steps: dict[int, list[dict[str, Any]]]
) -> None:
    """The receivers saw every step once: distinct idempotency keys equal the records, none unknown, and each
    alert's e-mail arrived before its webhook."""
    emails = {r["key"] for r in found if r["channel"] == "email" and r["status"] == "sent"}
    hooks = {r["key"] for r in found if r["channel"] == "webhook" and r["status"] == "sent"}
    sent_at_step = {step: {r["alert_id"] for r in found if r["step"] == step and r["status"] == "sent"}
                    for step in (1, 2)}  # fmt: skip
    assert len(emails) == len(sent_at_step[1]) and len(hooks) == len(sent_at_step[2]) >= ALERTS - len(run.acked)
    assert rig.smtp.keys() >= emails and rig.hook.inbox.keys() >= hooks
    webhooks = named_rows(url, "SELECT idempotency_key::text AS key FROM notifications WHERE channel = 'webhook'")
    assert rig.hook.inbox.keys() <= {r["key"] for r in webhooks} and rig.hook.inbox.rejected == 0
    first_arrival: dict[str, float] = {}
    for item in [*rig.smtp.items, *rig.hook.inbox.items]:
        first_arrival.setdefault(item.key, item.at)
    for alert in set(run.ids) - run.acked:
        assert first_arrival[steps[alert][1]["key"]] <= first_arrival[steps[alert][2]["key"]], alert


def _report(url: str, rig: Rig, run: Run, found: list[dict[str, Any]]) -> None:
    """Print lateness per channel, the retried failures and duplicate deliveries (for the benchmark notes)."""
    duplicates = {
        "email": len(rig.smtp.items) - len(rig.smtp.keys()),
        "webhook": len(rig.hook.inbox.items) - len(rig.hook.inbox.keys()),
    }
    late = {channel: sorted((r["sent_at"] - r["due_at"]).total_seconds() for r in found
                            if r["channel"] == channel and r["sent_at"])
            for channel in ("in_app", "email", "webhook")}  # fmt: skip
    summary = {
        channel: {"p50_s": round(statistics.median(v), 3), "p95_s": round(v[int(len(v) * 0.95) - 1], 3),
                  "max_s": round(v[-1], 3), "n": len(v)}
        for channel, v in late.items()
    }  # fmt: skip
    print(f"\nlateness (sent - due), a process SIGKILLed {run.killed_at - run.opened_all:.1f} s after the last open: "
          f"{summary}")  # fmt: skip
    failures = rows(url, "SELECT left(detail, 80), count(*) FROM notification_attempts WHERE NOT ok GROUP BY 1")
    print(f"failed attempts (retried): {failures}")
    print(f"acknowledged {len(run.acked)} alerts in {run.ack_done_s:.1f} s; duplicate deliveries (same key): "
          f"{duplicates}")  # fmt: skip
