"""The outbox on a real SQLite file: durability across reopen and across kill -9, eviction rules, epoch and
sequence numbering."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from device_profiles import Observation
from edge.outbox import Outbox


def obs(metric: str = "body.weight", value: float = 80.0, device: str = "AA:BB") -> Observation:
    now = datetime.now(UTC)
    return Observation(device, metric, value, "kg" if metric == "body.weight" else "1", now, now)


def test_epoch_is_random_and_kept_and_sequences_increase_without_reuse(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "a.db")
    epoch = box.epoch
    first = box.append([obs(), obs()])
    assert first == [1, 2]
    box.acknowledge([2])  # deleting the newest row must not let SQLite hand out 2 again
    box.close()
    again = Outbox(tmp_path / "a.db")
    assert again.epoch == epoch
    assert again.append([obs()]) == [3]
    assert again.last_seq() == 3
    assert Outbox(tmp_path / "b.db").epoch != epoch


def test_appended_readings_survive_reopen_and_only_acknowledged_ones_leave(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    seqs = box.append([obs(value=70 + i) for i in range(10)])
    assert box.acknowledge([seqs[0], seqs[3], 999]) == 2
    box.close()
    reopened = Outbox(tmp_path / "o.db")
    left = [p.seq for p in reopened.next_batch(100)]
    assert left == [s for s in seqs if s not in (seqs[0], seqs[3])]
    assert reopened.next_batch(100)[0].wire()["value"] == 71.0
    assert reopened.counters()["uploaded"] == 2


def test_an_append_survives_kill_9_of_the_writer(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys; from datetime import UTC, datetime; from pathlib import Path\n"
        "from device_profiles import Observation; from edge.outbox import Outbox\n"
        "box = Outbox(Path(sys.argv[1])); now = datetime.now(UTC)\n"
        "box.append([Observation('AA', 'alarm.button', 1, '1', now, now)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "k.db")], check=False)
    assert done.returncode == -9
    pending = Outbox(tmp_path / "k.db").next_batch(10)
    assert [(p.seq, p.alarm, p.body["metric"]) for p in pending] == [(1, True, "alarm.button")]


def test_alarms_go_first_and_alone(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append([obs(), obs()])
    box.append([obs("alarm.button", 1)])
    box.append([obs()])
    assert [(p.seq, p.alarm) for p in box.next_batch(10)] == [(3, True)]
    box.acknowledge([3])
    assert [p.seq for p in box.next_batch(10)] == [1, 2, 4]


def test_age_eviction_removes_old_routine_readings_only_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_age_s=3600)
    box.append([obs(), obs("alarm.button", 1), obs()])
    assert box.enforce_bounds(now=time.time() + 1800) == 0
    assert box.enforce_bounds(now=time.time() + 7200) == 2
    assert [p.body["metric"] for p in box.next_batch(10)] == ["alarm.button"]
    assert box.counters()["evicted"] == 2
    assert [kind for _, kind, _ in box.events()] == ["evicted"]


def test_size_eviction_drops_the_oldest_routine_readings_until_within_bounds(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append([obs("alarm.button", 1)])
    box.append([obs(value=60 + i) for i in range(20)])
    size = box.depth().bytes
    one = size // 21
    box.max_bytes = size - 5 * one  # room for all but about five readings
    evicted = box.enforce_bounds()
    assert 5 <= evicted <= 6
    left = box.next_batch(100)
    assert left[0].body["metric"] == "alarm.button"
    box.acknowledge([left[0].seq])
    routine = [p.body["value"] for p in box.next_batch(100)]
    assert routine == [60.0 + i for i in range(evicted, 20)]  # the oldest went first
    assert box.depth().bytes <= box.max_bytes
    assert box.counters()["evicted"] == evicted


def test_alarms_are_never_evicted_even_when_they_alone_exceed_the_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=10, max_age_s=1)
    box.append([obs("alarm.button", 1) for _ in range(5)] + [obs()])
    assert box.enforce_bounds(now=time.time() + 100) == 1
    assert box.depth().alarms == 5 and box.depth().count == 5


def test_overdue_alarm_is_noted_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append([obs("alarm.button", 1), obs()])
    assert box.note_overdue_alarms(60, now=time.time() + 30) == 0
    assert box.note_overdue_alarms(60, now=time.time() + 61) == 1
    assert box.note_overdue_alarms(60, now=time.time() + 120) == 0
    assert box.counters()["alarms_overdue"] == 1
    assert "seq 1" in box.events("alarm_unacknowledged")[0][2]


def test_state_is_written_with_the_append_and_device_last_reading_kept(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append([obs(value=81)], state={"sim.cursor": "7"})
    assert box.get_state("sim.cursor") == "7"
    assert [(a, m, v) for a, m, v, _ in box.devices()] == [("AA:BB", "body.weight", 81.0)]
    assert json.loads(json.dumps(box.next_batch(1)[0].wire()))["seq"] == 1
