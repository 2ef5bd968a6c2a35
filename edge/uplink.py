"""Uplink: batches from the outbox to `POST /api/v1/ingest`, deleting only what the cloud says it committed.

A batch leaves when an alarm-class reading is waiting (at once, and alone), when `batch_max` readings are
waiting, or when the oldest has waited `batch_age_s`. Failures back off exponentially with jitter, so a fleet
of gateways does not return in lockstep after a cloud outage; a 503's Retry-After is honoured; a new alarm cuts
a backoff short. Nothing is ever deleted on an error: at worst a reading is sent twice, and the cloud
de-duplicates on (gateway, epoch, sequence).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import time

import httpx

from edge.config import GatewayConfig
from edge.outbox import Outbox

log = logging.getLogger("tryggheim.edge.uplink")


class RetryLaterError(Exception):
    """The batch was not committed; try again after `retry_after` seconds (None: use the backoff)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class Uplink:
    """Sends the outbox to the cloud."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, client: httpx.AsyncClient) -> None:
        self.config = config
        self.outbox = outbox
        self.client = client
        self.limit = config.batch_max
        self._wake = asyncio.Event()
        self._alarm = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret

    def notify(self, alarm: bool) -> None:
        """A source appended readings; an alarm also interrupts a backoff."""
        self._wake.set()
        if alarm:
            self._alarm.set()

    async def send_once(self) -> int:
        """Send one batch; returns how many readings the cloud committed (0 when the outbox was empty)."""
        batch = self.outbox.next_batch(self.limit)
        if not batch:
            return 0
        body = {"epoch": self.outbox.epoch, "observations": [p.wire() for p in batch]}
        data = gzip.compress(json.dumps(body, separators=(",", ":")).encode(), compresslevel=6)
        try:
            response = await self.client.post(
                "/api/v1/ingest",
                content=data,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        except httpx.HTTPError as exc:
            self.outbox.count("upload_errors")
            raise RetryLaterError(f"cloud unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            sent = {p.seq for p in batch}
            committed = [seq for seq in response.json().get("committed", []) if seq in sent]
            self.outbox.acknowledge(committed)
            self.limit = self.config.batch_max
            return len(committed)
        self.outbox.count("upload_errors")
        if response.status_code == 503:
            self.outbox.count("cloud_unavailable")
            raise RetryLaterError("cloud storage unavailable (503)", _retry_after(response))
        if response.status_code == 413 and self.limit > 1:
            self.limit = max(1, self.limit // 2)
            raise RetryLaterError(f"batch too large; now sending at most {self.limit}", 0)
        if response.status_code in (401, 403):
            self.outbox.count("auth_failures")
            self.outbox.event("auth_refused", f"the cloud refused the gateway credential ({response.status_code})")
            raise RetryLaterError(f"credential refused ({response.status_code}); re-enrol the gateway")
        raise RetryLaterError(f"cloud answered {response.status_code}: {response.text[:200]}")

    def backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter in [0.5, 1] of the step, capped."""
        step = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0 ** max(0, failures - 1))
        return float(step * self._rng.uniform(0.5, 1.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set."""
        failures = 0
        while not stop.is_set():
            # Cleared before looking, so a notify that arrives while a request is in flight is not lost.
            self._wake.clear()
            self._alarm.clear()
            depth = self.outbox.depth()
            if depth.count == 0:
                await self._wait(self._wake, stop, 1.0)
                continue
            age = time.time() - (depth.oldest_created_at or time.time())
            if not (depth.alarms or depth.count >= self.limit or age >= self.config.batch_age_s):
                await self._wait(self._wake, stop, self.config.batch_age_s - age)
                continue
            try:
                await self.send_once()
                failures = 0
            except RetryLaterError as exc:
                failures += 1
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(failures)
                if failures == 1 or failures % 10 == 0:
                    log.warning("upload failed (%s); retrying in %.1f s", exc, delay)
                await self._wait(self._alarm, stop, delay)

    @staticmethod
    async def _wait(event: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
        """Sleep up to `seconds`, waking early on `event` or `stop`."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
