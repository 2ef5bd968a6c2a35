"""Replays of the welfare protocol and of the liveness rules every protocol carries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alerts.lifecycle import Event, Transition
from alerts.protocols import load_protocol
from alerts.replay import parse_readings_csv, replay
from common.timefmt import OSLO
from tests.scenarios.test_replay_heart_failure import replay_lines


def at(day: int, hour: int, minute: int = 0) -> str:
    """An Oslo wall-clock time in March 2026, ISO-8601."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=OSLO).isoformat()


def run(
    protocol: str, rows: list[tuple[str, str, float, str] | tuple[str, str, float, str, str]], until: str
) -> list[Transition]:
    """Replay rows (time, metric, value, unit[, device]) until `until`; every transition, printed or not."""
    lines = ["measured_at,metric,value,unit,device"]
    lines += [",".join(str(part) for part in (*row, "")[:5]) for row in rows]
    readings = parse_readings_csv("\n".join(lines) + "\n")
    return replay(load_protocol(protocol), readings, until=dt.datetime.fromisoformat(until).timestamp())


def of(transitions: list[Transition], rule: str) -> list[tuple[str, str, str]]:
    """(event, severity, Oslo time HH:MM on day D) of one rule's transitions, without repeats."""
    return [
        (t.event.value, t.severity.value, dt.datetime.fromtimestamp(t.at, OSLO).strftime("%d %H:%M"))
        for t in transitions
        if t.rule == rule and t.event is not Event.REPEATED
    ]


def test_alarm_button_triggers_at_once_and_never_resolves_by_itself(tmp_path: Path) -> None:
    rows = [(at(2, 14, 3), "alarm.button", 1, "1"), (at(2, 14, 20), "motion", 1, "1"), (at(3, 9), "motion", 1, "1")]
    csv = "measured_at,metric,value,unit\n" + "\n".join(",".join(str(p) for p in row) for row in rows) + "\n"
    path = tmp_path / "button.csv"
    path.write_text(csv)
    lines = replay_lines("--protocol", "welfare", "--input", str(path), "--until", at(4, 12))
    button = [line for line in lines if line["rule"] == "wf.alarm_button"]
    assert button == [
        {
            "event": "triggered",
            "rule": "wf.alarm_button",
            "class": "clinical",
            "severity": "red",
            "at": at(2, 14, 3),
            "message": "Alarm button pressed: alarm.button: 1 new",
        }
    ]


def test_a_second_press_while_open_counts_a_repeat() -> None:
    out = run("welfare", [(at(2, 14), "alarm.button", 1, "1"), (at(2, 14, 5), "alarm.button", 1, "1")], at(2, 15))
    button = [t for t in out if t.rule == "wf.alarm_button"]
    assert [t.event for t in button] == [Event.TRIGGERED, Event.REPEATED]
    assert button[-1].alert is not None and button[-1].alert.repeats == 1


def test_door_opened_at_night_but_not_in_the_daytime() -> None:
    rows = [(at(2, 15), "door.open", 1, "1"), (at(2, 15, 1), "door.open", 0, "1")]
    rows += [(at(3, 2, 10), "door.open", 1, "1"), (at(3, 2, 12), "door.open", 0, "1")]
    out = run("welfare", rows, at(3, 6))
    assert of(out, "wf.door_at_night") == [("triggered", "yellow", "03 02:10")]


def test_bed_left_at_night_and_not_back_within_30_then_60_minutes() -> None:
    rows = [(at(2, 22, 30), "bed.occupied", 1, "1")]
    rows += [(at(3, 1, 0), "bed.occupied", 0, "1"), (at(3, 1, 20), "bed.occupied", 1, "1")]  # back in 20 min
    rows += [(at(3, 3, 0), "bed.occupied", 0, "1"), (at(3, 4, 20), "bed.occupied", 1, "1")]  # out 80 min
    out = run("welfare", rows, at(3, 6))
    assert of(out, "wf.bed_not_back") == [
        ("triggered", "yellow", "03 03:30"),
        ("severity_changed", "red", "03 04:00"),
        ("resolved", "red", "03 04:20"),
    ]


def test_no_activity_for_4_hours_in_the_daytime() -> None:
    rows = [(at(2, 7, 50), "motion", 1, "1"), (at(2, 13, 5), "motion", 1, "1"), (at(2, 16), "motion", 1, "1")]
    out = run("welfare", rows, at(2, 19))
    # Quiet time counts from 08:00 (the night does not count): 4 hours later, at 12:00, the alert opens.
    assert of(out, "wf.no_activity") == [("triggered", "yellow", "02 12:00"), ("resolved", "yellow", "02 13:05")]


def test_alarm_button_supervision_counts_battery_reports_as_signs_of_life() -> None:
    rows = [(at(2, 10), "alarm.button", 0, "1", "button")]  # test press at installation
    rows += [(at(2, 10 + 6 * i), "device.battery", 80, "%", "button") for i in range(1, 3)]  # last at 22:00
    out = run("welfare", rows, at(6, 12))
    assert of(out, "live.alarm_button_silent") == [
        ("triggered", "yellow", "03 22:15"),
        ("severity_changed", "red", "05 22:15"),
    ]
    assert {t.alert_class for t in out if t.rule == "live.alarm_button_silent"} == {"liveness"}


def test_low_battery_turns_red_below_10_percent() -> None:
    rows = [(at(2, 10), "door.open", 0, "1", "door"), (at(2, 11), "device.battery", 18, "%", "door")]
    rows += [(at(4, 11), "device.battery", 9, "%", "door"), (at(5, 11), "device.battery", 100, "%", "door")]
    out = run("welfare", rows, at(5, 12))
    assert of(out, "live.low_battery") == [
        ("triggered", "yellow", "02 11:00"),
        ("severity_changed", "red", "04 11:00"),
        ("resolved", "red", "05 11:00"),
    ]


def test_missed_morning_weight_is_data_quality_and_resolves_when_weighed() -> None:
    rows = [(at(2, 7), "body.weight", 80.0, "kg"), (at(4, 7), "body.weight", 80.1, "kg")]
    out = run("heart_failure", rows, at(4, 8))
    assert of(out, "hf.missed_weight") == [("triggered", "yellow", "03 11:00"), ("resolved", "yellow", "04 07:00")]
    assert {t.alert_class for t in out if t.rule == "hf.missed_weight"} == {"data_quality"}
