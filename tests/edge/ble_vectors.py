"""Byte payloads for the replay backend, written from the Bluetooth SIG specifications and the BTHome / Xiaomi
formats (bthome.io format v2; xiaomi-ble's parser for the Mi Scale frames; the Personal Health Devices
Transcoding white paper for SFLOAT). Each vector says field by field
what it carries, so a reader can check it against the specification without running anything."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

# --- Blood Pressure Measurement (0x2A35) ---------------------------------------------------------------------
# Flags 0x06: mmHg (bit0 = 0), Time Stamp present (bit1), Pulse Rate present (bit2).
# Systolic SFLOAT 0x0079 = 121, diastolic 0x004E = 78, MAP 0x005C = 92 (exponent 0, mmHg),
# Time Stamp 2026-03-02 08:15:00 (year 0x07EA LE, month 3, day 2, 08:15:00) local wall clock (Oslo, CET = UTC+1),
# Pulse Rate SFLOAT 0x0040 = 64 /min.
BP_WITH_TIME = bytes.fromhex("0679004e005c00ea070302080f004000")
# Flags 0x00: mmHg, no time stamp, no pulse. Systolic 0x0082 = 130, diastolic 0x07FF = NaN (a failed diastolic
# reading; must not become 2047 mmHg), MAP 0x0060 = 96.
BP_NAN_DIASTOLIC = bytes.fromhex("008200ff076000")
BP_MEASURED_AT = "2026-03-02T07:15:00+00:00"


# --- Glucose Measurement (0x2A18) ----------------------------------------------------------------------------
def glucose_record(sequence: int, hour: int, minute: int, mg_dl: int) -> bytes:
    """Flags 0x02 (concentration + type/location present, unit kg/L), Sequence Number uint16, Base Time
    2026-03-02 hh:mm:00, concentration SFLOAT mantissa `mg_dl` with exponent -5 (mg/dL x 10^-5 = kg/L, e.g.
    90 mg/dL = 0xB05A), Type/Location 0x11 (capillary whole blood, finger)."""
    sfloat = (0xB << 12) | mg_dl
    return bytes(
        [0x02, *sequence.to_bytes(2, "little"), *(2026).to_bytes(2, "little"), 3, 2, hour, minute, 0,
         *sfloat.to_bytes(2, "little"), 0x11]
    )  # fmt: skip


GLUCOSE = [glucose_record(1, 7, 45, 90), glucose_record(2, 12, 10, 120)]
GLUCOSE_LATER = glucose_record(3, 18, 30, 100)
# mmol/L = mg/dL / 18.016 (glucose 180.16 g/mol)
GLUCOSE_MMOL = {1: 90 / 18.016, 2: 120 / 18.016, 3: 100 / 18.016}
GLUCOSE_MEASURED_AT = {1: "2026-03-02T06:45:00+00:00", 2: "2026-03-02T11:10:00+00:00", 3: "2026-03-02T17:30:00+00:00"}


# --- BTHome v2, encrypted (service data UUID 0xFCD2) ---------------------------------------------------------
BIND_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")  # any 16 octets; the test knows it


def bthome_encrypted(address: str, counter: int, objects: bytes, key: bytes = BIND_KEY) -> bytes:
    """Device info 0x41 (version 2 in bits 5-7, encrypted bit 0), then AES-CCM(objects) | counter uint32 LE |
    4-octet MIC. Nonce = MAC (6 octets, display order) + UUID 0xFCD2 LE (D2 FC) + device info + counter."""
    info = 0x41
    count = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(address.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, objects, None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


# Objects: 0x00 packet id = 7, 0x01 battery = 90 %, 0x3A button event = 0x01 (press).
BUTTON_PRESS = bytes.fromhex("0007015a3a01")


# --- Xiaomi Mi Body Composition Scale (V2, service data 0x181B, 13 octets) ---------------------------------
def scale_v2(control1: int, second: int, impedance: int, weight_kg: float) -> bytes:
    """control0 0x00 (kg), control1 (bit5 stabilised, bit1 impedance stable, bit7 removed), Date Time
    2026-03-02 07:50:ss, impedance uint16 ohm, weight uint16 = kg x 200."""
    return bytes(
        [0x00, control1, *(2026).to_bytes(2, "little"), 3, 2, 7, 50, second,
         *impedance.to_bytes(2, "little"), *round(weight_kg * 200).to_bytes(2, "little")]
    )  # fmt: skip


SCALE_MOVING = scale_v2(0x00, 10, 0, 68.2)  # someone stepping on: not stabilised
SCALE_STABLE = scale_v2(0x20, 14, 0, 72.35)  # stabilised weight
SCALE_STABLE_IMPEDANCE = scale_v2(0x22, 16, 500, 72.35)  # same weighing, impedance now stable
