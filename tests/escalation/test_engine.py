"""The engine against the real database with an injected clock: steps in order and once each, stop at
acknowledge, reminders after the ack timeout, snooze holds, retries, back-off and dead-letter. The e-mails go
to a real SMTP server (aiosmtpd), the webhooks to a real HTTP server that verifies signatures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import connect, make_pool
from cloud.escalation import engine
from cloud.escalation.outbox import OutboxSettings, deliver_next
from cloud.escalation.policies import alarm_repeated, severity_raised
from cloud.notify import Channel
from cloud.notify.email import EmailChannel, SmtpSettings
from cloud.notify.webhook import WebhookChannel
from tests.escalation.conftest import SECRET, new_patient, open_alerts, set_endpoint, set_policy, three_steps
from tests.escalation.receivers import Inbox, WebhookServer, smtp_server, webhook_server
from tests.support.app import app_client
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

MINUTE = 60.0


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    """The API without background workers: the tests run the engine with their own clock."""
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookServer]:
    with webhook_server(SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def wired(esc_db: TestDatabase, tenants: Tenants, smtp: tuple[int, Inbox], hook: WebhookServer) -> Tenants:
    url, town = esc_db.runtime_url, tenants.a.municipality_id
    set_policy(url, town, three_steps(ack_timeout=5))
    set_endpoint(url, town, "team_lead", "email", "leder@kommune.test", None)
    set_endpoint(url, town, "response_centre", "webhook", f"{hook.url}/ok", SECRET)
    return tenants


class Engine:
    """The engine and the outbox of one process, driven by the test's clock."""

    def __init__(self, url: str, smtp_port: int, max_attempts: int = 3, backoff_s: float = 10) -> None:
        self.url = url
        self.smtp_port = smtp_port
        self.outbox = OutboxSettings(max_attempts, backoff_s, "https://tryggheim.test", "test")

    def run(self, now: float) -> list[Any]:
        """Every step and delivery due at `now`; returns the actions taken."""

        async def go() -> list[Any]:
            pool = make_pool(self.url, min_size=1, max_size=2, timeout_s=5)
            await pool.open()
            async with httpx.AsyncClient(timeout=5) as http:
                channels: dict[str, Channel] = {
                    "email": EmailChannel(SmtpSettings("127.0.0.1", self.smtp_port, "varsel@kommune.test")),
                    "webhook": WebhookChannel(http),
                }
                done: list[Any] = []
                try:
                    while result := await engine.step_next(pool, now, MINUTE, "test"):
                        done.append(result)
                    while delivery := await deliver_next(pool, channels, now, self.outbox):
                        done.append(delivery)
                finally:
                    await pool.close()
                return done

        return asyncio.run(go())


def _whole_second() -> float:
    """Now, truncated to a whole second: exact as a float, so PostgreSQL's microsecond rounding of
    `to_timestamp` cannot move an alert's opening past the injected clock (a step due at opening must be due
    at t0)."""
    return float(int(time.time()))


def _steps(url: str, alert_id: int) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT step, kind, channel, status, idempotency_key::text, due_at, sent_at FROM notifications "
                "WHERE alert_id = %s ORDER BY step", alert_id)  # fmt: skip


class _Chain(NamedTuple):
    """One red alert of a Nord patient whose chain has taken its first step at `t0`, and the engine's clock."""

    url: str
    t0: float
    alert: int
    run: Callable[[float], list[Any]]


def _first_step_taken(esc_db: TestDatabase, wired: Tenants, smtp: tuple[int, Inbox], prefix: str) -> _Chain:
    url, t0 = esc_db.runtime_url, _whole_second()
    patient = new_patient(url, wired.a.municipality_id, wired.a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, opened_at=t0, prefix=prefix)
    run = Engine(url, smtp[0]).run
    run(t0)
    return _Chain(url, t0, alert, run)


def test_steps_run_in_order_once_each_with_private_messages(
    esc_db: TestDatabase, wired: Tenants, smtp: tuple[int, Inbox], hook: WebhookServer
) -> None:
    url, t0 = esc_db.runtime_url, _whole_second()
    name = "Kari Nordmann 01017012345"
    patient = new_patient(url, wired.a.municipality_id, wired.a.teams["Nord"], name=name)
    alerts = open_alerts(url, patient, 3, opened_at=t0, prefix="order")
    run = Engine(url, smtp[0]).run
    run(t0)
    assert [[s[:4] for s in _steps(url, a)] for a in alerts] == [[(0, "step", "in_app", "sent")]] * 3
    run(t0 + 30)  # nothing is due before the first wait has passed
    assert all(len(_steps(url, a)) == 1 for a in alerts)
    run(t0 + 61)
    run(t0 + 61)  # running the same moment again writes nothing twice
    run(t0 + 121)
    run(t0 + 10_000)  # the chain has ended: no step 3 without an ack timeout reminder
    mail_keys, hook_keys = smtp[1].keys(), hook.inbox.keys()
    for alert in alerts:
        steps = _steps(url, alert)
        assert [(s[0], s[2], s[3]) for s in steps] == [(0, "in_app", "sent"), (1, "email", "sent"),
                                                       (2, "webhook", "sent")]  # fmt: skip
        assert steps[1][4] in mail_keys and steps[2][4] in hook_keys
        assert steps[0][5] < steps[1][5] < steps[2][5] and steps[0][6] <= steps[1][6] <= steps[2][6]
    mine = [m for m in smtp[1].items if m.key in {_steps(url, a)[1][4] for a in alerts}]
    assert len(mine) == 3
    for mail in mine:
        assert "Kari" not in mail.body and "01017012345" not in mail.body and "Kari" not in str(mail.headers)
        assert "https://tryggheim.test/alerts/" in mail.body and mail.headers["Message-ID"].startswith(f"<{mail.key}@")
    posted = [json.loads(h.body) for h in hook.inbox.items if h.key in {_steps(url, a)[2][4] for a in alerts}]
    assert len(posted) == 3 and hook.inbox.rejected == 0
    assert {tuple(sorted(p)) for p in posted} == {("alert_id", "category", "id", "kind", "link", "severity", "step")}
    assert all(p["category"] == "clinical" and p["severity"] == "red" for p in posted)


def test_acknowledge_stops_the_steps_and_the_ack_timeout_reminds(
    esc_db: TestDatabase, wired: Tenants, client: TestClient, smtp: tuple[int, Inbox]
) -> None:
    url, t0, alert, run = _first_step_taken(esc_db, wired, smtp, "ack")
    answer = client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=wired.a.auth(Role.NURSE))
    assert answer.status_code == 200
    run(t0 + 61)
    run(t0 + 121)
    assert [s[0] for s in _steps(url, alert)] == [0]  # e-mail and webhook never fired
    acked = rows(url, "SELECT acknowledged_at FROM alerts WHERE id = %s", alert)[0][0].timestamp()
    run(acked + 5 * MINUTE - 1)
    assert [s[0] for s in _steps(url, alert)] == [0]
    run(acked + 5 * MINUTE + 1)  # acknowledged but not resolved within 5 min: the first reminder
    assert [(s[0], s[1], s[2]) for s in _steps(url, alert)] == [(0, "step", "in_app"), (3, "renotify", "in_app")]
    resolved = client.post(f"/api/v1/alerts/{alert}/resolve", json={"resolution": "done"},
                           headers=wired.a.auth(Role.NURSE))  # fmt: skip
    assert resolved.status_code == 200
    run(acked + 20 * MINUTE)
    assert len(_steps(url, alert)) == 2  # resolved: no more reminders


def test_snooze_holds_the_chain_until_it_ends(
    esc_db: TestDatabase, wired: Tenants, client: TestClient, smtp: tuple[int, Inbox]
) -> None:
    url, t0, alert, run = _first_step_taken(esc_db, wired, smtp, "snooze")
    answer = client.post(f"/api/v1/alerts/{alert}/snooze", json={"minutes": 10}, headers=wired.a.auth(Role.NURSE))
    assert answer.status_code == 200
    until = rows(url, "SELECT snoozed_until FROM alerts WHERE id = %s", alert)[0][0].timestamp()
    run(t0 + 5 * MINUTE)
    assert [s[0] for s in _steps(url, alert)] == [0]
    run(until + 1)
    assert [(s[0], s[3]) for s in _steps(url, alert)] == [(0, "sent"), (1, "sent"), (2, "sent")]
    due = {s[0]: s[5].timestamp() for s in _steps(url, alert)}
    assert due[1] == pytest.approx(t0 + MINUTE, abs=0.01)  # recorded due time is the policy's, not the snooze's


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered_and_shown(
    esc_db: TestDatabase, tenants: Tenants, client: TestClient, smtp: tuple[int, Inbox], hook: WebhookServer
) -> None:
    url, town, t0 = esc_db.runtime_url, tenants.b.municipality_id, _whole_second()
    set_policy(url, town, three_steps(email_after=0.5, webhook_after=1))
    set_endpoint(url, town, "team_lead", "email", "leder@b.test", None)
    set_endpoint(url, town, "response_centre", "webhook", f"{hook.url}/fail", SECRET)
    patient = new_patient(url, town, tenants.b.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, opened_at=t0, prefix="fail")
    eng = Engine(url, smtp[0], max_attempts=3, backoff_s=10)
    eng.run(t0 + 61)
    webhook = next(s for s in _steps(url, alert) if s[2] == "webhook")
    assert webhook[3] == "pending"
    eng.run(t0 + 61 + 5)  # back-off: 10 s after the first failure, nothing is retried at 5 s
    eng.run(t0 + 61 + 10)  # second attempt; the next waits 20 s
    eng.run(t0 + 61 + 29)
    assert len([f for f in hook.failed.items if f.key == webhook[4]]) == 2
    eng.run(t0 + 61 + 30)  # third attempt: dead
    assert len([f for f in hook.failed.items if f.key == webhook[4]]) == 3  # the same key on every retry
    lead = tenants.b.auth(Role.TEAM_LEAD)
    listed = client.get(f"/api/v1/alerts/{alert}/notifications", headers=lead).json()
    dead = next(n for n in listed if n["channel"] == "webhook")
    assert dead["status"] == "dead" and dead["attempts"] == 3 and "503" in dead["last_error"]
    assert [h["ok"] for h in dead["history"]] == [False, False, False]
    letters = client.get("/api/v1/notifications/dead", headers=tenants.b.auth(Role.MUNICIPALITY_ADMIN)).json()
    assert any(d["id"] == dead["id"] for d in letters)
    assert client.get("/api/v1/notifications/dead", headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN)).json() == []
    # The dead letter raised an internal alert in the patient's worklist (in-app only: it cannot fail again).
    worklist = client.get("/api/v1/worklist", headers=lead).json()
    group = next(g for g in worklist["patients"] if g["patient_id"] == str(patient))
    internal = next(a for a in group["alerts"] if a["rule"] == "notify.delivery_failed")
    assert internal["event_class"] == "internal" and internal["severity"] == "red"
    assert internal["explanation"]["notification_id"] == dead["id"]


def test_a_rise_to_red_follows_the_red_policy_from_then_on(
    esc_db: TestDatabase, wired: Tenants, smtp: tuple[int, Inbox]
) -> None:
    url, town, t0 = esc_db.runtime_url, wired.a.municipality_id, _whole_second()
    worklist = {"after_minutes": 0, "channel": "in_app", "target": "care_team"}
    mail = {"after_minutes": 1, "channel": "email", "target": "team_lead"}
    set_policy(url, town, {"policies": [
        {"name": "red", "classes": ["alarm", "clinical", "liveness", "data_quality"], "severities": ["red"],
         "steps": [worklist, mail]},
        {"name": "yellow", "classes": ["clinical", "liveness", "data_quality"], "severities": ["yellow"],
         "steps": [worklist, {**mail, "after_minutes": 600}]},
        {"name": "rest", "classes": ["alarm", "internal"], "steps": [worklist]},
    ]})  # fmt: skip
    patient = new_patient(url, town, wired.a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, severity="yellow", opened_at=t0, prefix="rise")
    run = Engine(url, smtp[0]).run
    run(t0 + 120)
    assert [s[0] for s in _steps(url, alert)] == [0]  # yellow: the e-mail waits ten hours

    async def raise_to_red() -> None:
        async with await connect(url) as conn, conn.transaction():
            await conn.execute("UPDATE alerts SET severity = 'red' WHERE id = %s", (alert,))
            await severity_raised(conn, alert, "clinical")

    asyncio.run(raise_to_red())
    run(t0 + 121)
    assert [(s[0], s[2], s[3]) for s in _steps(url, alert)] == [(0, "in_app", "sent"), (1, "email", "sent")]
    assert rows(url, "SELECT escalation->'policy'->>'name' FROM alerts WHERE id = %s", alert) == [("red",)]
    set_policy(url, town, three_steps(ack_timeout=5))


def test_a_pause_holds_a_clinical_chain_but_never_an_alarm(
    esc_db: TestDatabase, wired: Tenants, client: TestClient, smtp: tuple[int, Inbox]
) -> None:
    url, t0 = esc_db.runtime_url, _whole_second()
    patient = new_patient(url, wired.a.municipality_id, wired.a.teams["Nord"])
    answer = client.post(f"/api/v1/patients/{patient}/pause", json={"reason": "Innlagt på sykehus"},
                         headers=wired.a.auth(Role.NURSE))  # fmt: skip
    assert answer.status_code == 201
    (clinical,) = open_alerts(url, patient, 1, opened_at=t0, prefix="paused")
    with psycopg.connect(url, autocommit=True) as conn:  # the same alert class, but on the alarm button
        (alarm,) = open_alerts(url, patient, 1, opened_at=t0, prefix="alarm")
        conn.execute("UPDATE alerts SET escalation = jsonb_set(escalation, '{event_class}', '\"alarm\"') "
                     "WHERE id = %s", (alarm,))  # fmt: skip
    run = Engine(url, smtp[0]).run
    run(t0 + 61)
    assert [s[0] for s in _steps(url, clinical)] == []  # held while the patient is away
    assert [s[0] for s in _steps(url, alarm)] == [0, 1]  # an alarm reaches a person whatever the pause
    metrics = client.get("/metrics").text
    assert 'tryggheim_alert_stage_seconds_count{event_class="alarm",stage="first_notification"}' in metrics


def _press_again(url: str, alert: int, at: float) -> bool:
    """The alarm raised again, as evaluation applies a repeat (count it, then tell escalation) in one transaction."""

    async def run() -> bool:
        async with await connect(url) as conn, conn.transaction():
            await conn.execute("UPDATE alerts SET repeats = repeats + 1, last_input_at = to_timestamp(%s), "
                               "updated_at = to_timestamp(%s) WHERE id = %s", (at, at, alert))  # fmt: skip
            return await alarm_repeated(conn, alert, at)

    return asyncio.run(run())


def _alarm(url: str, wired: Tenants, t0: float, prefix: str) -> int:
    patient = new_patient(url, wired.a.municipality_id, wired.a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, opened_at=t0, prefix=prefix)
    with psycopg.connect(url, autocommit=True) as conn:  # an alarm-class alert: the three-step policy covers it
        conn.execute("UPDATE alerts SET escalation = jsonb_set(escalation, '{event_class}', '\"alarm\"') "
                     "WHERE id = %s", (alert,))  # fmt: skip
    return alert


def test_an_alarm_pressed_again_after_it_was_taken_is_a_new_call_with_its_own_round(
    esc_db: TestDatabase, wired: Tenants, client: TestClient, smtp: tuple[int, Inbox], hook: WebhookServer
) -> None:
    url, t0 = esc_db.runtime_url, _whole_second()
    alert, run, nurse = _alarm(url, wired, t0, "taken"), Engine(url, smtp[0]).run, wired.a.auth(Role.NURSE)
    run(t0)
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=nurse).status_code == 200
    run(t0 + 61)
    assert [s[0] for s in _steps(url, alert)] == [0]  # taken: the chain stopped
    assert _press_again(url, alert, t0 + 120)
    state = rows(url, "SELECT state, acknowledged_at, acknowledged_by, escalation->>'round' FROM alerts "
                 "WHERE id = %s", alert)  # fmt: skip
    assert state == [("triggered", None, None, "2")]  # waits to be taken again
    run(t0 + 120)
    run(t0 + 181)  # round 2's e-mail, one minute after the press, as round 1's was after the opening
    assert [(s[0], s[2], s[3]) for s in _steps(url, alert)] == [(0, "in_app", "sent"), (100, "in_app", "sent"),
                                                               (101, "email", "sent")]  # fmt: skip
    mailed = smtp[1].keys()
    assert _steps(url, alert)[2][4] in mailed
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=nurse).status_code == 200
    taken_again = rows(url, "SELECT acknowledged_at FROM alerts WHERE id = %s", alert)[0][0].timestamp()
    run(t0 + 10_000)
    # taken again: no webhook step in round 2, and the ack timeout's reminders count from the second taking
    steps = _steps(url, alert)
    assert [(s[0], s[1]) for s in steps] == [(0, "step"), (100, "step"), (101, "step"), (103, "renotify"),
                                             (104, "renotify"), (105, "renotify")]  # fmt: skip
    assert steps[3][5].timestamp() == pytest.approx(taken_again + 5 * MINUTE, abs=0.01)
    detail = client.get(f"/api/v1/alerts/{alert}", headers=nurse).json()
    assert [(n["round"], n["step_in_round"]) for n in detail["notifications"]][:3] == [(1, 0), (2, 0), (2, 1)]
    page = client.get(f"/alerts/{alert}", headers={**nurse, "Accept": "text/html"})
    assert "Runde 2, trinn 2" in page.text


def test_a_press_again_joins_a_climbing_chain_and_restarts_one_that_ran_out(
    esc_db: TestDatabase, wired: Tenants, smtp: tuple[int, Inbox], hook: WebhookServer
) -> None:
    url, t0 = esc_db.runtime_url, _whole_second()
    alert, run = _alarm(url, wired, t0, "unanswered"), Engine(url, smtp[0]).run
    run(t0)
    assert not _press_again(url, alert, t0 + 10)  # step 2 is still to come: the running round goes on
    run(t0 + 10)
    assert [s[0] for s in _steps(url, alert)] == [0]
    run(t0 + 61)
    run(t0 + 121)
    run(t0 + 10_000)  # every step sent, nobody took it: the chain is quiet
    assert [s[0] for s in _steps(url, alert)] == [0, 1, 2]
    assert _press_again(url, alert, t0 + 10_010)
    run(t0 + 10_010)
    run(t0 + 10_071)
    run(t0 + 10_131)
    assert [(s[0], s[2], s[3]) for s in _steps(url, alert)][3:] == [(100, "in_app", "sent"), (101, "email", "sent"),
                                                                    (102, "webhook", "sent")]  # fmt: skip
