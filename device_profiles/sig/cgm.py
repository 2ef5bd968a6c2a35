"""Continuous Glucose Monitoring: CGM Measurement (0x2AA7), several records per notification.

Each record starts with its own size octet. When the sensor uses E2E-CRC the record ends with a CRC-16/
MCRF4XX over the rest of the record; the size tells whether it is there (size = fields + 2). A record whose
CRC fails is not a reading. A size that matches neither length, or runs past the payload, is a structural
error for the whole notification. Known limit: the CRC's presence is inferred from the size, as the CGM
Feature characteristic (which says whether E2E-CRC is in use) is not part of a notification; a corrupted
flags octet can therefore make a CRC look like a trend or quality field. The edge agent, which reads the
feature, should check that records carry a CRC when the feature says they must.

The three annunciation octets are read in the order of the characteristic's field definition (Status,
Cal/Temp, Warning). Some server implementations write them the other way round, so the raw octets are kept in
context too.
"""

from __future__ import annotations

from typing import Final

from device_profiles.errors import DecodeError
from device_profiles.numbers import JSONValue
from device_profiles.sig._collect import Collector, json_number
from device_profiles.sig._layout import SFLOAT, U8, U16, Field, Layout, bit_names, read

SOURCE: Final = "CGM Measurement (0x2AA7)"
RECORD = Layout(
    SOURCE,
    U8,
    0xE3,
    (
        Field("glucose", SFLOAT),
        Field("time_offset", U16),
        Field("status", U8, when=0x80),
        Field("cal_temp", U8, when=0x40),
        Field("warning", U8, when=0x20),
        Field("trend", SFLOAT, when=0x01),
        Field("quality", SFLOAT, when=0x02),
    ),
)
_SIZE_OCTETS: Final = 1
_CRC_OCTETS: Final = 2

_ANNUNCIATIONS: Final = {
    "status": {
        0: "session_stopped",
        1: "device_battery_low",
        2: "sensor_type_incorrect",
        3: "sensor_malfunction",
        4: "device_specific_alert",
        5: "general_device_fault",
    },
    "cal_temp": {
        0: "time_synchronization_required",
        1: "calibration_not_allowed",
        2: "calibration_recommended",
        3: "calibration_required",
        4: "sensor_temperature_too_high",
        5: "sensor_temperature_too_low",
        6: "calibration_pending",
    },
    "warning": {
        0: "below_patient_low",
        1: "above_patient_high",
        2: "below_hypo",
        3: "above_hyper",
        4: "rate_of_decrease_exceeded",
        5: "rate_of_increase_exceeded",
        6: "below_device_range",
        7: "above_device_range",
    },
}


def crc16_mcrf4xx(data: bytes) -> int:
    """CRC-16/MCRF4XX: reflected polynomial 0x1021 (0x8408), initial value 0xFFFF, no final XOR."""
    crc = 0xFFFF
    for octet in data:
        crc ^= octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def decode_cgm(data: bytes, out: Collector) -> None:
    """0x2AA7: every record of the notification; glucose in mmol/L, time as minutes since session start."""
    if not data:
        raise DecodeError(SOURCE, data, RECORD.required(0) + _SIZE_OCTETS, "empty notification")
    records: list[JSONValue] = []
    offset = 0
    while offset < len(data):
        records.append(_record(data, offset, len(records), out))
        offset += data[offset]
    out.context["records"] = records


def _record(data: bytes, start: int, index: int, out: Collector) -> dict[str, JSONValue]:
    size = data[start]
    remaining = len(data) - start
    if size > remaining:
        raise DecodeError(SOURCE, data[start:], size, f"record {index} announces {size} octets")
    if size < _SIZE_OCTETS + RECORD.required(0):
        raise DecodeError(SOURCE, data[start : start + size], RECORD.required(0) + 1, f"record {index} size {size}")
    packet = read(RECORD, data, start + _SIZE_OCTETS, size - _SIZE_OCTETS)
    fields_end = packet.end
    record: dict[str, JSONValue] = {"index": index, "size": size}
    if packet.reserved_flags:
        record["reserved_flags"] = f"0x{packet.reserved_flags:X}"
    if fields_end - start == size:
        record["e2e_crc"] = "absent"
    elif fields_end - start + _CRC_OCTETS == size:
        sent = int.from_bytes(data[fields_end : fields_end + _CRC_OCTETS], "little")
        record["e2e_crc"] = "ok" if sent == crc16_mcrf4xx(data[start:fields_end]) else "mismatch"
    else:
        required = f"{fields_end - start} or {fields_end - start + _CRC_OCTETS}"
        raise DecodeError(SOURCE, data[start : start + size], required, f"record {index} size {size} fits no layout")
    record["time_offset_min"] = packet.uint("time_offset")
    annunciation = b"".join(packet.raw[name] for name in _ANNUNCIATIONS if packet.has(name))
    if annunciation:
        record["annunciation_raw"] = annunciation.hex().upper()
    for name, table in _ANNUNCIATIONS.items():
        value = packet.uint(name)
        if value is not None:
            record[name] = list(bit_names(value, table))
    trend, quality = packet.medfloat("trend"), packet.medfloat("quality")
    if trend is not None:
        record["trend"] = {"value": json_number(trend), "unit": "mg/dL/min"}
    if quality is not None:
        record["quality"] = {"value": json_number(quality), "unit": "%"}
    glucose = packet.medfloat("glucose")
    source = f"records[{index}].glucose"
    if record["e2e_crc"] == "mismatch":
        out.not_reading(source, "e2e_crc_mismatch", "blood.glucose")
    else:
        for name, extra_value in (("trend", trend), ("quality", quality)):
            if extra_value is not None and extra_value.special is not None:
                out.not_reading(f"records[{index}].{name}", extra_value.special)
        out.medfloat("blood.glucose", glucose, "mg/dL", source=source, measured_at=None, extra={"cgm_record": record})
    return record
