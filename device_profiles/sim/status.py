"""Status flags of the simulated blood-pressure monitor (GATT 0x2A35 Measurement Status) and pulse oximeter
(0x2A5E Measurement Status and Device and Sensor Status), and what a flagged measurement does to its value.

The bit positions are the specification's; the context built here is the one the decoders in
`device_profiles.sig` produce from the same bytes (a test decodes every simulated payload and compares).

Rates per reading (`DeviceStatus`), with their sources:
- Irregular pulse: about a third of people with heart failure have atrial fibrillation (21.4 % in heart-failure
  clinics, De Ferrari 2007; 24 % at discharge, Pedersen 2006; 33.2 % of admissions, Shotan 2010). A home
  monitor's irregular-pulse detector flagged atrial fibrillation in 93 % of single measurements and sinus
  rhythm or other arrhythmias in 11 % (Stergiou 2009): 0.93 per reading with atrial fibrillation; 0.02
  without is ours (a home population with fewer other arrhythmias than that clinic sample).
- Body movement: the monitor's raw data showed movement in 23 of 99 supervised measurements (Balanis 2021);
  at home after training we take 3 % of readings, a loose cuff 2 % and an improper position 2 % (ours).
  Measurement technique caused 54 % of false alerts in home telemonitoring (Radhakrishnan 2013).
- Oximeter: a cold finger (`ColdFinger`) is flagged `low_perfusion` on 70 % of such readings, and 1 % of
  readings are taken while moving (`erratic_signal`); any sensor flag also marks the measurement
  `questionable_measurement` (rates and that pairing are ours).

Asked to measure again after a doubtful reading (docs/detection.md, measurement quality), the person does so
within 3-10 minutes, carefully, in 80 % of cases (`remeasure`; ours).

What a flag does to the value (ours; single technique errors shift systolic pressure by -23.6 to +33 mmHg in
the review of Kallioinen 2017): movement adds noise (SD 10/6 mmHg systolic/diastolic), a loose cuff reads
5-15/3-10 mmHg high, an arm below heart level 3-10/2-6 mmHg high, movement on the oximeter 1-4 points low. An
irregular pulse is a finding, not an error: it leaves the values alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Final

from device_profiles.numbers import JSONValue
from device_profiles.quality import IRREGULAR_PULSE

# GATT 0x2A35 Measurement Status: flag bits (bits 3-4 are the pulse-rate range, 0 = within range).
BP_BITS: Final = {"body_movement": 0, "cuff_too_loose": 1, IRREGULAR_PULSE: 2, "improper_position": 5}
# GATT 0x2A5E: Measurement Status and Device and Sensor Status bits the simulator sets.
PLX_MEASUREMENT_BITS: Final = {"questionable_measurement": 14}
PLX_SENSOR_BITS: Final = {"low_perfusion": 5, "erratic_signal": 6}


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Per-reading probabilities of each flag (see the module for their sources)."""

    body_movement: float = 0.03
    cuff_too_loose: float = 0.02
    improper_position: float = 0.02
    irregular_pulse_af: float = 0.93
    irregular_pulse_sinus: float = 0.02
    low_perfusion_cold: float = 0.70
    erratic_signal: float = 0.01
    remeasure: float = 0.8

    def __post_init__(self) -> None:
        for rate in fields(self):
            if not 0 <= getattr(self, rate.name) <= 1:
                raise ValueError(f"{rate.name} must be a probability (0..1)")


def _bits(flags: tuple[str, ...], table: dict[str, int]) -> int:
    return sum(1 << table[flag] for flag in flags)


def _in_bit_order(flags: list[str], table: dict[str, int]) -> tuple[str, ...]:
    return tuple(sorted(flags, key=table.__getitem__))


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """The flags of one blood-pressure reading and the error they put on systolic and diastolic pressure."""

    flags: tuple[str, ...]
    systolic_error: int = 0
    diastolic_error: int = 0

    @property
    def raw(self) -> int:
        """The 16-bit Measurement Status field."""
        return _bits(self.flags, BP_BITS)

    @property
    def irregular(self) -> bool:
        """Whether the monitor flagged an irregular pulse."""
        return IRREGULAR_PULSE in self.flags

    def context(self) -> dict[str, JSONValue]:
        """The reading's context entry, as the 0x2A35 decoder writes it."""
        flags: list[JSONValue] = list(self.flags)
        status: dict[str, JSONValue] = {"raw": f"0x{self.raw:04X}", "flags": flags, "pulse_rate_range": "within_range"}
        return {"measurement_status": status}


@dataclass(frozen=True, slots=True)
class SpotCheckStatus:
    """The device/sensor and measurement flags of one oximeter reading and the points it reads low by."""

    sensor_flags: tuple[str, ...]
    spo2_error: int = 0

    @property
    def measurement_flags(self) -> tuple[str, ...]:
        """The Measurement Status flags: questionable whenever the sensor flagged anything."""
        return ("questionable_measurement",) if self.sensor_flags else ()

    @property
    def measurement_raw(self) -> int:
        """The 16-bit Measurement Status field."""
        return _bits(self.measurement_flags, PLX_MEASUREMENT_BITS)

    @property
    def sensor_raw(self) -> int:
        """The 24-bit Device and Sensor Status field."""
        return _bits(self.sensor_flags, PLX_SENSOR_BITS)

    def context(self) -> dict[str, JSONValue]:
        """The reading's context entries, as the 0x2A5E decoder writes them."""
        measurement: list[JSONValue] = list(self.measurement_flags)
        sensor: list[JSONValue] = list(self.sensor_flags)
        return {"measurement_status": measurement, "device_sensor_status": sensor}


def blood_pressure_status(rates: DeviceStatus, rng: random.Random, atrial_fibrillation: bool) -> BloodPressureStatus:
    """Draw one reading's flags and errors; every draw is made whatever the outcome (a stable stream)."""
    irregular = rates.irregular_pulse_af if atrial_fibrillation else rates.irregular_pulse_sinus
    chances = {"body_movement": rates.body_movement, "cuff_too_loose": rates.cuff_too_loose,
               "improper_position": rates.improper_position, IRREGULAR_PULSE: irregular}  # fmt: skip
    flags = [name for name, chance in chances.items() if rng.random() < chance]
    moved = (rng.gauss(0, 10), rng.gauss(0, 6))
    loose = (rng.uniform(5, 15), rng.uniform(3, 10))
    low_arm = (rng.uniform(3, 10), rng.uniform(2, 6))
    systolic = diastolic = 0.0
    for flag, (sys_error, dia_error) in (("body_movement", moved), ("cuff_too_loose", loose),
                                         ("improper_position", low_arm)):  # fmt: skip
        if flag in flags:
            systolic, diastolic = systolic + sys_error, diastolic + dia_error
    return BloodPressureStatus(_in_bit_order(flags, BP_BITS), round(systolic), round(diastolic))


def spot_check_status(rates: DeviceStatus, rng: random.Random, cold_finger: bool) -> SpotCheckStatus:
    """Draw one oximeter reading's flags and error (a cold finger's drop is the scenario's, not added here)."""
    flags = []
    if rng.random() < (rates.low_perfusion_cold if cold_finger else 0.0):
        flags.append("low_perfusion")
    moving, drop = rng.random() < rates.erratic_signal, rng.uniform(1, 4)
    if moving:
        flags.append("erratic_signal")
    return SpotCheckStatus(_in_bit_order(flags, PLX_SENSOR_BITS), round(drop) if moving else 0)
