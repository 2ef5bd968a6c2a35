"""Webhook signing secrets sealed at rest: the database holds ciphertext, the receiver still gets a valid
signature, and a process without the key fails the delivery with a clear reason instead of signing wrongly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from cloud.db.pool import make_pool
from cloud.escalation import configuration, engine
from cloud.escalation.outbox import OutboxSettings, deliver_next
from cloud.notify import Channel
from cloud.notify.sealing import PREFIX, SealError, SecretBox, check_keys
from cloud.notify.webhook import WebhookChannel
from tests.escalation.conftest import SECRET, new_patient, open_alerts, set_policy, three_steps
from tests.escalation.receivers import webhook_server
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

KEY, OLD_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_box_seals_opens_rotates_and_names_what_is_wrong() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(SECRET)
    assert sealed.startswith(PREFIX) and SECRET not in sealed and box.open(sealed) == SECRET
    assert box.open("stored before a key was set") == "stored before a key was set"
    assert box.open(None) is None
    assert SecretBox(f"{KEY},{OLD_KEY}").open(SecretBox(OLD_KEY).seal(SECRET)) == SECRET  # rotation
    assert SecretBox(None).seal(SECRET) == SECRET
    with pytest.raises(SealError, match="not set"):
        SecretBox(None).open(sealed)
    with pytest.raises(SealError, match="does not list"):
        SecretBox(OLD_KEY).open(sealed)
    with pytest.raises(ValueError, match="key 2 is not a Fernet key"):
        check_keys(f"{KEY},not-a-key")


@pytest.mark.slow
def test_sealed_secret_signs_deliveries_and_a_process_without_the_key_refuses(
    esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, town, t0 = esc_db.runtime_url, tenants.a.municipality_id, float(int(time.time()))
    set_policy(url, town, three_steps(email_after=0.5, webhook_after=1))
    with webhook_server(SECRET) as hook:

        async def configure_and_deliver(box: SecretBox, at: float) -> list[Any]:
            pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
            await pool.open()
            try:
                async with pool.connection() as conn:
                    await configuration.set_endpoint(
                        conn, town, target="response_centre", channel="webhook", address=f"{hook.url}/ok",
                        secret=SECRET, box=SecretBox(KEY),
                    )  # fmt: skip
                async with httpx.AsyncClient(timeout=5) as http:
                    channels: dict[str, Channel] = {"webhook": WebhookChannel(http)}
                    outbox = OutboxSettings(3, 10, "https://tryggheim.test", "test", box)
                    done: list[Any] = []
                    while result := await engine.step_next(pool, at, 60.0, "test"):
                        done.append(result)
                    while delivery := await deliver_next(pool, channels, at, outbox):
                        done.append(delivery)
                    return done
            finally:
                await pool.close()

        patient = new_patient(url, town, tenants.a.teams["Nord"])
        (signed,) = open_alerts(url, patient, 1, opened_at=t0, prefix="sealed")
        asyncio.run(configure_and_deliver(SecretBox(KEY), t0 + 61))
        [(stored,)] = rows(url, "SELECT secret FROM notification_endpoints WHERE target = 'response_centre'")
        assert stored.startswith(PREFIX) and SECRET not in stored
        status = rows(url, "SELECT status FROM notifications WHERE alert_id = %s AND channel = 'webhook'", signed)
        assert status == [("sent",)] and len(hook.inbox.items) == 1 and hook.inbox.rejected == 0

        (unsigned,) = open_alerts(url, patient, 1, opened_at=t0 + 100, prefix="nokey")
        asyncio.run(configure_and_deliver(SecretBox(None), t0 + 161))
        failed = rows(url, "SELECT status, last_error FROM notifications WHERE alert_id = %s AND channel = 'webhook'",
                      unsigned)  # fmt: skip
        assert failed[0][0] == "pending" and "TRYGGHEIM_SECRETS_KEY is not set" in failed[0][1]
        assert len(hook.inbox.items) == 1 and hook.inbox.rejected == 0  # nothing was sent with a wrong signature
