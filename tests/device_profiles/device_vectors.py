"""One or more test vectors per device catalogue entry, written from the specifications and the Zigbee2MQTT
expose definitions (never copied from other projects). A vector is the input the entry's codec reads and the
metric -> value readings it must yield; `test_device_catalogue` checks every entry has at least one."""

from __future__ import annotations

from dataclasses import dataclass

import profile_vectors as sig


@dataclass(frozen=True)
class Vector:
    """`payload` is hex for byte codecs (GATT: `characteristic` names which) and JSON text for z2m_json."""

    entry: str
    payload: str
    readings: dict[str, float]
    characteristic: int | None = None


BP = Vector(
    "sig-blood-pressure",
    sig.BP["pulse_rate"],
    {"bp.systolic": 120, "bp.diastolic": 80, "bp.mean": 93, "heart_rate": 72},
    0x2A35,
)
OXIMETER = Vector("sig-pulse-oximeter", sig.SPOT["plain"], {"spo2": 97, "heart_rate": 72}, 0x2A5E)
WEIGHT = Vector("sig-weight-scale", sig.WEIGHT["si"], {"body.weight": 80}, 0x2A9D)
COMPOSITION = Vector("sig-body-composition-scale", sig.COMPOSITION["fat"], {"body.fat": 25.0}, 0x2A9C)
THERMOMETER = Vector("sig-thermometer", sig.TEMPERATURE["celsius"], {"body.temperature": 36.4}, 0x2A1C)
CGM_FREE_GLUCOSE = Vector("sig-glucose-meter", sig.GLUCOSE["kg_per_l"], {"blood.glucose": 5.0}, 0x2A18)


def _as(vector: Vector, entry: str) -> Vector:
    return Vector(entry, vector.payload, vector.readings, vector.characteristic)


# BTHome v2 service data: info octet 0x44 = version 2, trigger-based; objects in ascending id order.
BUTTON_PRESS = "44 00 2A 01 64 3A 01"  # packet 42, battery 100 %, button press
DOOR_OPEN = "44 00 10 01 5A 05 102700 2D 01"  # packet 16, battery 90 %, 100.00 lx, window open
MOTION = "44 00 11 01 50 21 01"  # packet 17, battery 80 %, motion detected
# Xiaomi frames: weight 0x37DC = 14300 / 200 = 71.5 kg; clock 2025-01-15 07:30:05.
MISCALE_V1_STABLE = "22 DC37 E907 01 0F 07 1E 05"  # control: stabilised (bit 5), kg
MISCALE_V2_STABLE = "02 22 E907010F071E05 F401 DC37"  # control1: stabilised + impedance stable; 500 Ohm

VECTORS: tuple[Vector, ...] = (
    BP,
    _as(BP, "omron-evolv-hem-7600t"),
    _as(BP, "and-ua-651ble"),
    _as(BP, "beurer-bm-54"),
    OXIMETER,
    _as(OXIMETER, "nonin-3230"),
    WEIGHT,
    _as(WEIGHT, "and-uc-352ble"),
    COMPOSITION,
    _as(COMPOSITION, "beurer-bf-600"),
    _as(WEIGHT, "beurer-bf-600"),
    THERMOMETER,
    _as(THERMOMETER, "and-ut-201ble"),
    CGM_FREE_GLUCOSE,
    _as(CGM_FREE_GLUCOSE, "roche-accu-chek-guide"),
    _as(CGM_FREE_GLUCOSE, "roche-accu-chek-instant"),
    Vector("bthome-v2", "40 01 5F", {"device.battery": 95}),
    Vector("shelly-blu-button1", BUTTON_PRESS, {"device.battery": 100, "alarm.button": 1}),
    Vector("shelly-blu-door-window", DOOR_OPEN, {"device.battery": 90, "door.open": 1}),
    Vector("shelly-blu-motion", MOTION, {"device.battery": 80, "motion": 1}),
    Vector("xiaomi-mi-scale", MISCALE_V1_STABLE, {"body.weight": 71.5}),
    Vector("xiaomi-mi-body-composition-scale-2", MISCALE_V2_STABLE, {"body.weight": 71.5, "body.impedance": 500}),
    Vector("xiaomi-mi-body-composition-scale", MISCALE_V2_STABLE, {"body.weight": 71.5, "body.impedance": 500}),
    Vector("aqara-zigbee-sensor", '{"battery": 91, "linkquality": 87}', {"device.battery": 91}),
    Vector(
        "aqara-door-window-mccgq11lm",
        '{"contact": false, "battery": 97, "linkquality": 120}',
        {"door.open": 1, "device.battery": 97},
    ),
    Vector("aqara-door-window-mccgq11lm", '{"contact": true, "voltage": 3005}', {"door.open": 0}),
    Vector("aqara-door-window-t1-mccgq12lm", '{"contact": false, "battery_voltage": 2950}', {"door.open": 1}),
    Vector(
        "aqara-motion-rtcgq11lm",
        '{"occupancy": true, "illuminance": 12, "battery": 100}',
        {"motion": 1, "device.battery": 100},
    ),
    Vector(
        "aqara-water-leak-sjcgq11lm", '{"water_leak": true, "battery": 64}', {"water.leak": 1, "device.battery": 64}
    ),
    Vector("aqara-water-leak-e1-sjcgq13lm", '{"water_leak": false, "battery_low": false}', {"water.leak": 0}),
    Vector("aqara-vibration-djt11lm", '{"vibration": true, "action": "vibration", "strength": 14}', {"motion": 1}),
    Vector(
        "aqara-wireless-mini-switch-wxkg11lm",
        '{"action": "single", "battery": 100}',
        {"alarm.button": 1, "device.battery": 100},
    ),
    Vector("aqara-wireless-mini-switch-wxkg11lm", '{"action": "hold"}', {"alarm.button": 1}),
    Vector("aqara-wireless-mini-switch-wxkg11lm", '{"action": "release"}', {}),
    Vector("aqara-smart-plug-sp-euc01", '{"state": "ON", "power": 2150.4, "energy": 12.7}', {"power.on": 1}),
    Vector("aqara-smart-plug-sp-euc01", '{"state": "ON", "power": 1.2}', {"power.on": 0}),
    Vector("zigbee-occupancy-pad", '{"occupancy": true, "battery": 88}', {"bed.occupied": 1, "device.battery": 88}),
    Vector("zigbee-occupancy-pad", '{"occupancy": false}', {"bed.occupied": 0}),
)
