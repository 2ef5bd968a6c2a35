"""The catalogues' types are dataclasses the gateway agent holds without pydantic (about 10 MB resident): edge/run.py
validates the catalogues in a short-lived child process and hands them to the agent by pickle, which adopts them."""

from __future__ import annotations

import pickle
import subprocess
import sys

from device_profiles.device_catalogue import adopt_devices, load_devices
from device_profiles.metrics import adopt_catalogue, load_catalogue

TYPES = (
    "import device_profiles, device_profiles.sig, device_profiles.observation, device_profiles.metrics, "
    "device_profiles.device_catalogue, device_profiles.mqtt_mapping, device_profiles.wire\n"
)


def _run(code: str, stdin: bytes = b"") -> None:
    done = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_importing_the_types_loads_no_pydantic() -> None:
    _run(TYPES + "import sys\nassert 'pydantic' not in sys.modules, 'pydantic was imported'\n")


def test_validated_catalogues_survive_pickle() -> None:
    catalogue, devices = load_catalogue(), load_devices()
    restored = pickle.loads(pickle.dumps(catalogue))  # noqa: S301 (our own bytes)
    assert vars(restored) == vars(catalogue)
    assert restored.stored_metrics == catalogue.stored_metrics
    assert pickle.loads(pickle.dumps(devices)) == devices  # noqa: S301


def test_the_agent_adopts_pickled_catalogues_and_never_validates() -> None:
    """What the agent does with its child's pickle: adopt both, then read entries, a metric's conversion and a
    mapping, all without loading pydantic."""
    probe = TYPES + (
        "import pickle, sys\n"
        "from datetime import UTC, datetime\n"
        "from decimal import Decimal\n"
        "from device_profiles.metrics import adopt_catalogue, load_catalogue\n"
        "from device_profiles.device_catalogue import adopt_devices, load_devices\n"
        "from device_profiles.mqtt_mapping import map_payload\n"
        "catalogue, devices = pickle.loads(sys.stdin.buffer.read())\n"
        "adopt_catalogue(catalogue)\n"
        "adopt_devices(devices)\n"
        "assert load_catalogue() is catalogue and load_devices() is devices\n"
        "assert load_catalogue().to_canonical('body.weight', Decimal(1000), 'g') == 1\n"
        "door = load_devices()['aqara-door-window-mccgq11lm']\n"
        "assert door.digital_supervision and door.mapping is not None\n"
        "decoded = map_payload(door.mapping, '{\"contact\": false}', device_id='d', received_at=datetime.now(UTC))\n"
        "assert [o.metric for o in decoded.observations] == ['door.open'], decoded\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    _run(probe, pickle.dumps((load_catalogue(), load_devices())))


def test_adopted_catalogues_are_what_the_loaders_return() -> None:
    catalogue, devices = load_catalogue(), load_devices()
    copies = pickle.loads(pickle.dumps((catalogue, devices)))  # noqa: S301
    try:
        adopt_catalogue(copies[0])
        adopt_devices(copies[1])
        assert load_catalogue() is copies[0] and load_catalogue() is not catalogue
        assert load_devices() is copies[1] and load_devices() is not devices
    finally:
        adopt_catalogue(catalogue)
        adopt_devices(devices)
    assert load_catalogue() is catalogue and load_devices() is devices
