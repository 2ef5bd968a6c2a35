"""Turning decoded fields into Observations and the decode context, the same way for every characteristic.

Rules kept here so each decoder cannot get them wrong: a special value (NaN, NRes, INF, reserved) or a
"measurement unsuccessful" sentinel yields no observation and is listed in `context["not_readings"]`;
values are converted to the catalogue's canonical unit without inventing precision; reserved flag bits
and trailing octets are noted, never rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from device_profiles.medfloat import MedFloat
from device_profiles.metrics import Catalogue, load_catalogue
from device_profiles.numbers import JSONValue, digit_count, plain, significant
from device_profiles.observation import Observation
from device_profiles.sig._layout import Packet

# A converted value keeps the digits the device sent plus one, so the conversion neither
# invents precision nor loses any.
_EXTRA_DIGITS = 1


@dataclass(frozen=True, slots=True)
class Decoded:
    """The result of decoding one payload: the readings and what qualifies them."""

    observations: tuple[Observation, ...]
    context: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class DecodeEnv:
    """What a decoder needs besides the bytes: who sent them, when they arrived, the device's time zone."""

    device_id: str
    received_at: datetime
    zone: ZoneInfo


@dataclass(slots=True)
class _Pending:
    metric: str
    value: int | float
    unit: str
    measured_at: datetime | None
    extra: dict[str, JSONValue]


@dataclass(slots=True)
class Collector:
    """Accumulates the readings and the context of one payload."""

    env: DecodeEnv
    catalogue: Catalogue = field(default_factory=load_catalogue)
    context: dict[str, JSONValue] = field(default_factory=dict)
    not_readings: list[JSONValue] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)

    def medfloat(
        self,
        metric: str,
        value: MedFloat | None,
        unit: str,
        *,
        source: str,
        measured_at: datetime | None,
        extra: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """Record an SFLOAT/FLOAT reading of `metric` sent in `unit`; specials become not-readings."""
        if value is None:
            return
        if value.special is not None:
            self.not_reading(source, value.special, metric, extra)
            return
        exact = value.value
        assert exact is not None  # a MedFloat without a special always has a value
        self.quantity(metric, exact, value.digits, unit, measured_at=measured_at, extra=extra)

    def fixed(
        self,
        metric: str,
        raw: int | None,
        resolution: Decimal,
        unit: str,
        *,
        source: str,
        measured_at: datetime | None,
        unsuccessful: int | None = None,
        extra: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """Record an integer field with a fixed resolution; `unsuccessful` is the sentinel raw value."""
        if raw is None:
            return
        if raw == unsuccessful:
            self.not_reading(source, "measurement_unsuccessful", metric, extra)
            return
        self.quantity(metric, raw * resolution, digit_count(raw), unit, measured_at=measured_at, extra=extra)

    def quantity(
        self,
        metric: str,
        value: Decimal,
        digits: int,
        unit: str,
        *,
        measured_at: datetime | None,
        extra: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """Record an exact value with the significant digits it was sent with."""
        canonical = self.catalogue[metric].unit
        converted = self.catalogue.to_canonical(metric, value, unit)
        if unit != canonical:
            converted = significant(converted, digits + _EXTRA_DIGITS)
        self._pending.append(_Pending(metric, plain(converted), canonical, measured_at, dict(extra or {})))

    def not_reading(
        self,
        source: str,
        reason: str,
        metric: str | None = None,
        extra: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """List a field that carries no reading, and why."""
        entry: dict[str, JSONValue] = {"field": source, "reason": reason}
        if metric is not None:
            entry["metric"] = metric
        entry.update(extra or {})
        self.not_readings.append(entry)

    def medfloat_context(self, key: str, value: MedFloat | None, *, unit: str | None = None) -> None:
        """Put an SFLOAT/FLOAT that is no observation into the context; a special is also a not-reading."""
        if value is None:
            return
        if value.special is not None:
            self.not_reading(key, value.special)
        number = json_number(value)
        self.context[key] = number if unit is None else {"value": number, "unit": unit}

    def layout_notes(self, packet: Packet, data: bytes, *, consumed: int | None = None) -> None:
        """Note reserved flag bits and octets after the announced fields (both are ignored)."""
        if packet.reserved_flags:
            self.context["reserved_flags"] = f"0x{packet.reserved_flags:X}"
        end = packet.end if consumed is None else consumed
        if len(data) > end:
            self.context["trailing_octets"] = data[end:].hex().upper()

    def result(self) -> Decoded:
        """The observations (each carrying the shared context plus its own) and the payload context."""
        self.context["not_readings"] = self.not_readings
        shared = {key: value for key, value in self.context.items() if key != "not_readings"}
        observations = tuple(
            Observation(
                device_id=self.env.device_id,
                metric=p.metric,
                value=p.value,
                unit=p.unit,
                measured_at=p.measured_at,
                received_at=self.env.received_at,
                context={**shared, **p.extra},
            )
            for p in self._pending
        )
        return Decoded(observations=observations, context=self.context)


def json_number(value: MedFloat | None) -> JSONValue:
    """A context value for an SFLOAT/FLOAT that is not an observation: the number, or the special's name."""
    if value is None:
        return None
    exact = value.value
    return value.special if exact is None else plain(exact)
