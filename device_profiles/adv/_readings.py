"""Turning a parser library's `SensorUpdate` into Observations through a key -> metric table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sensor_state_data import SensorUpdate, Units

from device_profiles.metrics import load_catalogue
from device_profiles.numbers import JSONValue, plain
from device_profiles.observation import Observation

# sensor-state-data unit -> UCUM, so the metric catalogue's conversion table can take over.
_UCUM = {
    Units.MASS_KILOGRAMS: "kg",
    Units.MASS_POUNDS: "[lb_av]",
    Units.TEMP_CELSIUS: "Cel",
    Units.PERCENTAGE: "%",
    Units.OHM: "Ohm",
}

# A library float such as 0.01 * 2345 carries binary noise; six decimals is finer than any field it decodes.
_DECIMALS = 6

# bthome-ble numbers repeated objects of one kind: button_1, button_2.
_REPEAT = re.compile(r"_\d+$")


@dataclass(frozen=True, slots=True)
class SensorValue:
    """A value on its way to an Observation."""

    metric: str
    value: float


def base_key(key: str) -> str:
    """The library key without its repeat suffix (`button_2` -> `button`)."""
    return _REPEAT.sub("", key)


def sensor_readings(
    update: SensorUpdate, table: Mapping[str, str], skip: frozenset[str]
) -> tuple[list[SensorValue], dict[str, JSONValue]]:
    """Numeric sensors named in `table` as readings (converted to the metric's unit); others not in `skip`
    are returned as JSON context so nothing the device sent is silently lost."""
    catalogue = load_catalogue()
    readings: list[SensorValue] = []
    unmapped: dict[str, JSONValue] = {}
    for device_key, sensor in update.entity_values.items():
        key = base_key(device_key.key)
        value = sensor.native_value
        metric = table.get(key)
        if metric is None or not isinstance(value, int | float):
            if key not in skip:
                unmapped[device_key.key] = _json(value)
            continue
        description = update.entity_descriptions.get(device_key)
        library_unit = None if description is None else description.native_unit_of_measurement
        unit = _UCUM.get(library_unit, catalogue[metric].unit) if library_unit is not None else catalogue[metric].unit
        exact = Decimal(repr(round(float(value), _DECIMALS)))
        readings.append(SensorValue(metric, plain(catalogue.to_canonical(metric, exact, unit).normalize())))
    return readings, unmapped


def observations(
    readings: list[SensorValue], *, device_id: str, received_at: datetime, context: Mapping[str, JSONValue]
) -> tuple[Observation, ...]:
    """Observations in the metric's canonical unit, each carrying the shared context."""
    catalogue = load_catalogue()
    return tuple(
        Observation(
            device_id=device_id,
            metric=reading.metric,
            value=reading.value,
            unit=catalogue[reading.metric].unit,
            measured_at=None,
            received_at=received_at,
            context=context,
        )
        for reading in readings
    )


def _json(value: object) -> JSONValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
