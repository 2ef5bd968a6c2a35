"""TRYGGHEIM_EDGE_* variables override the TOML file as they did under pydantic-settings (edge/environment.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import load_config, toml_text


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    values = {"cloud_url": "https://cloud.example", "gateway_id": "g-1", "credential_file": "credential",
              "outbox_path": "outbox.db", "batch_max": 100}  # fmt: skip
    path.write_text(toml_text(values) + '[ble]\nenabled = false\nadapter = "hci1"\n', encoding="utf-8")
    return path


def test_environment_wins_over_the_file_field_by_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRYGGHEIM_EDGE_BATCH_MAX", "7")
    monkeypatch.setenv("TRYGGHEIM_EDGE_BLE__ENABLED", "true")
    monkeypatch.setenv("tryggheim_edge_mqtt__port", "1884")  # names in any case
    monkeypatch.setenv("TRYGGHEIM_EDGE_BLE__BIND_KEYS", '{"AA:BB:CC:DD:EE:FF": "00112233445566778899aabbccddeeff"}')
    monkeypatch.setenv("TRYGGHEIM_EDGE_SIMULATOR__ALARM_PRESSES", '["2026-12-04T08:00:00+00:00"]')
    monkeypatch.setenv("TRYGGHEIM_EDGE_NO_SUCH_FIELD", "ignored")
    config = load_config(_config_file(tmp_path))
    assert config.batch_max == 7 and config.mqtt.port == 1884
    assert config.ble.enabled is True and config.ble.adapter == "hci1"  # the file's other ble value is kept
    assert config.ble.bind_keys == {"AA:BB:CC:DD:EE:FF": "00112233445566778899aabbccddeeff"}
    assert config.simulator.alarm_presses == ("2026-12-04T08:00:00+00:00",)
    assert config.outbox_path == tmp_path / "outbox.db"


def test_a_bad_value_in_the_environment_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRYGGHEIM_EDGE_BLE__BIND_KEYS", "not json")
    with pytest.raises(ValidationError) as caught:
        load_config(_config_file(tmp_path))
    assert caught.value.errors()[0]["loc"] == ("ble", "bind_keys")
