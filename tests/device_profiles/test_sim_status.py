"""The simulator's device status flags: the blood-pressure monitor's and oximeter's status fields decode,
through the real codecs, to exactly the readings and context the simulator meant (with `pulse.irregular` in
the blood-pressure event); the flags come at their rates; only a flagged reading's value moves."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from device_profiles import Observation, decode_characteristic
from device_profiles.quality import doubtful_reasons
from device_profiles.sim import HomeSimulator, SimEvent
from device_profiles.sim.scenarios import ColdFinger
from device_profiles.sim.status import DeviceStatus

START = datetime(2026, 1, 5, tzinfo=UTC)
ONCE = DeviceStatus(remeasure=0.0)  # rates per reading, without the careful second measurement
STATUS_KEYS = ("measurement_status", "device_sensor_status")


def _cold_fingers(days: int) -> tuple[ColdFinger, ...]:
    return tuple(ColdFinger(date(2026, 1, 5) + timedelta(days=n), 4, slot=n % 2) for n in range(0, days, 3))


def _events(days: int, role: str, **home: object) -> list[SimEvent]:
    sim = HomeSimulator(21, START, scenarios=_cold_fingers(days), **home)  # type: ignore[arg-type]
    return [e for e in sim.events(until=START + timedelta(days=days)) if e.device.role == role]


def _metric(observation: Observation) -> str:
    return observation.metric


def _flags(event: SimEvent, field: str = "measurement_status") -> list[str]:
    found = event.observations[0].context[field]
    return list(found["flags"] if isinstance(found, dict) else found)  # type: ignore[call-overload]


@pytest.mark.parametrize("atrial_fibrillation", [False, True])
def test_status_payloads_decode_to_the_readings_and_context_the_simulator_meant(atrial_fibrillation: bool) -> None:
    sim = HomeSimulator(9, START, scenarios=_cold_fingers(30), status=ONCE, atrial_fibrillation=atrial_fibrillation)
    events = [e for e in sim.events(until=START + timedelta(days=30)) if e.payload.kind == "gatt"]
    seen: Counter[str] = Counter()
    for event in events:
        assert event.payload.characteristic is not None
        decoded = decode_characteristic(event.payload.characteristic, event.payload.data,
                                        device_id=event.device.address, received_at=event.at).observations  # fmt: skip
        assert {(o.metric, float(o.value), o.measured_at) for o in decoded} == {
            (o.metric, float(o.value), o.measured_at) for o in event.observations
        }, event
        for ours, theirs in zip(sorted(event.observations, key=_metric), sorted(decoded, key=_metric), strict=True):
            assert {k: theirs.context.get(k) for k in STATUS_KEYS} == {k: ours.context.get(k) for k in STATUS_KEYS}
        if event.device.role == "blood_pressure":
            seen.update(_flags(event))
    irregular = [o for e in events for o in e.observations if o.metric == "pulse.irregular"]
    assert len(irregular) == 60 and {o.value for o in irregular} <= {0, 1}
    assert (seen["irregular_pulse"] > 40) is atrial_fibrillation


def test_flags_come_at_their_rates() -> None:
    days = 240
    af = _events(days, "blood_pressure", status=ONCE, atrial_fibrillation=True)
    sinus = _events(days, "blood_pressure", status=ONCE)
    share = {name: sum(name in _flags(e) for e in sinus) / len(sinus) for name in
             ("body_movement", "cuff_too_loose", "improper_position", "irregular_pulse")}  # fmt: skip
    assert share == pytest.approx(
        {"body_movement": 0.03, "cuff_too_loose": 0.02, "improper_position": 0.02, "irregular_pulse": 0.02}, abs=0.012
    )
    assert sum("irregular_pulse" in _flags(e) for e in af) / len(af) == pytest.approx(0.93, abs=0.02)
    spots = _events(days, "oximeter", status=ONCE)
    cold_slots = {(c.on, c.slot) for c in _cold_fingers(days)}
    cold = [e for e in spots if (e.at.date(), 0 if e.at.hour < 14 else 1) in cold_slots]
    assert len(cold) == len(cold_slots)
    assert sum("low_perfusion" in _flags(e, "device_sensor_status") for e in cold) / len(cold) == pytest.approx(
        0.70, abs=0.08
    )
    cold_indexes = {e.index for e in cold}
    warm = [e for e in spots if e.index not in cold_indexes]
    assert not any("low_perfusion" in _flags(e, "device_sensor_status") for e in warm)
    moving = [e for e in warm if _flags(e, "device_sensor_status")]
    assert len(moving) / len(warm) == pytest.approx(0.01, abs=0.006)
    assert all(_flags(e) == ["questionable_measurement"] for e in moving)


def test_only_flagged_readings_move_and_the_plain_home_sends_no_status() -> None:
    plain = _events(60, "blood_pressure")
    flagged = _events(60, "blood_pressure", status=DeviceStatus(body_movement=0.2, cuff_too_loose=0.2, remeasure=0.0))
    assert [e.at for e in plain] == [e.at for e in flagged]
    assert all(e.payload.data[0] == 0x06 and not e.observations[0].context for e in plain)
    loose_rises = []
    for before, after in zip(plain, flagged, strict=True):
        values = ({o.metric: o.value for o in before.observations}, {o.metric: o.value for o in after.observations})
        technique = set(_flags(after)) - {"irregular_pulse"}
        if not technique:
            assert values[1] == {**values[0], "pulse.irregular": int("irregular_pulse" in _flags(after))}
        elif technique == {"cuff_too_loose"}:
            loose_rises.append(float(values[1]["bp.systolic"]) - float(values[0]["bp.systolic"]))
    assert loose_rises and all(5 <= rise <= 15 for rise in loose_rises)


def test_a_doubtful_reading_is_measured_again_carefully_when_the_person_complies() -> None:
    always = DeviceStatus(body_movement=0.2, cuff_too_loose=0.2, low_perfusion_cold=1.0, remeasure=1.0)
    for role in ("blood_pressure", "oximeter"):
        events = _events(60, role, status=always)
        doubtful = [e for e in events if any(doubtful_reasons(o.context) for o in e.observations)]
        assert doubtful
        for event in doubtful:
            [again] = [e for e in events if event.at < e.at <= event.at + timedelta(minutes=10)]
            assert again.at >= event.at + timedelta(minutes=3)
            assert not any(doubtful_reasons(o.context) for o in again.observations)
        never = _events(60, role, status=dataclasses.replace(always, remeasure=0.0))
        assert len(events) == len(never) + len(doubtful)


def test_rates_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match="cuff_too_loose"):
        DeviceStatus(cuff_too_loose=1.5)
