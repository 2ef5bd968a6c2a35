"""Alarm latency: a safety-alarm press from the gateway's ingest POST to its arrival at a real webhook receiver
(the response centre) and a real SMTP server (the team lead), with two real `tryggheim cloud serve` processes
and their workers on one database, as in production.

The municipality's alarm policy sends the webhook at once (step 0) and the e-mail a moment later (0.001 policy
minutes: a step due between ticks, which must not wait for the next tick). Patients with an alarm button each
press once per round, `SPACING_S` apart; when every message of the round has arrived (or `ARRIVAL_TIMEOUT_S`
has passed: those events count as `lost`) their alerts are resolved as a person would, and the next round
presses again. Latency is arrival time minus the moment the POST began, both on this machine's clock.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from psycopg.rows import dict_row

from alerts.escalation.load import default_policies
from cloud.alert_store import store
from cloud.alert_store.records import Actor
from cloud.db.pool import connect
from cloud.escalation import configuration
from tryggheim.bench._receivers import Arrivals, smtp_receiver, webhook_receiver
from tryggheim.bench.ingest import cloud_service
from tryggheim.bench.ui_population import Person, _people

SPACING_S = float(os.environ.get("TRYGGHEIM_BENCH_ALARM_SPACING_S", "0.02"))
ARRIVAL_TIMEOUT_S = 20.0
SECRET = secrets.token_urlsafe(24)
ALARM_RULE = "wf.alarm_button"
STEPS = [{"after_minutes": 0, "channel": "webhook", "target": "response_centre"},
         {"after_minutes": 0.001, "channel": "email", "target": "team_lead"},
         {"after_minutes": 0.002, "channel": "in_app", "target": "care_team"}]  # fmt: skip


def _policy() -> dict[str, Any]:
    """The shipped document with the alarm chain replaced by the benchmark's."""
    document = default_policies().model_dump(mode="json", exclude_none=True)
    for policy in document["policies"]:
        if "alarm" in policy["classes"]:
            policy |= {"steps": STEPS}
            policy.pop("renotify", None)
    return document


async def _configure(runtime_url: str, webhook_url: str) -> None:
    async with await connect(runtime_url) as conn:
        town = await (await conn.execute("SELECT id FROM municipalities LIMIT 1")).fetchone()
        staff = await (await conn.execute("SELECT id FROM staff LIMIT 1")).fetchone()
        assert town is not None and staff is not None
        await configuration.set_policy(conn, town[0], _policy(), staff[0])
        await configuration.set_endpoint(conn, town[0], target="response_centre", channel="webhook",
                                         address=webhook_url, secret=SECRET)  # fmt: skip
        await configuration.set_endpoint(conn, town[0], target="team_lead", channel="email",
                                         address="leder@kommune.test")  # fmt: skip


async def _keys(runtime_url: str) -> dict[str, tuple[str, UUID, float]]:
    """Idempotency key -> (channel, patient, when the step wrote it) of the open alarm alerts' messages."""
    async with await connect(runtime_url) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT n.idempotency_key::text AS key, n.channel, a.patient_id, "
            "extract(epoch FROM n.created_at)::float8 AS written FROM notifications n "
            "JOIN alerts a ON a.id = n.alert_id WHERE a.rule = %s AND a.resolved_at IS NULL "
            "AND n.channel IN ('webhook', 'email')",
            (ALARM_RULE,),
        )
        return {r["key"]: (r["channel"], r["patient_id"], r["written"]) for r in await cur.fetchall()}


async def _resolve_open(runtime_url: str) -> None:
    async with await connect(runtime_url) as conn:
        ids = await (await conn.execute("SELECT id FROM alerts WHERE resolved_at IS NULL AND rule = %s",
                                        (ALARM_RULE,))).fetchall()  # fmt: skip
        staff = await (await conn.execute("SELECT id FROM staff LIMIT 1")).fetchone()
        assert staff is not None
        actor = Actor(staff[0])  # the benchmark's nurse closes each round's alarms
        for (alert_id,) in ids:
            async with conn.transaction():
                await store.resolve(conn, alert_id, actor, "benchmark round done")


def _round(runtime_url: str, client: httpx.Client, people: list[Person], inbox: dict[str, Arrivals],
           latencies: dict[str, list[float]]) -> int:  # fmt: skip
    """One press per person; wait for both messages of each; returns the events with a message missing."""
    pressed: dict[UUID, float] = {}
    for person in people:
        pressed[person.id] = time.time()
        person.send(client, [("button", "alarm.button", 1.0, "1", datetime.now(UTC))])
        time.sleep(SPACING_S)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    keys: dict[str, tuple[str, UUID, float]] = {}
    while time.monotonic() < deadline:
        keys = asyncio.run(_keys(runtime_url))
        if len(keys) == 2 * len(people) and all(k in inbox[c].first for k, (c, _, _) in keys.items()):
            break
        time.sleep(0.05)
    arrived: dict[UUID, int] = dict.fromkeys(pressed, 0)
    for key, (channel, patient, written) in keys.items():
        got = inbox[channel].first.get(key)
        if got is not None:
            latencies[channel].append(got - pressed[patient])
            latencies[f"{channel}_written"].append(written - pressed[patient])
            arrived[patient] += 1
    asyncio.run(_resolve_open(runtime_url))
    return sum(1 for n in arrived.values() if n < 2)


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 1)


@contextmanager
def _service(admin_url: str | None, tick_s: float) -> Iterator[tuple[str, str, str, dict[str, Arrivals]]]:
    with ExitStack() as stack:
        hook_url, hook = stack.enter_context(webhook_receiver(SECRET))
        smtp_port, mail = stack.enter_context(smtp_receiver())
        runtime_url, urls = stack.enter_context(cloud_service(
            admin_url, 2, TRYGGHEIM_SMTP_HOST="127.0.0.1", TRYGGHEIM_SMTP_PORT=str(smtp_port),
            TRYGGHEIM_ESCALATION_TICK_S=str(tick_s),
        ))  # fmt: skip
        yield runtime_url, urls[0], hook_url, {"webhook": hook, "email": mail}


def run(admin_url: str | None, *, events: int, patients: int, tick_s: float = 5.0) -> dict[str, Any]:
    """Set everything up, press `events` times over `patients`, clean up; returns the JSON-able result."""
    with _service(admin_url, tick_s) as (runtime_url, url, hook_url, inbox):
        people = asyncio.run(_people(runtime_url, url, patients, secrets.token_urlsafe(12)))
        asyncio.run(_configure(runtime_url, hook_url))
        latencies: dict[str, list[float]] = defaultdict(list)
        lost, done = 0, 0
        with httpx.Client(base_url=url, timeout=30) as client:
            while done < events:
                group = people[: events - done]
                lost += _round(runtime_url, client, group, inbox, latencies)
                done += len(group)
    return {
        "benchmark": "alarm", "events": done, "lost": lost,
        "alarm_webhook_p50_ms": _ms(latencies["webhook"], 0.5), "alarm_webhook_p99_ms": _ms(latencies["webhook"], 0.99),
        "alarm_email_p50_ms": _ms(latencies["email"], 0.5), "alarm_email_p99_ms": _ms(latencies["email"], 0.99),
        # Press -> the step's notification row written (the rest is the outbox's delivery).
        "webhook_written_p50_ms": _ms(latencies["webhook_written"], 0.5),
        "webhook_written_p99_ms": _ms(latencies["webhook_written"], 0.99),
        "tick_s": tick_s, "processes": 2, "cpus": os.cpu_count(),
    }  # fmt: skip
