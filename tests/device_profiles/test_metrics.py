"""The metric catalogue: required keys and units, validation at load, the conversion table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from device_profiles import CatalogueError, UnitError, load_catalogue, parse_catalogue

REQUIRED_UNITS = {
    "bp.systolic": "mm[Hg]",
    "bp.diastolic": "mm[Hg]",
    "bp.mean": "mm[Hg]",
    "bp.cuff_pressure": "mm[Hg]",
    "heart_rate": "/min",
    "spo2": "%",
    "body.temperature": "Cel",
    "body.weight": "kg",
    "body.height": "m",
    "body.bmi": "kg/m2",
    "body.fat": "%",
    "body.impedance": "Ohm",
    "blood.glucose": "mmol/L",
    "resp.rate": "/min",
    "ambient.temperature": "Cel",
    "ambient.humidity": "%",
    "device.battery": "%",
    "device.rssi": "dB[mW]",
}
EVENTS_AND_STATES = [
    "alarm.button",
    "fall.detected",
    "door.open",
    "motion",
    "bed.occupied",
    "water.leak",
    "power.on",
]
ORDINALS = ["symptom.dyspnoea", "symptom.oedema", "symptom.wellbeing", "cat.score"]


def test_required_metrics_with_their_units() -> None:
    catalogue = load_catalogue()
    for key, unit in REQUIRED_UNITS.items():
        assert catalogue[key].unit == unit, key
    for key in EVENTS_AND_STATES:
        assert catalogue[key].unit == "1"
        assert catalogue[key].kind in ("event", "state")
    for key in ORDINALS:
        assert catalogue[key].kind == "ordinal"
    assert catalogue["consciousness"].levels == ("A", "C", "V", "P", "U")
    assert catalogue["consciousness"].kind == "state"
    assert catalogue["oxygen.supplemental"].kind == "state"


def test_every_metric_has_names_kind_and_range_or_levels() -> None:
    for metric in load_catalogue().metrics.values():
        assert metric.names.nb and metric.names.en
        assert (metric.range is None) != (metric.levels is None)


def test_safety_critical_events_are_alarms_and_cuff_pressure_is_transient() -> None:
    catalogue = load_catalogue()
    assert catalogue["alarm.button"].urgency == "alarm"
    assert catalogue["fall.detected"].urgency == "alarm"
    assert catalogue["bp.cuff_pressure"].transient
    assert not catalogue["bp.systolic"].transient


def test_vital_codes() -> None:
    catalogue = load_catalogue()
    systolic = catalogue["bp.systolic"]
    assert (systolic.loinc, systolic.snomed) == ("8480-6", "271649006")
    assert systolic.mdc is not None and systolic.mdc.code == 150021
    assert catalogue["spo2"].loinc == "2708-6"
    assert catalogue["body.weight"].loinc == "29463-7"


def test_range_check() -> None:
    spo2 = load_catalogue()["spo2"]
    assert spo2.within_range(97)
    assert not spo2.within_range(101)


@pytest.mark.parametrize(
    ("key", "value", "unit", "expected", "tolerance"),
    [
        ("bp.systolic", "16.0", "kPa", "120.01", "0.01"),
        ("body.temperature", "98.6", "[degF]", "37", "0.0001"),
        ("body.weight", "100", "[lb_av]", "45.359237", "0"),
        ("body.height", "70", "[in_i]", "1.778", "0"),
        ("blood.glucose", "90", "mg/dL", "4.9956", "0.0001"),
        ("blood.glucose", "0.00090", "kg/L", "4.9956", "0.0001"),
        ("blood.glucose", "0.0050", "mol/L", "5", "0"),
        ("heart_rate", "72", "/min", "72", "0"),
    ],
)
def test_conversions(key: str, value: str, unit: str, expected: str, tolerance: str) -> None:
    got = load_catalogue().to_canonical(key, Decimal(value), unit)
    assert abs(got - Decimal(expected)) <= Decimal(tolerance)


def test_glucose_mass_conversion_is_only_for_glucose() -> None:
    with pytest.raises(UnitError):
        load_catalogue().to_canonical("body.weight", Decimal(1), "mg/dL")
    with pytest.raises(UnitError):
        load_catalogue().to_canonical("spo2", Decimal(1), "kPa")


GOOD_ENTRY = """
  - key: x.y
    loinc: 1234-5
    mdc: null
    snomed: null
    unit: kg
    names: {nb: X, en: X}
    range: [0, 1]
    kind: vital
    urgency: routine
"""


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("range: [0, 1]", "range: [1, 0]"), "empty"),
        (("range: [0, 1]", "levels: [a, a]"), "levels repeat"),
        (("    range: [0, 1]\n", ""), "exactly one"),
        (("kind: vital", "kind: feeling"), "kind"),
        (("urgency: routine", "urgency: soon"), "urgency"),
        (("loinc: 1234-5", "loinc: ABC"), "loinc"),
        (("key: x.y", "key: X Y"), "key"),
        (("unit: kg", "unit: kg\n    colour: red"), "colour"),
        (("kind: vital", "kind: event"), "UCUM `1`"),
        (("loinc: 1234-5", "loinc: null"), "LOINC"),
    ],
)
def test_invalid_entries_fail_at_load_naming_the_entry(change: tuple[str, str], needle: str) -> None:
    text = "metrics:" + GOOD_ENTRY.replace(*change) + "conversions: []\n"
    with pytest.raises(CatalogueError, match=needle) as caught:
        parse_catalogue(text)
    assert "metrics.0" in str(caught.value)


def test_duplicate_keys_and_bad_conversions_fail() -> None:
    with pytest.raises(CatalogueError, match="twice"):
        parse_catalogue("metrics:" + GOOD_ENTRY + GOOD_ENTRY + "conversions: []\n")
    bad_target = "metrics:" + GOOD_ENTRY + "conversions:\n  - {source: g, target: m, divide: '1000'}\n"
    with pytest.raises(CatalogueError, match="no metric uses it"):
        parse_catalogue(bad_target)
    bad_scope = "metrics:" + GOOD_ENTRY + "conversions:\n  - {source: g, target: kg, only_for: [nope]}\n"
    with pytest.raises(CatalogueError, match="unknown metrics"):
        parse_catalogue(bad_scope)
    with pytest.raises(CatalogueError, match="not YAML"):
        parse_catalogue("metrics: [")
