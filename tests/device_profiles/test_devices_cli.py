"""`tryggheim profiles list/show/docs` and decoding advertisements and MQTT payloads from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from device_vectors import BUTTON_PRESS, MISCALE_V1_STABLE, MISCALE_V2_STABLE
from typer.testing import CliRunner

from tryggheim.commands.profiles import app

runner = CliRunner()


def test_list_and_show() -> None:
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0
    assert "shelly-blu-button1" in listed.stdout and "(unverified)" in listed.stdout
    shown = runner.invoke(app, ["show", "aqara-door-window-t1-mccgq12lm"])
    entry = json.loads(shown.stdout)
    assert entry["extends"] == "aqara-door-window-mccgq11lm"
    assert entry["mapping"]["fields"]["contact"]["metric"] == "door.open"
    assert runner.invoke(app, ["show", "nope"]).exit_code == 2


@pytest.mark.parametrize(
    ("fmt", "hex_text", "readings"),
    [
        ("bthome_v2", BUTTON_PRESS, {"device.battery": 100, "alarm.button": 1}),
        ("xiaomi_miscale_v1", MISCALE_V1_STABLE, {"body.weight": 71.5}),
        ("xiaomi_miscale_v2", MISCALE_V2_STABLE, {"body.weight": 71.5, "body.impedance": 500}),
        ("xiaomi_miscale_v2", "02 02 E907010F071E05 F401 DC37", {}),
    ],
)
def test_decode_advertisement(fmt: str, hex_text: str, readings: dict[str, float]) -> None:
    result = runner.invoke(app, ["decode", "--format", fmt, "--hex", hex_text.replace(" ", "")])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {o["metric"]: o["value"] for o in payload["observations"]} == readings
    assert set(payload) == {"observations", "context"}


@pytest.mark.parametrize(
    ("hex_text", "message"),
    [("44002A01", "object 0x01 truncated"), ("64002A", "unknown BTHome version 3")],
)
def test_bad_bthome_exits_2_with_one_line(hex_text: str, message: str) -> None:
    result = runner.invoke(app, ["decode", "--format", "bthome_v2", "--hex", hex_text])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_unknown_object_id_keeps_what_came_before() -> None:
    result = runner.invoke(app, ["decode", "--format", "bthome_v2", "--hex", "44002A0164FE013A01"])
    payload = json.loads(result.stdout)
    assert [o["metric"] for o in payload["observations"]] == ["device.battery"]


def test_decode_mqtt_payload() -> None:
    args = ["decode", "--profile", "aqara-water-leak-e1-sjcgq13lm", "--json", '{"water_leak": true}']
    result = runner.invoke(app, [*args, "--topic", "zigbee2mqtt/kitchen_leak"])
    assert json.loads(result.stdout)["observations"][0] == {
        "metric": "water.leak",
        "value": 1,
        "unit": "1",
        "measured_at": None,
    }
    assert runner.invoke(app, [*args, "--topic", "zigbee2mqtt/kitchen_leak/set"]).exit_code == 2
    assert runner.invoke(app, ["decode", "--profile", "aqara-water-leak-e1-sjcgq13lm", "--json", "[1]"]).exit_code == 2
    assert runner.invoke(app, ["decode", "--profile", "omron-evolv-hem-7600t", "--json", "{}"]).exit_code == 2


def test_docs_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "devices.md"
    assert runner.invoke(app, ["docs", "--output", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# Supported devices")
