"""atheris fuzz target for every SIG decoder and the SFLOAT/FLOAT codecs (`make fuzz FUZZ_SECONDS=60`).

The first input octet picks the decoder, the rest is the payload. Any exception other than `DecodeError`,
an observation outside the catalogue's unit or a non-finite value, or a context that is not JSON is a crash.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports():
    from device_profiles import CHARACTERISTICS, DecodeError, decode_characteristic, load_catalogue
    from device_profiles.medfloat import decode_float, decode_sfloat

UUIDS = sorted(CHARACTERISTICS)
CATALOGUE = load_catalogue()
RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)


def one_input(data: bytes) -> None:
    """Decode one input with the decoder its first octet selects."""
    if not data:
        return
    choice, payload = data[0], data[1:]
    try:
        if choice % (len(UUIDS) + 1) == len(UUIDS):
            for codec in (decode_sfloat, decode_float):
                codec(payload[: 2 if codec is decode_sfloat else 4])
            return
        decoded = decode_characteristic(
            UUIDS[choice % (len(UUIDS) + 1)], payload, device_id="fuzz", received_at=RECEIVED
        )
    except DecodeError:
        return
    json.dumps(decoded.context)
    for reading in decoded.observations:
        if reading.unit != CATALOGUE[reading.metric].unit:
            raise AssertionError(f"{reading.metric} in {reading.unit}")
        if isinstance(reading.value, float) and not math.isfinite(reading.value):
            raise AssertionError(f"{reading.metric} = {reading.value}")


def main() -> None:
    """Run libFuzzer with the command-line arguments (e.g. -max_total_time=60)."""
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
