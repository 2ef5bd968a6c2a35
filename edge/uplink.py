"""Uplink: batches from the outbox to `POST /api/v1/ingest`, deleting only what the cloud says it committed.

A batch leaves when an alarm-class reading is waiting (at once, and alone), when `batch_max` readings are
waiting, or when the oldest has waited `batch_age_s`. When the cloud is unavailable the same batch is retried
with exponential backoff and jitter, so a fleet of gateways does not return in lockstep after a cloud outage;
a 503's Retry-After is honoured; a new alarm cuts a backoff short. When the cloud refuses a batch, the batch
is bisected until the refused reading is alone, and that reading is quarantined on the gateway once the
evidence holds (edge/isolation.py), while everything else, alarms first, is delivered. Nothing is ever
deleted on an error: at worst a reading is sent twice, and the cloud de-duplicates on (gateway, epoch,
sequence). While an alarm-class reading waits, a failed upload is retried at least every `alarm_retry_s`
(the social-alarm cadence), and the reading carries the gateway's local attempts to raise it
(edge/local_alarm.py) as `raised_locally`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import time

import httpx

from common.digits import plain_digits
from device_profiles import wire
from edge.config import GatewayConfig
from edge.isolation import Group, Isolation, Verdict, classify
from edge.local_alarm import wire_attempts
from edge.outbox import Outbox, Pending
from edge.waits import unless_stopped

log = logging.getLogger("tryggheim.edge.uplink")


class RetryLaterError(Exception):
    """The batch was not committed; try again after `retry_after` seconds (None: use the backoff)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if plain_digits(value) else None


class Uplink:
    """Sends the outbox to the cloud."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, client: httpx.AsyncClient) -> None:
        self.config = config
        self.outbox = outbox
        self.client = client
        self.limit = config.batch_max
        self.isolation = Isolation(config.refusals_to_quarantine, config.batch_max)
        self._wake = asyncio.Event()
        self._alarm = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret

    def notify(self, alarm: bool) -> None:
        """A source appended readings; an alarm also interrupts a backoff."""
        self._wake.set()
        if alarm:
            self._alarm.set()

    def _choose(self, now: float, *, force: bool) -> tuple[list[Pending], Group | None] | float:
        """The next batch (with its refused group, if it is one), or how many seconds to wait. Order: alarms
        not held in a refused group, alone; then refused groups that are due, alarm groups first; then the
        oldest routine readings once a batch trigger holds (or at once when `force`)."""
        fresh = self.outbox.next_batch(self.limit, exclude=self.isolation.held())
        if fresh and fresh[0].alarm:
            return fresh, None
        while (group := self.isolation.next_group(now)) is not None:
            batch = self.outbox.pending(group.seqs)
            if batch:
                group.seqs = tuple(p.seq for p in batch)  # some may have been evicted meanwhile
                return batch, group
            self.isolation.drop(group)
        due = self.isolation.next_due()
        idle = 1.0 if due is None else due - now
        if not fresh:
            return idle
        depth = self.outbox.depth(exclude=self.isolation.held())
        age = time.time() - (depth.oldest_created_at or time.time())
        if force or depth.count >= self.limit or age >= self.config.batch_age_s:
            return fresh, None
        return min(idle, self.config.batch_age_s - age)

    async def send_once(self) -> int:
        """Send the next batch now, whatever the batch triggers say; returns how many readings the cloud
        committed (0 when nothing was due, or the batch was refused)."""
        choice = self._choose(time.monotonic(), force=True)
        return await self._send(*choice) if isinstance(choice, tuple) else 0

    async def _send(self, batch: list[Pending], group: Group | None) -> int:
        alarms = [p.seq for p in batch if p.alarm]
        local = self.outbox.local_attempts(alarms) if alarms else {}
        readings = (wire.with_raised_locally(p.wire(), wire_attempts(local.get(p.seq, []))) for p in batch)
        body = wire.batch(self.outbox.epoch, readings)
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
        verdict = classify(response.status_code)
        if verdict is Verdict.COMMITTED:
            return self._committed(batch, group, response, {seq: len(local.get(seq, [])) for seq in alarms})
        self.outbox.count("upload_errors")
        if verdict is Verdict.UNAVAILABLE:
            if response.status_code == 503:
                self.outbox.count("cloud_unavailable")
            raise RetryLaterError(f"cloud unavailable ({response.status_code})", _retry_after(response))
        if verdict is Verdict.CREDENTIAL:
            self.outbox.count("auth_failures")
            self.outbox.event("auth_refused", f"the cloud refused the gateway credential ({response.status_code})")
            raise RetryLaterError(f"credential refused ({response.status_code}); re-enrol the gateway")
        if verdict is Verdict.TOO_LARGE and len(batch) > 1:
            self.limit = max(1, min(self.limit, len(batch)) // 2)
            self.isolation.split_for_size(batch, group)
            raise RetryLaterError(f"batch too large; now sending at most {self.limit}", 0)
        self._refused(batch, group, f"{response.status_code} {response.text[:300]}".strip())
        return 0

    def _committed(self, batch: list[Pending], group: Group | None, response: httpx.Response,
                   carried: dict[int, int]) -> int:  # fmt: skip
        try:
            listed = response.json().get("committed", [])
        except (ValueError, AttributeError):
            # A 200 that is not the cloud's answer (a captive portal, a misrouted proxy) commits nothing.
            self.outbox.count("upload_errors")
            raise RetryLaterError("the answer to an upload was not the cloud's (200 without a JSON body)") from None
        sent = {p.seq for p in batch}
        committed = [seq for seq in listed if seq in sent]
        self.outbox.acknowledge(committed, carried)
        self.isolation.committed(group)
        self.limit = self.config.batch_max
        return len(committed)

    def _refused(self, batch: list[Pending], group: Group | None, answer: str) -> None:
        """The cloud refused this batch: split it, or count the refusal of a reading sent alone and quarantine
        it once the evidence is in. Raises RetryLaterError when the cloud seems to refuse everything."""
        self.outbox.count("uploads_refused")
        if group is None:
            log.warning("the cloud refused a batch of %d (%s); isolating the refused reading", len(batch), answer)
        condemned = self.isolation.refused(batch, group, time.monotonic(), self.backoff)
        if condemned is not None and self.outbox.quarantine(condemned.seqs[0], condemned.attempts, answer):
            log.error("seq %d quarantined on the gateway: the cloud refused it alone %d times, %d of them with "
                      "other readings committed since the previous refusal (%s)", condemned.seqs[0], condemned.attempts,
                      condemned.strikes, answer)  # fmt: skip
        if self.isolation.refusing_everything():
            raise RetryLaterError(f"the cloud refuses every batch ({answer})")

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
            choice = self._choose(time.monotonic(), force=False)
            if not isinstance(choice, tuple):
                await unless_stopped(self._wake.wait(), stop, choice)
                continue
            try:
                await self._send(*choice)
                failures = 0
            except RetryLaterError as exc:
                failures += 1
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(failures)
                if any(p.alarm for p in choice[0]):
                    delay = min(delay, self.config.alarm_retry_s)
                if failures == 1 or failures % 10 == 0:
                    log.warning("upload failed (%s); retrying in %.1f s", exc, delay)
                await unless_stopped(self._alarm.wait(), stop, delay)
