"""The wire contract of a reading: what a gateway sends to `POST /api/v1/ingest` and the cloud takes.

A batch is `{"epoch": <the outbox's UUID>, "observations": [reading, ...]}`; (epoch, seq) names a reading
exactly once, so the cloud de-duplicates on it. A reading is a JSON object with the fields of `WireReading`,
in its field order. `context` is optional: null and absent both mean none. `raised_locally` is present only on
an alarm-class reading the gateway raised locally while its uplink was down (edge/local_alarm.py): every
attempt with a siren, a light or an SMS, successful or not, so the alert's timeline can show it.

Two encodings of the same reading exist and both are frozen byte for byte: the gateway sends `context: null`
when there is none (its outbox file keeps bodies in that form), and the cloud's copy of a validated reading
that it refuses later leaves `context` out (`omit_empty_context`): the quarantine's digest of that text is
what makes a re-sent refusal idempotent, so changing either form would duplicate rows or reorder outboxes.

The cloud does not build `WireReading`s on its hot path: it validates the raw objects its JSON parser
returns, one by one, so that a bad reading is quarantined with a reason instead of failing the batch
(cloud/ingest/validate.py). `batch_schema` is the documented form of the body; `decode` is the strict typed
parse, for tools and tests. Both load pydantic when first called; the gateway, which only encodes, never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from annotated_types import Ge, MaxLen

from device_profiles.observation import Observation

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# A reading as JSON: the parser's dict, or what `encode` returns for the JSON encoder.
WireJSON = dict[str, Any]

RAISED_LOCALLY = "raised_locally"
LocalPath = Literal["siren", "light", "sms"]
LOCAL_PATHS: tuple[str, ...] = LocalPath.__args__  # type: ignore[attr-defined]
MAX_LOCAL_ATTEMPTS = 50
MAX_LOCAL_DETAIL = 200
# pydantic (imported only to validate or to describe the schema, so the gateway agent never loads it) takes each
# field's description in the JSON schema from the docstring under the field.
_DESCRIBED: Any = {"use_attribute_docstrings": True}


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalAttempt:
    """One attempt of a gateway to raise an alarm locally while its uplink was down."""

    __pydantic_config__ = _DESCRIBED

    at: datetime
    """Gateway clock when the attempt ended"""
    path: LocalPath
    """The local path: a Zigbee2MQTT siren or light, or an SMS"""
    ok: bool
    """Whether the siren or light answered, or the SMS gateway took it"""
    detail: Annotated[str, MaxLen(MAX_LOCAL_DETAIL)]
    """Which device or route; why it failed"""

    def encode(self) -> WireJSON:
        """The attempt as JSON, fields in wire order."""
        return {"at": self.at.isoformat(), "path": self.path, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class WireReading:
    """One reading as a gateway sends it (validated one by one: a bad reading is quarantined, not refused)."""

    __pydantic_config__ = _DESCRIBED

    seq: Annotated[int, Ge(1)]
    """Monotonic per outbox epoch"""
    device: str
    """The device's address as the gateway knows it (MAC, MQTT name)"""
    metric: str
    value: float | str
    unit: str
    measured_at: datetime | None = None
    """Device clock, if it sent one"""
    received_at: datetime
    """Gateway clock when the reading arrived"""
    context: Mapping[str, Any] | None = None
    raised_locally: Annotated[tuple[LocalAttempt, ...] | None, MaxLen(MAX_LOCAL_ATTEMPTS)] = None
    """Alarm-class readings only: how the gateway raised it locally while its uplink was down"""

    @classmethod
    def of(cls, seq: int, observation: Observation) -> WireReading:
        """The wire form of a decoded observation under sequence number `seq`."""
        value = observation.value
        return cls(
            seq=seq,
            device=observation.device_id,
            metric=observation.metric,
            # A count decodes to an int; the gateway has always sent numbers as JSON floats.
            value=value if isinstance(value, str) else float(value),
            unit=observation.unit,
            measured_at=observation.measured_at,
            received_at=observation.received_at,
            context=observation.context,
        )

    def encode(self, *, omit_empty_context: bool = False) -> WireJSON:
        """The JSON object of this reading, fields in wire order; see the module for `omit_empty_context`."""
        body = _fields(
            self.device, self.metric, self.value, self.unit, self.measured_at, self.received_at, self.context
        )
        if omit_empty_context and body["context"] is None:
            del body["context"]
        if self.raised_locally:
            body[RAISED_LOCALLY] = [attempt.encode() for attempt in self.raised_locally]
        return with_seq(self.seq, body)


def _fields(
    device: str,
    metric: str | None,
    value: float | str | None,
    unit: str | None,
    measured_at: datetime | None,
    received_at: datetime,
    context: Mapping[str, Any] | None,
) -> WireJSON:
    return {
        "device": device,
        "metric": metric,
        "value": value,
        "unit": unit,
        "measured_at": measured_at.isoformat() if measured_at else None,
        "received_at": received_at.isoformat(),
        "context": dict(context) if context else None,
    }


def observation_body(observation: Observation) -> WireJSON:
    """A reading before it has a sequence number: every field but `seq` (the gateway's outbox stores this and
    numbers it on insert; `with_seq` completes it when it is sent)."""
    body = WireReading.of(1, observation).encode()
    del body["seq"]
    return body


def unreadable_body(device: str, received_at: datetime, context: Mapping[str, Any]) -> WireJSON:
    """Input no codec could read, forwarded as a reading without seq: metric, value and unit are null, which
    the cloud quarantines as `malformed` with `context` (the reason, the raw bytes) kept for people."""
    return _fields(device, None, None, None, None, received_at, context)


def with_seq(seq: int, body: Mapping[str, Any]) -> WireJSON:
    """A stored body under its sequence number: `seq` first, then the body's fields in their order."""
    return {"seq": seq, **body}


def with_raised_locally(reading: Mapping[str, Any], attempts: Iterable[WireJSON]) -> WireJSON:
    """A reading with the gateway's local attempts to raise it (`LocalAttempt.encode` forms), the newest
    `MAX_LOCAL_ATTEMPTS`; the reading unchanged when there were none."""
    kept = list(attempts)[-MAX_LOCAL_ATTEMPTS:]
    return {**reading, RAISED_LOCALLY: kept} if kept else dict(reading)


def batch(epoch: str, readings: Iterable[WireJSON]) -> WireJSON:
    """The ingest body: the outbox epoch and its readings."""
    return {"epoch": epoch, "observations": list(readings)}


@cache
def _adapter() -> TypeAdapter[WireReading]:
    from pydantic import TypeAdapter  # the gateway sends readings without validating them (module docstring)

    return TypeAdapter(WireReading)


def decode(raw: object) -> WireReading:
    """Parse one reading strictly; raises `pydantic.ValidationError` naming the field that is wrong."""
    return _adapter().validate_python(raw)


def batch_schema(max_readings: int) -> WireJSON:
    """The JSON schema of an ingest body of at most `max_readings` readings (the OpenAPI document's)."""
    return {
        "type": "object",
        "required": ["epoch", "observations"],
        "properties": {
            "epoch": {"type": "string", "format": "uuid"},
            "observations": {"type": "array", "maxItems": max_readings, "items": _adapter().json_schema()},
        },
    }
