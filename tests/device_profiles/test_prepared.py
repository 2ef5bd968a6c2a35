"""The JSON catalogue the gateway loads is the YAML catalogue, to the byte (device_profiles/prepared.py)."""

from __future__ import annotations

from importlib.resources import files

from device_profiles.device_catalogue import load_devices, parse_devices
from device_profiles.metrics import load_catalogue, parse_catalogue
from device_profiles.prepared import PREPARED, prepared_text


def test_prepared_json_is_the_yaml_of_today() -> None:
    committed = files("device_profiles").joinpath(PREPARED).read_text(encoding="utf-8")
    assert committed == prepared_text(), "the catalogue YAML changed: run `tryggheim profiles prepare`"


def test_catalogues_loaded_from_json_equal_those_parsed_from_yaml() -> None:
    package = files("device_profiles")
    documents = sorted(
        (item.name, item.read_text(encoding="utf-8"))
        for item in package.joinpath("devices").iterdir()
        if item.name.endswith(".yaml")
    )
    from_yaml = parse_devices(documents)
    assert from_yaml.entries == load_devices().entries
    assert list(from_yaml.entries) == list(load_devices().entries)
    assert from_yaml.families == load_devices().families
    metrics = parse_catalogue(package.joinpath("metrics.yaml").read_text(encoding="utf-8"))
    assert metrics.metrics == load_catalogue().metrics
    assert metrics.panels == load_catalogue().panels
