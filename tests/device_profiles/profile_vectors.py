"""Byte vectors written from the Bluetooth SIG characteristic definitions (GATT XML / GSS), one per case.

Each vector is hex with a space between fields so the layout can be read off the literal. `VALID` lists every
well-formed vector with its characteristic; the truncation and property tests walk all of them.
"""

from __future__ import annotations

# Reusable field encodings (little-endian on the air).
STAMP = "E8070A1B0C1E05"  # 2024-10-27 12:30:05, a Sunday after the autumn change: UTC+1 in Oslo
STAMP_OSLO = "2024-10-27T12:30:05+01:00"
SF_120, SF_80, SF_93, SF_72 = "7800", "5000", "5D00", "4800"
SF_NAN, SF_NRES, SF_PINF, SF_NINF, SF_RESERVED = "FF07", "0008", "FE07", "0208", "0108"

BP = {
    "plain": f"00 {SF_120} {SF_80} {SF_93}",
    "kpa": "01 A0F0 6BF0 78F0",  # 16.0 / 10.7 / 12.0 kPa
    "time_stamp": f"02 {SF_120} {SF_80} {SF_93} {STAMP}",
    "pulse_rate": f"04 {SF_120} {SF_80} {SF_93} {SF_72}",
    "user_id": f"08 {SF_120} {SF_80} {SF_93} 03",
    "status": f"10 {SF_120} {SF_80} {SF_93} 2500",  # movement, irregular pulse, improper position
    "all": f"1F A0F0 6BF0 78F0 {STAMP} {SF_72} FF 1200",  # kPa; unknown user; loose cuff, pulse below range
    "reserved_flags": f"E0 {SF_120} {SF_80} {SF_93}",
    "trailing": f"00 {SF_120} {SF_80} {SF_93} ABCD",
}
CUFF = {
    "plain": f"00 9600 {SF_NAN} {SF_NAN}",  # 150 mmHg, the other slots NaN as the spec asks
    "zeros": "00 9600 0000 0000",  # peers send zeros in the unused slots
    "kpa": "01 C8F0 0000 0000",  # 20.0 kPa
    "all": f"1F C8F0 0000 0000 {STAMP} {SF_72} 01 0100",  # 20.0 kPa
}

TEMPERATURE = {
    "celsius": "00 6C0100FF",  # 36.4 °C as FLOAT 0xFF00016C
    "fahrenheit": "01 DA0300FF",  # 98.6 °F
    "time_stamp": f"02 6C0100FF {STAMP}",
    "type": "04 6C0100FF 09",  # tympanum
    "all": f"07 DA0300FF {STAMP} 01",
    "reserved_type": "04 6C0100FF 0A",
    "reserved_flags": "F8 6C0100FF",
    "trailing": "00 6C0100FF 00",
}

WEIGHT = {
    "si": "00 803E",  # 16000 × 0.005 kg = 80 kg
    "imperial": "01 A00F",  # 4000 × 0.01 lb = 40 lb
    "time_stamp": f"02 803E {STAMP}",
    "user_id": "04 803E 02",
    "bmi_height": "08 803E F500 D606",  # BMI 24.5, height 1750 × 0.001 m
    "all": f"0F A00F {STAMP} FF F500 CE02",  # imperial: height 718 × 0.1 in
    "unsuccessful": "00 FFFF",
    "unsuccessful_with_bmi": "08 FFFF F500 D606",
    "reserved_flags": "F0 803E",
    "trailing": "00 803E 0102",
}

COMPOSITION = {
    "fat": "0000 FA00",  # 25.0 %
    "time_stamp": f"0200 FA00 {STAMP}",
    "user_id": "0400 FA00 01",
    "basal_metabolism": "0800 FA00 4C1D",  # 7500 kJ
    "muscle_percentage": "1000 FA00 C201",  # 45.0 %
    "muscle_mass": "2000 FA00 401F",  # 8000 × 0.005 = 40 kg
    "fat_free_mass": "4000 FA00 1027",  # 10000 × 0.005 = 50 kg
    "soft_lean_mass": "8000 FA00 AC26",  # 9900 × 0.005 = 49.5 kg
    "body_water_mass": "0001 FA00 581B",  # 35 kg
    "impedance": "0002 FA00 8813",  # 500.0 Ohm
    "weight": "0004 FA00 803E",  # 80 kg
    "height": "0008 FA00 D606",  # 1.75 m
    "multiple_packet": "0010 FA00",
    "imperial": "0104 FA00 A00F",  # weight 40 lb
    "all": f"FF1F FA00 {STAMP} 01 4C1D C201 401F 1027 AC26 581B 8813 803E D606",
    "unsuccessful": "0000 FFFF",
    "unsuccessful_flags_announce_more": "FE0F FFFF",  # nothing follows a failed measurement
    "reserved_flags": "00E0 FA00",
    "trailing": "0000 FA00 99",
}

HEART_RATE = {
    "uint8": "00 48",
    "uint16": "01 2C01",  # 300 /min
    "contact_not_detected": "04 48",
    "contact_detected": "06 48",
    "energy": "08 48 E803",  # 1000 kJ
    "rr_one": "10 48 0004",  # 1024/1024 s
    "rr_three": "10 48 0004 0002 0008",
    "all": "1F 2C01 E803 0004 0002",
    "reserved_flags": "E0 48",
    "trailing_odd_octet": "10 48 0004 77",
    "trailing": "00 48 0102",
}

SEQ = "0100"
BASE = "E8070115080000"  # 2024-01-21 08:00:00 (UTC+1)
GLUCOSE = {
    "base_only": f"00 {SEQ} {BASE}",
    "time_offset": f"01 {SEQ} {BASE} FBFF",  # -5 min
    "kg_per_l": f"02 {SEQ} {BASE} 5AB0 11",  # 0.00090 kg/L = 90 mg/dL; capillary whole blood, finger
    "mol_per_l": f"06 {SEQ} {BASE} 32C0 11",  # 0.0050 mol/L = 5.0 mmol/L
    "status": f"08 {SEQ} {BASE} 0300",  # battery low, sensor malfunction
    "context_follows": f"10 {SEQ} {BASE}",
    "all": f"1F {SEQ} {BASE} 0F00 32C0 12 0108",
    "control_solution": f"02 {SEQ} {BASE} 5AB0 4A",
    "nan": f"02 {SEQ} {BASE} {SF_NAN} 11",
    "reserved_flags": f"E0 {SEQ} {BASE}",
    "trailing": f"00 {SEQ} {BASE} 00",
}
GLUCOSE_CONTEXT = {
    "sequence_only": f"00 {SEQ}",
    "carbohydrate": f"01 {SEQ} 01 32D0",  # breakfast, 0.050 kg
    "meal": f"02 {SEQ} 01",
    "tester_health": f"04 {SEQ} 51",  # self, no health issues
    "exercise": f"08 {SEQ} 0807 32",  # 1800 s at 50 %
    "exercise_overrun": f"08 {SEQ} FFFF 32",
    "medication_kg": f"10 {SEQ} 01 05A0",  # rapid-acting insulin, 5e-6 kg
    "medication_litres": f"30 {SEQ} 04 0AA0",
    "hba1c": f"40 {SEQ} 41F0",  # 6.5 %
    "extended": f"80 {SEQ} 00",
    "all": f"FF {SEQ} 00 01 32D0 01 51 0807 32 04 0AA0 41F0",
    "nan_hba1c": f"40 {SEQ} {SF_NAN}",
    "trailing": f"00 {SEQ} 00",
}

SPOT = {
    "plain": "00 6100 4800",  # 97 %, 72 /min
    "time_stamp": f"01 6100 4800 {STAMP}",
    "status": "02 6100 4800 8000",  # validated data
    "device_status": "04 6100 4800 200000",  # low perfusion
    "pai": "08 6100 4800 19F0",  # 2.5 %
    "clock_not_set": f"11 6100 4800 {STAMP}",
    "all": f"1F 6100 4800 {STAMP} 8000 200000 19F0",
    "acquiring": f"00 {SF_NAN} {SF_NAN}",
    "reserved_flags": "E0 6100 4800",
    "trailing": "00 6100 4800 01",
}
CONTINUOUS = {
    "plain": "00 6100 4800",
    "fast": "01 6100 4800 6000 4A00",
    "slow": "02 6100 4800 6200 4600",
    "status": "04 6100 4800 2000",  # measurement ongoing
    "device_status": "08 6100 4800 000801",  # bit 11 sensor unconnected and bit 16 (undefined)
    "pai": "10 6100 4800 19F0",
    "all": "1F 6100 4800 6000 4A00 6200 4600 2000 200000 19F0",
    "acquiring": f"00 {SF_NAN} {SF_NRES}",
    "reserved_flags": "E0 6100 4800",
    "trailing": "00 6100 4800 01",
}

# CGM records without CRC; tests add the CRC with the library function after checking it against the
# CRC-16/MCRF4XX catalogue check value.
CGM = {
    "plain": "06 00 6400 0A00",  # size 6, 100 mg/dL at 10 min
    "trend": "08 01 6400 0A00 14F0",  # +2.0 mg/dL/min
    "quality": "08 02 6400 0A00 5F00",  # 95 %
    "warning": "07 20 6400 0A00 01",
    "cal_temp": "07 40 6400 0A00 04",
    "status": "07 80 6400 0A00 02",
    "all": "0D E3 6400 0A00 02 04 01 14F0 5F00",
    "two_records": "06 00 6400 0A00 06 00 6E00 0F00",
    "nan": f"06 00 {SF_NAN} 0A00",
    "reserved_flags": "06 1C 6400 0A00",
}

# Battery Level (Battery Service 1.0): one octet, percent; 101-255 are prohibited (tested on their own).
BATTERY = {
    "full": "64",  # 100 %
    "three_quarters": "4B",  # 75 %
    "empty": "00",  # 0 %
}
