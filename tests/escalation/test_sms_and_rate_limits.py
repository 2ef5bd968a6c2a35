"""SMS and rate limits. SMS goes through the generic HTTP gateway adapter to a real stand-in gateway, with
signed delivery receipts posted back to a real `tryggheim cloud serve`: a delivered receipt shows in the alert's
notifications; a gateway that answers 500, hangs or answers a malformed body, or a failed receipt, leads to
retries under one key, then dead letter in the API; a forged or malformed receipt is refused and changes
nothing. A flood of 5,000 yellow notifications trips the webhook limit and sends one notice, while 50 alarms
during it go out first: no worker takes up the flood while an alarm is left to send."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from cloud.access.roles import Role
from cloud.config import CloudSettings
from cloud.db.pool import make_pool
from cloud.escalation.outbox import Delivery, OutboxSettings, deliver_next
from cloud.escalation.runner import EscalationRunner
from cloud.notify import Channel
from cloud.notify.sms import SmsChannel
from cloud.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from cloud.telemetry import REGISTRY
from common.ports import free_port
from tests.escalation.conftest import SECRET, new_patient, set_endpoint
from tests.escalation.outbox_rows import enqueue
from tests.escalation.receivers import WebhookServer, smtp_server, webhook_server
from tests.support.db import named_rows, rows
from tests.support.proc import TRYGGHEIM, env_with, wait_for_line
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tryggheim.demo.sms import SmsGateway

SMS_SECRET = "sms-receipt-secret-of-some-length"
ATTEMPTS = 3


@dataclass
class Rig:
    url: str  # the served process
    db: str
    gateway: SmsGateway
    tenants: Tenants


@pytest.fixture(scope="module")
def rig(esc_db: TestDatabase, tenants: Tenants) -> Iterator[Rig]:
    """The stand-in gateway, municipality A's team lead reached by SMS through it, and a served process (its own
    escalation worker off: the test delivers with its own clock) that takes the receipts."""
    gateway = SmsGateway(secret=SMS_SECRET).start()
    port = free_port()
    env = env_with(
        TRYGGHEIM_DATABASE_URL=esc_db.runtime_url, TRYGGHEIM_PORT=str(port), TRYGGHEIM_LOG_LEVEL="ERROR",
        TRYGGHEIM_ESCALATION="false", TRYGGHEIM_EVALUATION="false", TRYGGHEIM_NOTIFY_BACKOFF_S="0.01",
        TRYGGHEIM_NOTIFY_MAX_ATTEMPTS=str(ATTEMPTS),
    )  # fmt: skip
    process = subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(process, "http://", timeout=60)
        yield Rig(f"http://127.0.0.1:{port}", esc_db.runtime_url, gateway, tenants)
    finally:
        process.terminate()
        process.wait(30)
        gateway.stop()


def _options(rig: Rig, fmt: str = "json") -> dict[str, Any]:
    return {"url": rig.gateway.url, "format": fmt,
            "fields": {"to": "{to}", "text": "{text}", "ref": "{id}", "callback": "{receipt_url}"}}  # fmt: skip


def _deliver(rig: Rig, now: float, timeout_s: float = 5) -> list[Delivery]:
    """Every deliverable notification at `now`, once each, through the SMS channel (receipts to the server)."""

    async def go() -> list[Delivery]:
        pool = make_pool(rig.db, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        settings = OutboxSettings(ATTEMPTS, 0.01, rig.url, "test")
        try:
            async with httpx.AsyncClient(timeout=timeout_s) as http:
                channels: dict[str, Channel] = {"sms": SmsChannel(http, rig.url)}
                done = []
                while (delivery := await deliver_next(pool, channels, now, settings)) is not None:
                    done.append(delivery)
                return done
        finally:
            await pool.close()

    return asyncio.run(go())


def _one_sms(rig: Rig, fmt: str = "json") -> tuple[int, str]:
    """A fresh alert with one due SMS notification to the team lead; (alert id, idempotency key)."""
    town = rig.tenants.a.municipality_id
    set_endpoint(rig.db, town, "team_lead", "sms", "+4799000001", SMS_SECRET)
    with_options(rig, fmt)
    patient = new_patient(rig.db, town, rig.tenants.a.teams["Nord"])
    [alert] = enqueue(rig.db, patient, 1, channel="sms", target="team_lead", severity="red", prefix=f"s{time.time()}")
    [row] = named_rows(rig.db, "SELECT idempotency_key FROM notifications WHERE alert_id = %s", alert)
    return alert, str(row["idempotency_key"])


def with_options(rig: Rig, fmt: str) -> None:
    """Set the SMS endpoint's gateway options (the settings API validates them: test_the_settings_api_...)."""
    with psycopg.connect(rig.db, autocommit=True) as conn:
        options = Jsonb(_options(rig, fmt))
        conn.execute("UPDATE notification_endpoints SET options = %s WHERE channel = 'sms'", (options,))


def _wait_for(check: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _notification(rig: Rig, alert: int) -> dict[str, Any]:
    answer = httpx.get(f"{rig.url}/api/v1/alerts/{alert}/notifications", headers=rig.tenants.a.auth(Role.TEAM_LEAD))
    assert answer.status_code == 200, answer.text
    [notification] = answer.json()
    return dict(notification)


def test_an_sms_reaches_the_gateway_and_its_delivered_receipt_shows_in_the_api(rig: Rig) -> None:
    rig.gateway.mode, rig.gateway.receipts = "ok", "delivered"
    alert, key = _one_sms(rig)
    [delivery] = _deliver(rig, time.time())
    assert delivery.status == "sent"
    sms = _wait_for(lambda: [m for m in rig.gateway.messages if m.key == key])[0]
    assert sms.signed and sms.fields["to"] == "+4799000001" and sms.fields["ref"] == key
    # Severity, kind and the link: no name, no value.
    assert sms.fields["text"] == f"Tryggheim: rødt varsel (målinger)\n{rig.url}/alerts/{alert}"
    notification = _wait_for(lambda: (n := _notification(rig, alert))["delivered_at"] and n)
    assert notification["status"] == "sent" and notification["receipt"]["delivery"]["status"] == "delivered"
    assert [h["ok"] for h in notification["history"]] == [True, True]  # handed over, then on the phone
    assert rig.gateway.keys().count(key) == 1


def test_a_form_post_gateway_gets_the_same_fields(rig: Rig) -> None:
    rig.gateway.mode, rig.gateway.receipts = "ok", "none"
    _alert, key = _one_sms(rig, fmt="form")
    [delivery] = _deliver(rig, time.time())
    assert delivery.status == "sent"
    [sms] = [m for m in rig.gateway.messages if m.key == key]
    assert sms.fields["ref"] == key and sms.fields["text"].startswith("Tryggheim: rødt varsel")


@pytest.mark.parametrize("mode", ["error", "hang", "malformed"])
def test_a_failing_gateway_is_retried_under_one_key_then_dead_lettered(rig: Rig, mode: str) -> None:
    rig.gateway.mode, rig.gateway.receipts, rig.gateway.hang_s = mode, "none", 0.6  # type: ignore[assignment]
    alert, key = _one_sms(rig)
    statuses = [d.status for attempt in range(ATTEMPTS) for d in _deliver(rig, time.time() + attempt, timeout_s=0.3)]
    assert statuses == ["pending", "pending", "dead"]
    # Each attempt the gateway took (a 500 takes none) carried the one reference it can drop repeats by.
    taken = {"error": 0, "hang": ATTEMPTS, "malformed": ATTEMPTS}[mode]
    _wait_for(lambda: rig.gateway.keys().count(key) == taken or not taken)
    assert rig.gateway.keys().count(key) == taken
    notification = _notification(rig, alert)
    assert notification["status"] == "dead" and notification["attempts"] == ATTEMPTS
    assert all(not h["ok"] for h in notification["history"])
    dead = httpx.get(f"{rig.url}/api/v1/notifications/dead", headers=rig.tenants.a.auth(Role.TEAM_LEAD)).json()
    assert any(d["alert_id"] == alert and d["channel"] == "sms" for d in dead)
    assert _deliver(rig, time.time() + 3600) == []  # nothing left to send: never sent again


def test_failed_receipts_are_retried_then_dead_lettered(rig: Rig) -> None:
    rig.gateway.mode, rig.gateway.receipts = "ok", "failed"
    alert, key = _one_sms(rig)
    for attempt in range(ATTEMPTS):
        [delivery] = _deliver(rig, time.time() + attempt)
        assert delivery.status == "sent"
        expected = "dead" if attempt == ATTEMPTS - 1 else "pending"
        _wait_for(lambda: _notification(rig, alert)["status"] == expected)  # noqa: B023 - waited on at once
    assert rig.gateway.keys().count(key) == ATTEMPTS  # the same reference each time: the gateway can drop repeats
    dead = httpx.get(f"{rig.url}/api/v1/notifications/dead", headers=rig.tenants.a.auth(Role.TEAM_LEAD)).json()
    assert any(d["alert_id"] == alert and "not delivered" in (d["last_error"] or "") for d in dead)


def _post_receipt(rig: Rig, body: bytes, secret: str = SMS_SECRET) -> httpx.Response:
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
               SIGNATURE_HEADER: signature(secret, stamp, body)}  # fmt: skip
    return httpx.post(f"{rig.url}/api/v1/notify/sms/receipts", content=body, headers=headers)


def test_a_forged_receipt_is_refused_and_audited_and_a_malformed_one_refused(rig: Rig) -> None:
    rig.gateway.mode, rig.gateway.receipts = "ok", "forged"
    alert, key = _one_sms(rig)
    _deliver(rig, time.time())
    assert _wait_for(lambda: rig.gateway.receipt_answers[-1:] == [401])
    body = f'{{"id": "{key}", "status": "failed"}}'.encode()
    assert _post_receipt(rig, body, secret="not-the-endpoint-secret").status_code == 401
    assert _post_receipt(rig, b'{"id": "not-a-uuid", "status": "delivered"}').status_code == 400
    assert _post_receipt(rig, b"<xml/>").status_code == 400
    notification = _notification(rig, alert)
    assert notification["status"] == "sent" and notification["delivered_at"] is None  # nothing changed
    audited = named_rows(rig.db, "SELECT outcome, reason FROM audit_log WHERE action = 'notify.sms_receipt'")
    assert len(audited) >= 2 and {r["outcome"] for r in audited} == {"denied"}
    good = _post_receipt(rig, f'{{"id": "{key}", "status": "delivered"}}'.encode())
    assert good.status_code == 200 and good.json()["result"] == "delivered"
    assert _post_receipt(rig, f'{{"id": "{key}", "status": "failed"}}'.encode()).json()["result"] == "duplicate"


def test_the_settings_api_validates_an_sms_endpoint(rig: Rig) -> None:
    admin = rig.tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    put = f"{rig.url}/api/v1/escalation/endpoints/on_call_nurse/sms"
    bad = httpx.put(put, headers=admin, json={"address": "+4799000002", "options": {"url": rig.gateway.url,
                    "fields": {"to": "{phone}"}}})  # fmt: skip
    assert bad.status_code == 422 and "phone" in bad.text
    assert httpx.put(put, headers=admin, json={"address": "Kari", "options": _options(rig)}).status_code == 422
    assert httpx.put(put, headers=admin, json={"address": "+4799000002"}).status_code == 422  # no gateway
    good = httpx.put(put, headers=admin, json={"address": "+4799000002", "options": _options(rig)})
    assert good.status_code == 200 and good.json()["has_secret"] and good.json()["secret"]


FLOOD, ALARMS, LIMIT = 5000, 50, 120
WORKERS = 4  # the runner's concurrent deliveries (DELIVERY_WORKERS)


def _run_deliveries(rig: Rig, smtp_port: int, hook: WebhookServer) -> int:
    """One wake-up of a production runner's delivery loop (four workers, then the limit notices)."""
    settings = CloudSettings(
        database_url=rig.db, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="varsel@kommune.test",
        notify_rate_webhook=LIMIT, ops_webhook_url=f"{hook.url}/ok", ops_webhook_secret=SECRET, public_url=rig.url,
    )  # fmt: skip

    async def go() -> int:
        pool = make_pool(rig.db, min_size=1, max_size=6, timeout_s=10)
        await pool.open()
        runner = EscalationRunner(pool, settings)
        try:
            return await runner.run_deliveries()
        finally:
            await runner.stop()
            await pool.close()

    return asyncio.run(go())


def _alarm_latency(
    rig: Rig, hook: WebhookServer, smtp_port: int, patient: UUID, prefix: str, count: int = ALARMS
) -> tuple[float, int]:
    """Open alarms' webhook notifications, run the outbox once; (slowest arrival after the start, attempts)."""
    alarms = enqueue(rig.db, patient, count, channel="webhook", target="response_centre", event_class="alarm",
                     severity="red", prefix=prefix)  # fmt: skip
    keys = {str(r["idempotency_key"]) for r in named_rows(
        rig.db, "SELECT idempotency_key FROM notifications WHERE alert_id = ANY(%s)", alarms)}  # fmt: skip
    start = time.time()
    attempts = _run_deliveries(rig, smtp_port, hook)
    arrived = {item.key: item.at for item in hook.inbox.items if item.key in keys}
    assert set(arrived) == keys  # every alarm delivered in this one wake-up
    return max(arrived.values()) - start, attempts


def test_a_flood_trips_the_limit_once_and_alarms_are_not_held_back(rig: Rig) -> None:
    town = rig.tenants.b.municipality_id
    patient = new_patient(rig.db, town, rig.tenants.b.teams["Nord"])
    with smtp_server() as (smtp_port, mail), webhook_server(SECRET) as hook:
        set_endpoint(rig.db, town, "response_centre", "webhook", f"{hook.url}/ok", SECRET)
        set_endpoint(rig.db, town, "admin", "email", "admin@kommune.test", None)
        alone, _ = _alarm_latency(rig, hook, smtp_port, patient, "calm.")
        flood = enqueue(rig.db, patient, FLOOD, channel="webhook", target="response_centre", prefix="flood.")
        with_flood, attempts = _alarm_latency(rig, hook, smtp_port, patient, "storm.")
        # Informative only: wall time on a machine shared with other work is no test (a parallel test run once
        # made the flood's 1.34 s of 0.63 s). That the alarms are not held back is the order checked below.
        print(f"50 alarms: slowest arrival {alone:.3f} s alone, {with_flood:.3f} s in the flood")
        assert attempts < 2 * LIMIT  # the excess was suppressed in bulk, not attempted one by one
        # Alarms go first: only a worker that found every remaining alarm taken by the others touched the flood.
        [order] = named_rows(rig.db, "SELECT count(*) AS early FROM notifications n JOIN alerts a ON a.id = "
                             "n.alert_id JOIN notification_attempts t ON t.notification_id = n.id WHERE "
                             "a.patient_id = %s AND a.rule LIKE 'flood.%%' AND t.at < (SELECT max(sent_at) FROM "
                             "notifications JOIN alerts ON alerts.id = alert_id WHERE alerts.patient_id = %s AND "
                             "alerts.rule LIKE 'storm.%%')", patient, patient)  # fmt: skip
        assert order["early"] <= WORKERS - 1
        counts = dict(rows(rig.db, "SELECT status, count(*) FROM notifications WHERE alert_id = ANY(%s) "
                           "GROUP BY status", flood))  # fmt: skip
        sent = counts.get("sent", 0)
        assert LIMIT - 2 * ALARMS <= sent <= LIMIT - 2 * ALARMS + 3  # four workers may overshoot by one each
        assert sent + counts["suppressed"] == FLOOD and set(counts) == {"sent", "suppressed"}  # nothing lost
        suppressed = named_rows(rig.db, "SELECT n.last_error, t.ok FROM notifications n JOIN notification_attempts "
                                "t ON t.notification_id = n.id WHERE n.alert_id = %s", flood[-1])  # fmt: skip
        assert "rate limit" in suppressed[0]["last_error"] and not suppressed[0]["ok"]
        # More of the flood in the same window: suppressed too, still one notice; alarms over the limit still go.
        excess_before = _metric("alarm_excess")
        enqueue(rig.db, patient, 10, channel="webhook", target="response_centre", prefix="more.")
        _alarm_latency(rig, hook, smtp_port, patient, "late.", count=10)
        assert _metric("alarm_excess") - excess_before == 10
        assert [m.headers["To"] for m in mail.items] == ["admin@kommune.test"]
        assert "rate limit" in mail.items[0].body
        notices = [item for item in hook.inbox.items if item.key.startswith("rate-")]
        assert len(notices) == 1 and '"rate_limit_tripped"' in notices[0].body
    [window] = httpx.get(f"{rig.url}/api/v1/notifications/rate-limits",
                         headers=rig.tenants.b.auth(Role.MUNICIPALITY_ADMIN)).json()  # fmt: skip
    assert window["alarm_excess"] == 10 and window["sent"] == 2 * ALARMS + sent + 10
    assert window["suppressed"] == FLOOD - sent + 10 and window["noticed_at"] is not None


def _metric(outcome: str) -> float:
    """This process's /metrics counter of notifications over a webhook limit."""
    value = REGISTRY.get_sample_value("tryggheim_notifications_rate_limited_total",
                                      {"channel": "webhook", "outcome": outcome})  # fmt: skip
    return value or 0.0
