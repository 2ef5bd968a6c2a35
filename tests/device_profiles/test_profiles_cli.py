"""`tryggheim profiles decode`: the acceptance examples of issue 3 and the exit-2 contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tryggheim.commands.profiles import app

runner = CliRunner()
TRYGGHEIM = str(Path(sys.executable).with_name("tryggheim"))


def run(fmt: str, hex_text: str) -> tuple[int, dict[str, object] | None, str]:
    result = runner.invoke(app, ["decode", "--format", fmt, "--hex", hex_text])
    payload = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, payload, result.stderr


@pytest.mark.parametrize(
    ("fmt", "hex_text", "expected"),
    [
        ("sfloat", "7200", {"value": 114, "special": None}),
        ("sfloat", "FF07", {"value": None, "special": "NaN"}),
        ("sfloat", "0008", {"value": None, "special": "NRes"}),
        ("SFLOAT", "fe07", {"value": None, "special": "+INF"}),
        ("sfloat", "14F0", {"value": 2.0, "special": None}),
        ("float", "6C0100FF", {"value": 36.4, "special": None}),
        ("float", "FFFF7F00", {"value": None, "special": "NaN"}),
        ("float", "FFFFFF7F", {"value": -1e127, "special": None}),
    ],
)
def test_numbers(fmt: str, hex_text: str, expected: dict[str, object]) -> None:
    code, payload, _ = run(fmt, hex_text)
    assert code == 0
    assert payload == expected


def test_float_prints_clean_decimals() -> None:
    result = runner.invoke(app, ["decode", "--format", "float", "--hex", "6C0100FF"])
    assert result.stdout.strip() == '{"value": 36.4, "special": null}'


def test_blood_pressure_mmhg() -> None:
    code, payload, _ = run("0x2A35", "00720050005A00")
    assert code == 0
    assert payload is not None
    assert payload["observations"] == [
        {"metric": "bp.systolic", "value": 114, "unit": "mm[Hg]", "measured_at": None},
        {"metric": "bp.diastolic", "value": 80, "unit": "mm[Hg]", "measured_at": None},
        {"metric": "bp.mean", "value": 90, "unit": "mm[Hg]", "measured_at": None},
    ]
    assert payload["context"] == {"unit_sent": "mm[Hg]", "not_readings": []}


def test_blood_pressure_kpa_in_canonical_units() -> None:
    code, payload, _ = run("0x2a35", "01A0F06BF078F0")
    assert code == 0
    assert payload is not None
    observations = payload["observations"]
    assert isinstance(observations, list)
    got = {o["metric"]: o["value"] for o in observations}
    assert {o["unit"] for o in observations} == {"mm[Hg]"}
    for metric, expected in (("bp.systolic", 120.0), ("bp.diastolic", 80.3), ("bp.mean", 90.0)):
        assert abs(got[metric] - expected) <= 0.1


@pytest.mark.parametrize(
    ("fmt", "hex_text", "needle"),
    [
        ("0x2A35", "007200", "required 7"),
        ("0x2A35", "", "required 1"),
        ("0x2A35", "zz", "--hex"),
        ("0x2A35", "123", "--hex"),
        ("0xFFFF", "00", "no decoder"),
        ("blood", "00", "--format"),
        ("sfloat", "00", "required 2"),
        ("float", "000000", "required 4"),
    ],
)
def test_errors_exit_2_with_one_stderr_line(fmt: str, hex_text: str, needle: str) -> None:
    code, _, stderr = run(fmt, hex_text)
    assert code == 2
    assert stderr.count("\n") == 1
    assert needle in stderr


def test_structural_error_message_names_characteristic_and_lengths() -> None:
    _, _, stderr = run("0x2A35", "007200")
    assert "Blood Pressure Measurement (0x2A35)" in stderr
    assert "received 3 octets 007200" in stderr
    assert "required 7" in stderr


def test_unknown_zone_exits_2() -> None:
    result = runner.invoke(app, ["decode", "--format", "0x2A35", "--hex", "00720050005A00", "--zone", "Mars/Base"])
    assert result.exit_code == 2


def test_device_zone_is_applied() -> None:
    stamp = "E8070115 0C0000"  # 2024-01-21 12:00:00 device time
    args = ["decode", "--format", "0x2A35", "--hex", "02720050005A00" + stamp.replace(" ", "")]
    oslo = json.loads(runner.invoke(app, args).stdout)
    utc = json.loads(runner.invoke(app, [*args, "--zone", "UTC"]).stdout)
    assert oslo["observations"][0]["measured_at"] == "2024-01-21T12:00:00+01:00"
    assert utc["observations"][0]["measured_at"] == "2024-01-21T12:00:00+00:00"


@pytest.mark.slow
def test_through_the_installed_command() -> None:
    done = subprocess.run(
        [TRYGGHEIM, "profiles", "decode", "--format", "0x2A35", "--hex", "007200"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1
