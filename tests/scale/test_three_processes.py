"""Scale-out: three real `tryggheim cloud serve` processes on one database, several gateways' uploads spread
over them (weights, and alarm presses that open alerts and escalate with a one-second policy minute), and one
process SIGKILLed under load. Each gateway behaves as the edge agent does: one upload at a time, the same batch
again (to the next process) until a reply lists it as committed.

What must hold: every reading any process acknowledged is in `observations` exactly once; each patient's
presses make one alert, triggered once, with each escalation step recorded once and delivered (a press after
the chain has run out is a new call: round 2, steps 100 and 101, each once too; alerts.escalation.chain); no queued
evaluation is left behind; the two survivors keep serving."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from common.ports import free_port
from tests.escalation.conftest import SECRET, new_patient, set_endpoint, set_policy
from tests.escalation.receivers import WebhookServer, webhook_server
from tests.support.app import app_client
from tests.support.db import named_rows, rows
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.proc import TRYGGHEIM, env_with, wait_for_line
from tests.support.services import TestDatabase
from tests.support.services import test_database as fresh_database
from tests.support.tenants import build_tenants

pytestmark = pytest.mark.slow
GATEWAYS = 8
ROUNDS = 40  # uploads per gateway
PRESS_ROUNDS = (4, 24)  # each gateway's patient presses the alarm button in these uploads
KILL_AFTER = GATEWAYS * ROUNDS // 3  # acknowledged uploads before process C is killed
TWO_STEPS = {
    "policies": [
        {"name": "alarm", "classes": ["alarm", "clinical", "liveness", "data_quality"],
         "steps": [{"after_minutes": 0, "channel": "in_app", "target": "care_team"},
                   {"after_minutes": 1, "channel": "webhook", "target": "response_centre"}]},
        {"name": "internal", "classes": ["internal"],
         "steps": [{"after_minutes": 0, "channel": "in_app", "target": "care_team"}]},
    ]
}  # fmt: skip


@dataclass
class Cloud:
    """One `tryggheim cloud serve` process."""

    url: str
    process: subprocess.Popen[str]


@dataclass
class Rig:
    db: TestDatabase
    clouds: list[Cloud]
    kits: list[Kit]
    hook: WebhookServer


@dataclass
class Load:
    """What the gateways sent and what the processes acknowledged, per gateway."""

    sent: dict[int, set[int]] = field(default_factory=dict)
    acked: dict[int, set[int]] = field(default_factory=dict)
    uploads: int = 0
    refused_by_dead: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[str] = field(default_factory=list)


def _start(db: TestDatabase) -> subprocess.Popen[str]:
    env = env_with(
        TRYGGHEIM_DATABASE_URL=db.runtime_url, TRYGGHEIM_PORT=str(free_port()), TRYGGHEIM_LOG_LEVEL="ERROR",
        TRYGGHEIM_ESCALATION_MINUTE_S="1", TRYGGHEIM_ESCALATION_TICK_S="0.25", TRYGGHEIM_NOTIFY_BACKOFF_S="0.5",
        TRYGGHEIM_DB_POOL_MAX="6", TRYGGHEIM_PUBLIC_URL="https://tryggheim.test",
    )  # fmt: skip
    return subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=env, stdout=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def rig(pg_admin_url: str) -> Iterator[Rig]:
    """The database with one municipality's policy and webhook, the gateways enrolled, three processes."""
    with fresh_database(pg_admin_url) as db, webhook_server(SECRET) as hook:
        tenants = build_tenants(db.runtime_url)
        town, team = tenants.a.municipality_id, tenants.a.teams["Nord"]
        set_policy(db.runtime_url, town, TWO_STEPS)
        set_endpoint(db.runtime_url, town, "response_centre", "webhook", f"{hook.url}/ok", SECRET)
        processes = [_start(db) for _ in range(3)]  # they start while the kits are enrolled
        try:
            with app_client(db.runtime_url, evaluation=False, escalation=False) as client:
                kits = [enrol_kit(client, db.runtime_url, town, new_patient(db.runtime_url, town, team, f"P{g}"))
                        for g in range(GATEWAYS)]  # fmt: skip
            clouds = [Cloud(wait_for_line(p, "http://", timeout=60), p) for p in processes]
            yield Rig(db, clouds, kits, hook)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(30)


def _upload(
    http: httpx.Client, rig: Rig, load: Load, g: int, body: dict[str, Any], first: int, deadline: float
) -> None:
    """Send one batch until a process lists it as committed, moving to the next process on a dead
    connection, as the gateway's uplink does."""
    kit = rig.kits[g]
    attempt = first
    while time.monotonic() < deadline:
        cloud = rig.clouds[attempt % len(rig.clouds)]
        attempt += 1
        try:
            answer = http.post(f"{cloud.url}/api/v1/ingest", json=body, headers=kit.auth)
        except httpx.TransportError:
            with load.lock:
                load.refused_by_dead += 1
            continue
        if answer.status_code in {429, 503}:
            time.sleep(0.1)
            continue
        if answer.status_code != 200:
            raise AssertionError(f"{cloud.url}: {answer.status_code} {answer.text}")
        with load.lock:
            load.acked[g].update(answer.json()["committed"])
            load.uploads += 1
        return
    raise AssertionError(f"gateway {g}: batch not committed by any process in time")


def _gateway(rig: Rig, load: Load, g: int, deadline: float) -> None:
    kit, seq = rig.kits[g], 0
    try:
        with httpx.Client(timeout=15) as http:  # kept-alive connections, one per process, as an uplink keeps
            for r in range(ROUNDS):
                readings = []
                for _ in range(1 + (g + r) % 10):
                    seq += 1
                    readings.append(reading(seq, kit.scale, value=70 + seq % 30))
                if r in PRESS_ROUNDS:
                    seq += 1
                    readings.append(reading(seq, kit.button, metric="alarm.button", value=1, unit="1"))
                load.sent[g].update(range(seq - len(readings) + 1, seq + 1))
                _upload(http, rig, load, g, batch(kit, readings), g + r, deadline)
    except AssertionError as exc:
        load.errors.append(str(exc))


def _drive_and_kill(rig: Rig) -> tuple[Load, float]:
    """All gateways upload concurrently; process C is SIGKILLed once a third of the uploads are acknowledged."""
    load = Load(sent={g: set() for g in range(GATEWAYS)}, acked={g: set() for g in range(GATEWAYS)})
    deadline = time.monotonic() + 60
    threads = [threading.Thread(target=_gateway, args=(rig, load, g, deadline)) for g in range(GATEWAYS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while load.uploads < KILL_AFTER and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    os.kill(rig.clouds[2].process.pid, signal.SIGKILL)
    at_kill = load.uploads
    rig.clouds[2].process.wait(10)
    for thread in threads:
        thread.join(70)
    assert not load.errors, load.errors
    assert at_kill < GATEWAYS * ROUNDS - GATEWAYS, f"the load was over before the kill ({at_kill} uploads)"
    return load, time.monotonic() - started


def _settled(rig: Rig, timeout: float) -> list[dict[str, Any]]:
    """Wait until no evaluation is queued and every alarm alert's chain has nothing more due and every step it
    wrote is sent; the alarm alerts."""
    url, deadline = rig.db.runtime_url, time.monotonic() + timeout
    while True:
        alerts = named_rows(url, "SELECT a.id, a.patient_id, a.next_due_at IS NULL AS quiet, count(n.*) AS written, "
                            "count(n.*) FILTER (WHERE n.status = 'sent') AS sent "
                            "FROM alerts a LEFT JOIN notifications n ON n.alert_id = a.id "
                            "WHERE a.rule = 'wf.alarm_button' GROUP BY a.id")  # fmt: skip
        queued = rows(url, "SELECT count(*) FROM pending_evaluations")[0][0]
        done = (
            queued == 0
            and len(alerts) >= GATEWAYS
            and all(a["quiet"] and a["sent"] == a["written"] >= 2 for a in alerts)
        )
        if done or time.monotonic() > deadline:
            return alerts
        time.sleep(0.25)


def test_three_processes_one_killed_under_load(rig: Rig) -> None:
    """One test: the three processes are started once (each start costs seconds)."""
    load, wall = _drive_and_kill(rig)
    url = rig.db.runtime_url
    print(f"\n{load.uploads} uploads in {wall:.1f} s over 3 processes, one SIGKILLed; "
          f"{load.refused_by_dead} attempts met a dead process and went to the next")  # fmt: skip

    # Every acknowledged reading is stored exactly once (and, the gateways having retried, every reading sent).
    stored = named_rows(url, "SELECT gateway_id, seq, count(*) AS n FROM observations GROUP BY gateway_id, seq")
    by_gateway = {(r["gateway_id"], r["seq"]): r["n"] for r in stored}
    for g, kit in enumerate(rig.kits):
        assert load.acked[g] == load.sent[g], g
        assert {seq: by_gateway.get((kit.gateway_id, seq)) for seq in load.acked[g]} == dict.fromkeys(load.acked[g], 1)
    assert sum(by_gateway.values()) == sum(len(s) for s in load.sent.values())

    # Detection and escalation exactly once: one alert per patient for both presses, triggered once, steps
    # 0 and 1 recorded once each and sent, the webhook step received by the response centre; the second press,
    # when it came after the chain had run out (one-second minute), is round 2 with steps 100 and 101 once each.
    alerts = _settled(rig, timeout=30)
    patients = {kit.patient_id for kit in rig.kits}
    assert sorted(a["patient_id"] for a in alerts) == sorted(patients), alerts
    ids = [a["id"] for a in alerts]
    triggered = rows(url, "SELECT alert_id, count(*) FROM alert_transitions WHERE alert_id = ANY(%s) "
                     "AND event = 'triggered' GROUP BY alert_id", ids)  # fmt: skip
    assert sorted(n for _, n in triggered) == [1] * GATEWAYS, triggered
    repeated = rows(url, "SELECT count(*) FROM alert_transitions WHERE alert_id = ANY(%s) AND event = 'repeated'", ids)
    assert repeated[0][0] <= GATEWAYS * (len(PRESS_ROUNDS) - 1), repeated
    steps = named_rows(url, "SELECT alert_id, array_agg(step ORDER BY step) AS steps, "
                       "array_agg(idempotency_key::text) FILTER (WHERE channel = 'webhook') AS hooks, "
                       "bool_and(status = 'sent') AS sent FROM notifications WHERE alert_id = ANY(%s) "
                       "GROUP BY alert_id", ids)  # fmt: skip
    assert len(steps) == GATEWAYS and all(s["steps"] in ([0, 1], [0, 1, 100, 101]) and s["sent"] for s in steps), steps
    assert {key for s in steps for key in s["hooks"]} <= rig.hook.inbox.keys()
    assert rows(url, "SELECT count(*) FROM pending_evaluations")[0][0] == 0

    # The survivors keep serving.
    for cloud, kit in zip(rig.clouds[:2], rig.kits, strict=False):
        assert cloud.process.poll() is None
        assert httpx.get(f"{cloud.url}/healthz", timeout=10).status_code == 200
        after = batch(kit, [reading(10_000 + rig.clouds.index(cloud), kit.scale)])
        answer = httpx.post(f"{cloud.url}/api/v1/ingest", json=after, headers=kit.auth, timeout=10)
        assert answer.status_code == 200 and answer.json()["stored"] == 1
