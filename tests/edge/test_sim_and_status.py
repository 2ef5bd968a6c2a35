"""The shared simulator (deterministic, payloads the real codecs decode, scenarios), the simulator source's
decoding, and `tryggheim edge status` reading an outbox that another process holds open."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_profiles import DecodeError
from device_profiles.sim import HomeSimulator
from device_profiles.sim.scenarios import WeightGain
from edge.config import ScenarioConfig, SimulatorConfig
from edge.outbox import Outbox
from edge.sink import Sink
from edge.sources.simulator import CURSOR, build_simulator, decode, run_simulator
from tests.support.proc import run_cli

START = datetime(2026, 3, 1, tzinfo=UTC)


def _days(sim: HomeSimulator, days: int) -> list:  # type: ignore[type-arg]
    return list(sim.events(until=START + timedelta(days=days)))


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first, again, other = (_days(HomeSimulator(seed, START), 3) for seed in (5, 5, 6))
    assert first == again
    assert [e.at for e in first] != [e.at for e in other]
    assert [e.index for e in first] == list(range(len(first)))
    roles = {e.device.role for e in first}
    assert roles == {"scale", "blood_pressure", "oximeter", "door", "motion"}  # the button waits for a press


def test_gatt_payloads_decode_to_the_readings_the_simulator_meant() -> None:
    received = datetime.now(UTC)
    for event in _days(HomeSimulator(9, START), 2):
        decoded = {(o.metric, float(o.value), o.measured_at) for o in decode(event, received)}
        meant = {(o.metric, float(o.value), o.measured_at) for o in event.observations}
        assert decoded == meant, event
        assert all(o.context["sim_event"] == event.index for o in decode(event, received))


def test_scenarios_weight_gain_alarm_press_and_garbage() -> None:
    gain = HomeSimulator(3, START, scenarios=(WeightGain(START + timedelta(days=10), kg_per_day=0.5),))
    weights = [e.observations[0].value for e in _days(gain, 20) if e.device.role == "scale"]
    assert float(weights[-1]) - float(weights[5]) > 2.5  # 3.5 kg over the seven days, well above the noise
    press_at = START + timedelta(days=1, hours=3, minutes=7)
    config = SimulatorConfig(seed=3, alarm_presses=(press_at.isoformat(),), garbage_at=((press_at + timedelta(
        minutes=1)).isoformat(),))  # fmt: skip
    events = _days(build_simulator(config, START), 2)
    press = [e for e in events if e.device.role == "button"]
    assert [(e.at, e.observations[0].metric) for e in press] == [(press_at, "alarm.button")]
    assert press[0].payload.kind == "bthome" and press[0].payload.data[-2:] == b"\x3a\x01"
    garbage = next(e for e in events if e.malformed)
    with pytest.raises(DecodeError):
        decode(garbage, datetime.now(UTC))


def test_status_reads_a_live_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")  # held open, as by a running agent
    event = next(e for e in _days(HomeSimulator(4, START), 1) if e.device.role == "scale")
    Sink(outbox, None, None).observations(decode(event, datetime.now(UTC)))
    Sink(outbox, None, None).malformed("AA:AA", b"\xff", "too short")
    outbox.enforce_bounds(now=datetime.now(UTC).timestamp() + 31 * 86400)
    outbox.append(decode(event, datetime.now(UTC)))
    config = tmp_path / "gateway.toml"
    config.write_text('cloud_url = "https://c.example"\ngateway_id = "g"\ncredential_file = "cred"\n'
                      'outbox_path = "outbox.db"\n')  # fmt: skip
    shown = run_cli("edge", "status", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "outbox depth: 1 waiting" in shown.stdout
    assert "evicted: 2" in shown.stdout and "malformed input: 1" in shown.stdout
    assert f"{event.device.address}: body.weight = {float(event.observations[0].value)}" in shown.stdout
    assert "last successful upload: never" in shown.stdout
    missing = run_cli("edge", "status", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "no such config file" in missing.stderr


def test_configured_changes_in_the_person_move_the_readings() -> None:
    config = SimulatorConfig(seed=3, scenarios=(
        ScenarioConfig(kind="weight_gain", start=(START + timedelta(days=5)).isoformat(), days=3, kg_per_day=1.0),
        ScenarioConfig(kind="vital_shift", start=(START + timedelta(days=5)).isoformat(), days=3, spo2=-6.0),
    ))  # fmt: skip
    events = _days(build_simulator(config, START), 10)
    plain = _days(HomeSimulator(3, START), 10)
    late = START + timedelta(days=8, hours=12)

    def mean(stream: list, metric: str, after: bool) -> float:  # type: ignore[type-arg]
        values = [float(o.value) for e in stream for o in e.observations
                  if o.metric == metric and (e.at > late) == after]  # fmt: skip
        return sum(values) / len(values)

    assert mean(events, "body.weight", True) - mean(plain, "body.weight", True) == pytest.approx(3.0, abs=0.01)
    assert mean(events, "spo2", True) < mean(plain, "spo2", True) - 4
    before = START + timedelta(days=5)
    assert [e for e in events if e.at < before] == [e for e in plain if e.at < before]  # nothing moved earlier


def test_a_history_before_live_from_is_played_at_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # Two days of history, then a clock at real speed: nothing of the future is played within the test.
    config = SimulatorConfig(enabled=True, seed=5, start=(now - timedelta(days=2)).isoformat(),
                             live_from=now.isoformat(), speed=1.0)  # fmt: skip
    due = [e for e in build_simulator(config, now - timedelta(days=2)).events(until=now)]
    outbox = Outbox(tmp_path / "outbox.db")

    async def play() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_simulator(config, Sink(outbox, None, None), stop))
        for _ in range(200):
            if int(outbox.get_state(CURSOR) or 0) >= len(due):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await task

    asyncio.run(play())
    assert len(due) > 50 and int(outbox.get_state(CURSOR) or 0) == len(due)
