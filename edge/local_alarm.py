"""Degraded mode: an alarm the uplink cannot deliver is raised in the home and by a secondary path.

When an alarm-class reading (the catalogue's `urgency: alarm`, the outbox's `alarm` flag) has waited longer
than `alarm_overdue_s` because the cloud does not take it, the gateway
* commands each configured Zigbee2MQTT siren (`{"warning": {"mode": "emergency", ...}}`) and light
  (`{"state": "ON"}`) on `<base topic>/<friendly name>/set` through the local broker, and counts it done when
  Zigbee2MQTT answers with the device's state on `<base topic>/<friendly name>` within `answer_s`;
* sends an SMS to each recipient through a generic HTTP SMS gateway (the JSON request of the cloud's SMS
  channel: `to`, `text`, `ref`), trying its routes (`base_urls`, e.g. the cellular interface second) in order.

Every attempt, successful or not, is kept in the outbox with the reading (`Outbox.record_local_attempt`: an
event and a counter too, for `tryggheim edge status`) and goes to the cloud with the reading
(`raised_locally`, device_profiles/wire.py), so the alert's timeline shows how it was raised. The reading
itself stays in the outbox until the cloud acknowledges it; the uplink keeps trying on `alarm_retry_s`.

A failed path is retried every `retry_s`, at most `max_attempts` times per reading; one that worked is not
repeated (the siren sounds for `siren_duration_s`; the SMS reference is stable, so a gateway drops a
duplicate). How long a reading has waited is the larger of its age by the wall clock and by the monotonic
clock since this process first saw it, so a clock that jumps backwards cannot hold a local alarm back; a jump
is recorded. Nothing here raises into the agent: a failure is an attempt recorded with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from common.timefmt import OSLO
from edge.config import GatewayConfig, LocalAlarmConfig, SmsRouteConfig
from edge.http import InsecureURLError, check_url
from edge.outbox import Outbox, Pending

log = logging.getLogger("tryggheim.edge.local_alarm")
CLOCK_JUMP_S = 5.0
Clock = Callable[[], float]


def wire_attempts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded attempts in their wire form (`LocalAttempt.encode`): the local target key left out."""
    return [{key: record[key] for key in ("at", "path", "ok", "detail")} for record in records]


def siren_payload(duration_s: int) -> dict[str, Any]:
    """Zigbee2MQTT's `warning` command for a siren (its documented composite: mode, level, strobe, duration)."""
    return {"warning": {"mode": "emergency", "level": "very_high", "strobe": True, "duration": duration_s}}


def command_device(config: LocalAlarmConfig, name: str, payload: dict[str, Any]) -> str | None:
    """Publish `payload` to Zigbee2MQTT's `/set` topic of `name` and wait for the device's state in answer;
    None when it answered, else why not. Blocking (run it in a thread)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    state_topic = f"{config.base_topic}/{name}"
    subscribed, answered = threading.Event(), threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tryggheim-local-alarm-{uuid.uuid4().hex[:8]}")
    client.on_subscribe = lambda *_: subscribed.set()
    # A retained message is an old state delivered on subscribing, not an answer to this command.
    client.on_message = lambda _c, _u, message: None if message.retain else answered.set()
    try:
        client.connect(config.broker_host, config.broker_port, keepalive=30)
    except OSError as exc:
        return f"local broker {config.broker_host}:{config.broker_port} unreachable ({exc.strerror or exc})"
    client.loop_start()
    try:
        client.subscribe(state_topic, qos=1)
        if not subscribed.wait(config.answer_s):
            return "the local broker did not confirm the subscription"
        client.publish(f"{state_topic}/set", json.dumps(payload), qos=1).wait_for_publish(config.answer_s)
        if not answered.wait(config.answer_s):
            return f"no answer from Zigbee2MQTT within {config.answer_s:g} s"
        return None
    except (RuntimeError, ValueError, OSError) as exc:
        return f"publishing failed ({exc})"
    finally:
        client.disconnect()
        client.loop_stop()


async def send_sms(sms: SmsRouteConfig, text: str, ref: str, *, insecure_dev: bool) -> tuple[bool, str]:
    """Text every recipient through the first route that takes all of them; (ok, what happened). The
    reference per recipient is stable across retries, so a gateway that took a message drops the repeat."""
    try:
        token = sms.credential_file.read_text(encoding="utf-8").strip() if sms.credential_file else None
    except OSError as exc:
        return False, f"SMS credential unreadable ({exc.strerror})"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    failures = []
    for route, base_url in enumerate(sms.base_urls, start=1):
        try:
            url = check_url(base_url, insecure_dev) + sms.path
        except InsecureURLError as exc:
            failures.append(f"route {route}: {exc}")
            continue
        async with httpx.AsyncClient(timeout=sms.timeout_s, headers=headers) as client:
            problem = None
            for index, to in enumerate(sms.recipients):
                try:
                    answer = await client.post(url, json={"to": to, "text": text, "ref": f"{ref}-{index}"})
                except httpx.HTTPError as exc:
                    problem = f"unreachable ({type(exc).__name__})"
                    break
                if not answer.is_success:
                    problem = f"refused ({answer.status_code})"
                    break
        if problem is None:
            return True, f"SMS to {len(sms.recipients)} recipient(s) via route {route}"
        failures.append(f"route {route}: {problem}")
    return False, "SMS not sent: " + "; ".join(failures)


class LocalAlarm:
    """Watches the outbox for overdue alarms and raises them locally."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, *, wall: Clock = time.time,
                 monotonic: Clock = time.monotonic) -> None:  # fmt: skip
        self.config = config
        self.local = config.local_alarm
        self.outbox = outbox
        self._wall, self._monotonic = wall, monotonic
        self._first_seen: dict[int, float] = {}
        self._next_try: dict[tuple[int, str, str], float] = {}
        self._gave_up: set[tuple[int, str, str]] = set()
        self._clocks: tuple[float, float] | None = None

    def paths(self) -> list[tuple[str, str]]:
        """(path, target) for each configured siren, light and the SMS."""
        found = [("siren", name) for name in self.local.sirens] + [("light", name) for name in self.local.lights]
        if self.local.sms.base_urls and self.local.sms.recipients:
            found.append(("sms", "sms"))
        return found

    async def run(self, stop: asyncio.Event) -> None:
        """Check every second (or a quarter of the overdue time) until `stop`; never raises."""
        period = min(1.0, self.config.alarm_overdue_s / 4)
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a bug here must not stop the agent; the uplink still carries the alarm
                log.exception("the local alarm check failed; trying again")
                self.outbox.count("local_alarm_errors")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period)

    async def tick(self) -> None:
        """Raise every overdue alarm on each path that is due."""
        wall, mono = self._wall(), self._monotonic()
        self._note_clock(wall, mono)
        waiting = self.outbox.waiting_alarms()
        seqs = {p.seq for p in waiting}
        self._first_seen = {seq: at for seq, at in self._first_seen.items() if seq in seqs}
        history = self.outbox.local_attempts(seqs)
        jobs = []
        for pending in waiting:
            first = self._first_seen.setdefault(pending.seq, mono)
            if max(wall - pending.created_at, mono - first) < self.config.alarm_overdue_s:
                continue
            for path, target in self.paths():
                if self._due(pending.seq, path, target, history.get(pending.seq, []), mono):
                    jobs.append(self._attempt(pending, path, target))
        await asyncio.gather(*jobs)

    def _note_clock(self, wall: float, mono: float) -> None:
        if self._clocks is not None:
            jump = (wall - self._clocks[0]) - (mono - self._clocks[1])
            if abs(jump) > CLOCK_JUMP_S:
                self.outbox.count("clock_jumps")
                self.outbox.event("clock_jump", f"the wall clock jumped {jump:+.0f} s; alarm waits are timed by "
                                  "the monotonic clock as well")  # fmt: skip
        self._clocks = (wall, mono)

    def _due(self, seq: int, path: str, target: str, records: list[dict[str, Any]], mono: float) -> bool:
        mine = [r for r in records if r.get("path") == path and r.get("target") == target]
        if any(r.get("ok") for r in mine) or mono < self._next_try.get((seq, path, target), 0.0):
            return False
        if len(mine) >= self.local.max_attempts:
            if (seq, path, target) not in self._gave_up:
                self._gave_up.add((seq, path, target))
                self.outbox.event("local_alarm_gave_up", f"seq {seq}: {path} {target} failed {len(mine)} times; "
                                  "no more local attempts (the uplink keeps trying)")  # fmt: skip
            return False
        self._next_try[(seq, path, target)] = mono + self.local.retry_s
        return True

    async def _attempt(self, pending: Pending, path: str, target: str) -> None:
        """One attempt on one path, recorded whatever happens."""
        try:
            if path == "sms":
                ok, detail = await self._sms(pending)
            else:
                payload = siren_payload(self.local.siren_duration_s) if path == "siren" else {"state": "ON"}
                problem = await asyncio.to_thread(command_device, self.local, target, payload)
                ok, detail = problem is None, f"{path} {target}: " + (problem or "answered")
        except Exception as exc:  # recorded as a failed attempt and retried, never lost
            ok, detail = False, f"{path} {target}: {type(exc).__name__}: {exc}"
        detail = detail[:200]
        at = datetime.fromtimestamp(self._wall(), UTC).isoformat()
        record = {"at": at, "path": path, "ok": ok, "detail": detail, "target": target}
        self.outbox.record_local_attempt(pending.seq, record, f"seq {pending.seq}: {detail}")
        if ok:
            log.error("alarm seq %d raised locally: %s", pending.seq, detail)
        else:
            log.error("alarm seq %d: a local attempt failed: %s", pending.seq, detail)

    async def _sms(self, pending: Pending) -> tuple[bool, str]:
        pressed = datetime.fromtimestamp(pending.created_at, UTC).astimezone(OSLO)
        text = self.local.sms.text.replace("{time}", f"{pressed:%d.%m. %H:%M}")
        ref = f"tryggheim-{self.outbox.epoch}-{pending.seq}"
        return await send_sms(self.local.sms, text, ref, insecure_dev=self.config.insecure_dev)
