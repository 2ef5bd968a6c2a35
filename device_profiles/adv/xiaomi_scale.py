"""Xiaomi scale advertisements (Mi Scale v1 on 0x181D, Body Composition Scale on 0x181B) through xiaomi-ble.

xiaomi-ble reports a weight only when the frame says it is stabilised, not removed and above zero, and an
impedance only when that is stable too; everything else (the moving weight while someone steps on) stays in
the context. The scale repeats its final frame many times and sends the impedance in a later frame, so a
`ScaleState` remembers the weighing already reported: one weight per weighing, and one impedance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from device_profiles.adv._deferred import import_parser
from device_profiles.adv._envelope import UNKNOWN_ADDRESS, service_info
from device_profiles.adv._readings import observations, sensor_readings
from device_profiles.errors import DecodeError
from device_profiles.numbers import JSONValue
from device_profiles.sig import Decoded

if TYPE_CHECKING:
    from xiaomi_ble import XiaomiBluetoothDeviceData
else:  # the parser module alone, not the package (_envelope.submodule_alone says why)
    XiaomiBluetoothDeviceData = import_parser("xiaomi_ble", "parser", alone=True).XiaomiBluetoothDeviceData


@dataclass(frozen=True, slots=True)
class _Layout:
    source: str
    uuid: int
    length: int
    weight: slice
    stamp: slice


_LAYOUTS: Final = {
    1: _Layout("xiaomi miscale v1", 0x181D, 10, slice(1, 3), slice(3, 10)),
    2: _Layout("xiaomi miscale v2", 0x181B, 13, slice(11, 13), slice(2, 9)),
}
_METRICS: Final = {"mass": "body.weight", "impedance": "body.impedance"}
_CONTEXT_ONLY: Final = frozenset({"signal_strength"})
# Frames of one weighing carry clock times a few seconds apart.
_SAME_WEIGHING_S = 60


@dataclass(frozen=True, slots=True)
class ScaleState:
    """The weighing last reported: its raw weight octets and device clock, and whether its impedance was."""

    weight_raw: bytes | None = None
    stamp: bytes | None = None
    impedance_sent: bool = False


def decode_xiaomi_scale(
    data: bytes, state: ScaleState, *, version: Literal[1, 2], device_id: str, received_at: datetime
) -> tuple[Decoded, ScaleState]:
    """Decode one scale frame (service data without the UUID) and return the readings and the new state."""
    layout = _LAYOUTS[version]
    data = bytes(data)
    if len(data) != layout.length:
        raise DecodeError(layout.source, data, layout.length, reason="wrong length")
    update = XiaomiBluetoothDeviceData().update(service_info(layout.uuid, data, address=UNKNOWN_ADDRESS))
    readings, unmapped = sensor_readings(update, _METRICS, _CONTEXT_ONLY)

    weight_raw, stamp = data[layout.weight], data[layout.stamp]
    same = state.weight_raw == weight_raw and state.stamp is not None and _close(state.stamp, stamp)
    has_weight = any(r.metric == "body.weight" for r in readings)
    has_impedance = any(r.metric == "body.impedance" for r in readings)
    dropped = {"body.weight"} if same else set()
    if same and state.impedance_sent:
        dropped.add("body.impedance")
    kept = [r for r in readings if r.metric not in dropped]
    new_state = state
    if has_weight:
        new_state = ScaleState(
            weight_raw=weight_raw,
            stamp=stamp if not same else state.stamp,
            impedance_sent=(same and state.impedance_sent) or has_impedance,
        )

    context: dict[str, JSONValue] = {
        "stabilised": has_weight,
        "unmapped": unmapped,
        "not_readings": [{"field": metric, "reason": "already_reported"} for metric in sorted(dropped)],
    }
    shared: dict[str, JSONValue] = {"device_time": _device_time(stamp)}
    context.update(shared)
    return Decoded(observations(kept, device_id=device_id, received_at=received_at, context=shared), context), new_state


def _device_time(stamp: bytes) -> str | None:
    """The scale's clock (year LE, month, day, hour, minute, second) as ISO text; None when not a valid time."""
    try:
        moment = datetime(int.from_bytes(stamp[0:2], "little"), *stamp[2:7])  # noqa: DTZ001 - a local wall clock
    except ValueError:
        return None
    return moment.isoformat()


def _close(earlier: bytes, later: bytes) -> bool:
    """True when two frame clocks belong to one weighing; identical octets when a clock is not valid."""
    first, second = _device_time(earlier), _device_time(later)
    if first is None or second is None:
        return earlier == later
    gap = datetime.fromisoformat(second) - datetime.fromisoformat(first)
    return abs(gap.total_seconds()) <= _SAME_WEIGHING_S


__all__ = ["ScaleState", "decode_xiaomi_scale"]
