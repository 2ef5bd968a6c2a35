"""What a collector writes to a SIG health device, and the control-point replies it reads back. Pure.

* Current Time (0x2A2B, Current Time Service 0x1805): Exact Time 256 = Date Time (7) + Day of Week (1,
  Monday = 1) + Fractions256 (1) + Adjust Reason (1). Devices keep local wall-clock time without a zone, so
  the gateway writes the wall clock of the zone the decoders read time stamps in (Europe/Oslo).
* Record Access Control Point (0x2A52, Glucose Service): request = Op Code, Operator, [Filter Type, Operand].
  "Report stored records" (0x01) with operator "greater than or equal to" (0x03) and filter type "sequence
  number" (0x01) asks only for records after the last one stored, so a reconnect imports nothing twice. The
  meter notifies the records on 0x2A18 and ends with an indication on 0x2A52: Response Code (0x06), operator
  Null (0x00), the request op code and a response code value.
Sources: Bluetooth SIG Current Time Service 1.1 and Glucose Profile / Service 1.0 (RACP op codes, operators,
filter types and response code values); the GATT XML `current_time.xml` and
`record_access_control_point.xml` of the Bluetooth SIG's GATT specification set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from device_profiles.errors import DecodeError

CURRENT_TIME: Final = 0x2A2B
RACP: Final = 0x2A52

# Adjust Reason bit 1: the time comes from an external reference (the gateway's NTP-synchronised clock).
_EXTERNAL_REFERENCE: Final = 0x02

OP_REPORT_RECORDS: Final = 0x01
OP_REPORT_COUNT: Final = 0x04
OP_RESPONSE_CODE: Final = 0x06
OP_COUNT_RESPONSE: Final = 0x05
OPERATOR_NULL: Final = 0x00
OPERATOR_ALL: Final = 0x01
OPERATOR_AT_LEAST: Final = 0x03
FILTER_SEQUENCE: Final = 0x01
RESPONSES: Final = {
    0x01: "success",
    0x02: "op_code_not_supported",
    0x03: "invalid_operator",
    0x04: "operator_not_supported",
    0x05: "invalid_operand",
    0x06: "no_records_found",
    0x07: "abort_unsuccessful",
    0x08: "procedure_not_completed",
    0x09: "operand_not_supported",
}
SUCCESS: Final = 0x01
NO_RECORDS: Final = 0x06


def current_time(moment: datetime, zone: ZoneInfo) -> bytes:
    """The 10-octet Current Time value for an aware `moment`, as wall-clock time in `zone`."""
    if moment.utcoffset() is None:
        raise ValueError("current_time needs an aware datetime")
    wall = moment.astimezone(zone)
    fractions = wall.microsecond * 256 // 1_000_000
    return bytes(
        [
            *wall.year.to_bytes(2, "little"),
            wall.month,
            wall.day,
            wall.hour,
            wall.minute,
            wall.second,
            wall.isoweekday(),
            fractions,
            _EXTERNAL_REFERENCE,
        ]
    )


def records_after(last_sequence: int | None) -> bytes:
    """RACP request for the records after `last_sequence` (all records when none was stored yet)."""
    if last_sequence is None:
        return bytes([OP_REPORT_RECORDS, OPERATOR_ALL])
    if not 0 <= last_sequence < 0xFFFF:
        # 0xFFFF is the last sequence number a meter can give; there is nothing after it to ask for.
        raise ValueError(f"sequence number {last_sequence} leaves nothing to ask for")
    return bytes([OP_REPORT_RECORDS, OPERATOR_AT_LEAST, FILTER_SEQUENCE, *(last_sequence + 1).to_bytes(2, "little")])


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A parsed RACP request (what a meter sees); `at_least` is the sequence operand of operator 0x03."""

    op_code: int
    operator: int
    at_least: int | None


def parse_request(data: bytes) -> RacpRequest:
    """Parse a RACP request; raises `DecodeError` when the operand does not fit the operator."""
    data = bytes(data)
    if len(data) < 2:
        raise DecodeError("racp request", data, 2)
    op_code, operator = data[0], data[1]
    if operator != OPERATOR_AT_LEAST:
        return RacpRequest(op_code, operator, None)
    if len(data) != 5 or data[2] != FILTER_SEQUENCE:
        raise DecodeError("racp request", data, "filter type 0x01 and a uint16 sequence number", reason="bad operand")
    return RacpRequest(op_code, operator, int.from_bytes(data[3:5], "little"))


def response(request_op: int, code: int) -> bytes:
    """The Response Code indication a meter sends when a procedure ends."""
    return bytes([OP_RESPONSE_CODE, OPERATOR_NULL, request_op, code])


def parse_response(data: bytes) -> tuple[int, str] | None:
    """(request op code, response name) for a Response Code indication; None for any other RACP value."""
    data = bytes(data)
    if len(data) != 4 or data[0] != OP_RESPONSE_CODE:
        return None
    return data[2], RESPONSES.get(data[3], f"reserved_0x{data[3]:02X}")


__all__ = [
    "CURRENT_TIME",
    "RACP",
    "RacpRequest",
    "current_time",
    "parse_request",
    "parse_response",
    "records_after",
    "response",
]
