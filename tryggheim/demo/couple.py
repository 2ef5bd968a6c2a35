"""Per and Berit's kit: the radio home's devices (tryggheim/demo/radio.py: a blood-pressure monitor and a scale over
replayed BLE, a door contact and a motion sensor on the home's Mosquitto) and Per's alarm button, a Shelly BLU
Button1 whose BTHome advertisement (unencrypted, packet id, battery, "press") is replayed shortly after the agent
starts, as if he pressed it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge.sources.ble_replay import Frame, ReplayDevice
from tryggheim.demo import radio

BUTTON_PROFILE = "shelly-blu-button1"
PRESS_AT_S = 8.0  # seconds after the agent starts scanning
# BTHome v2: device info 0x40 (unencrypted), packet id 0x07, battery 90 %, button event "press".
PRESS = bytes([0x40, 0x00, 0x07, 0x01, 0x5A, 0x3A, 0x01])


def button_address(seed: int) -> str:
    """The alarm button's address (stable per seed, so enrolment is kept across runs)."""
    return f"3C:2E:F5:00:{seed % 256:02X}:01"


def devices(seed: int) -> dict[str, str]:
    """address -> catalogue profile of the couple's kit."""
    return {**radio.devices(seed), button_address(seed): BUTTON_PROFILE}


def door(seed: int) -> str:
    """The hall door contact's Zigbee2MQTT name."""
    return next(address for address, profile in radio.devices(seed).items() if "door" in profile)


def script_for_run(seed: int, path: Path) -> Path:
    """Write this run's replay script (the radio home's devices and the button press) and return its path."""
    script = radio.replay_script(seed, datetime.now(UTC))
    # The same advertisement a few times, as the button repeats it: one packet id is one press.
    press = Frame(at_s=PRESS_AT_S, service_data={"fcd2": PRESS.hex()})
    script.devices.append(
        ReplayDevice(address=button_address(seed), name="SBBT-002C", frames=[press], interval_s=0.5, repeat=3)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script.to_json(indent=1), encoding="utf-8")
    return path
