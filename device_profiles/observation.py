"""`Observation`: one reading, the unit of exchange between the edge agent and the cloud."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

# Numbers (int included) for quantities, events and ordinals; labels for states such as ACVPU.
ObservationValue = float | str


def _frozen_context() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Observation:
    """One reading of one metric from one device.

    `measured_at` is the device's own clock, kept only when the device sent a usable time (None otherwise);
    `received_at` is the gateway clock when the bytes arrived. The cloud adds `stored_at` on its side. The
    three are kept apart because a reading's provenance decides whether it may be trusted.
    `context` holds what qualifies the reading: body position, cuff location, status flags, raw values.
    """

    device_id: str
    metric: str
    value: ObservationValue
    unit: str
    measured_at: datetime | None
    received_at: datetime
    context: Mapping[str, object] = field(default_factory=_frozen_context, hash=False)

    def __post_init__(self) -> None:
        for name in ("measured_at", "received_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"Observation.{name} must be timezone-aware, got {moment!r}")
        if not isinstance(self.context, MappingProxyType):
            object.__setattr__(self, "context", MappingProxyType(dict(self.context)))
