"""The agent process stays lean (edge/run.py): what it imports, checked in fresh interpreters.

Memory itself is measured by `tryggheim bench edge` (docs/benchmarks.md); these tests guard the causes, cheaply
and deterministically: a module list is the same on every machine, a resident size is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")
# Command-line machinery, settings and YAML parsers, the advertisement parsers and what only they pull in;
# and pydantic: the agent holds the configuration and catalogues a forked child validated (edge/validated.py).
NEVER_AT_START = {"typer", "click", "rich", "pygments", "pydantic_settings", "yaml", "bthome_ble", "xiaomi_ble",
                  "habluetooth", "cryptography", "aiohttp", "bleak_retry_connector", "pydantic",
                  "pydantic_core"}  # fmt: skip
# What the agent with every source never loads, even after a GATT session and both kinds of advertisement: the
# simulated home (its source is off) and bluetooth-adapters beyond the one module bleak-retry-connector uses.
NEVER_AT_WORK = {"device_profiles.sim", "edge.sources.simulator", "bluetooth_adapters", "aiooui", "pydantic",
                 "pydantic_core"}  # fmt: skip
# How the agent starts (edge/run.py): the configuration and catalogues validated in a forked child, adopted here.
VALIDATED_START = (
    "from pathlib import Path\n"
    "from edge.config import toml_text\n"
    "from edge.validated import start\n"
    "config = Path({folder!r}) / 'gateway.toml'\n"
    "config.write_text(toml_text({{'cloud_url': 'http://127.0.0.1:9', 'gateway_id': 'g', 'credential_file': 'c',\n"
    "                              'outbox_path': 'o.db', 'insecure_dev': True}}))\n"
    "pending = start(config)\n"
)


def _loaded(code: str, *, modules: bool = False) -> list[str]:
    """Top-level packages (every module, with `modules`) loaded by `code` in a fresh interpreter (which prints
    nothing else)."""
    names = "sys.modules" if modules else "{m.split('.')[0] for m in sys.modules}"
    probe = code + f"\nimport sys, json\nprint(json.dumps(sorted({names})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_agent_with_every_source_imports_no_cli_yaml_parser_library_or_pydantic(tmp_path: Path) -> None:
    loaded = _loaded(
        VALIDATED_START.format(folder=str(tmp_path)) + "from edge.run import without_http_cli\n"
        "without_http_cli()\n"
        "import edge.agent, edge.sources.ble, edge.sources.mqtt, edge.sources.radio, edge.sources.ble_replay\n"
        "from device_profiles.device_catalogue import load_devices\n"
        "from device_profiles.metrics import load_catalogue\n"
        "from device_profiles.adv import ADVERTISEMENT_CODECS\n"
        "validated = pending.result()\n"
        "assert load_devices() is validated.devices and load_catalogue() is validated.metrics\n"
        "assert validated.config.gateway_id == 'g' and 'alarm.button' in load_catalogue().alarm_metrics\n"
    )
    assert "httpx" in loaded and "bleak" in loaded and "paho" in loaded  # the probe did load the agent's stack
    assert sorted(NEVER_AT_START & set(loaded)) == []


def test_a_gatt_session_and_both_parsers_leave_out_the_simulator_and_the_rest_of_bluetooth_adapters(
    tmp_path: Path,
) -> None:
    loaded = _loaded(
        VALIDATED_START.format(folder=str(tmp_path)) + "pending.result()\n"
        "from edge.run import without_http_cli\n"
        "without_http_cli()\n"
        "import edge.agent, edge.sources.ble, edge.sources.mqtt, edge.sources.ble_replay, edge.sources.gatt\n"
        "from device_profiles.adv import decode_bthome, decode_xiaomi_scale\n",
        modules=True,
    )
    assert "bleak_retry_connector" in loaded and "habluetooth.models" in loaded and "bthome_ble" in loaded
    assert [m for m in loaded if m.split(".")[0] in NEVER_AT_WORK or m.startswith(tuple(NEVER_AT_WORK))] == []


def test_bleak_retry_connector_keeps_its_history_function_and_bluetooth_adapters_imports_whole_afterwards() -> None:
    _loaded(
        "import sys\n"
        "import edge.sources.gatt as gatt\n"
        "import bleak_retry_connector as brc\n"
        "assert gatt.establish_connection is brc.establish_connection\n"
        "assert brc.load_history_from_managed_objects.__module__ == 'bluetooth_adapters.history'\n"
        "assert 'bluetooth_adapters' not in sys.modules\n"
        "import bluetooth_adapters, habluetooth\n"
        "assert bluetooth_adapters.get_adapters and bluetooth_adapters.get_manufacturer_from_mac\n"
        "assert habluetooth.BluetoothManager and habluetooth.BluetoothServiceInfoBleak\n"
    )


def test_a_parser_library_loads_with_its_first_advertisement_and_xiaomi_without_its_cloud_client() -> None:
    decode = (
        "from datetime import UTC, datetime\n"
        "from device_profiles.adv import ADVERTISEMENT_CODECS, Heard\n"
        "codec = ADVERTISEMENT_CODECS['{codec}']\n"
        "heard = Heard(bytes.fromhex('{hex}'), 't', datetime.now(UTC))\n"
        "decoded, _ = codec.decode(heard, codec.read_state(None))\n"
        "assert [o.metric for o in decoded.observations] == {metrics}, decoded\n"
    )
    scale = decode.format(codec="xiaomi_miscale_v2", hex="0222E907010F071E05F401DC37",
                          metrics=["body.weight", "body.impedance"])  # fmt: skip
    button = decode.format(codec="bthome_v2", hex="44002A01643A01", metrics=["device.battery", "alarm.button"])
    after_scale = _loaded(scale)  # decoded by xiaomi-ble's parser (the assertion in `decode`)
    assert "bthome_ble" not in after_scale
    assert "aiohttp" not in after_scale  # xiaomi-ble's Xiaomi-cloud token client is never needed here
    after_button = _loaded(button)
    assert "bthome_ble" in after_button and "xiaomi_ble" not in after_button
    # Loading the parser alone leaves the package importable as usual afterwards (the CLI, tests).
    _loaded(scale + "import xiaomi_ble\nassert xiaomi_ble.XiaomiCloudTokenFetch and xiaomi_ble.parser\n" + scale)


def test_edge_run_becomes_the_agent_program_and_reports_a_missing_config(tmp_path: Path) -> None:
    missing = tmp_path / "gateway.toml"
    done = subprocess.run([TRYGGHEIM, "edge", "run", "--config", str(missing)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"tryggheim: {missing}: no such config file (run `tryggheim edge enrol` first)"


def _sealed_press(key: bytes, mac: str, counter: int) -> str:
    """A BTHome v2 encrypted button press (battery 95 %, press), sealed as the BTHome v2 description says."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    info, counter_octets = 0x45, counter.to_bytes(4, "little")
    nonce = bytes.fromhex(mac.replace(":", "")) + bytes([0xD2, 0xFC, info]) + counter_octets
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, bytes.fromhex("00070164 3A01".replace(" ", "")), None)
    return (bytes([info]) + sealed[:-4] + counter_octets + sealed[-4:]).hex()


def test_cryptography_and_habluetooths_manager_load_only_with_the_first_encrypted_advertisement() -> None:
    key, mac = bytes(range(16)), "A4:C1:38:0A:0B:0C"
    probe = (
        "import sys\nfrom datetime import UTC, datetime\n"
        "from device_profiles import DecodeError\n"
        "from device_profiles.adv import ADVERTISEMENT_CODECS, Heard\n"
        "def decode(codec, hex, key=None):\n"
        "    c = ADVERTISEMENT_CODECS[codec]\n"
        f"    heard = Heard(bytes.fromhex(hex), 't', datetime.now(UTC), address='{mac}', bind_key=key)\n"
        "    return sorted(o.metric for o in c.decode(heard, c.read_state(None))[0].observations)\n"
        "assert decode('xiaomi_miscale_v2', '0222E907010F071E05F401DC37') == ['body.impedance', 'body.weight']\n"
        "assert decode('bthome_v2', '44002A01643A01') == ['alarm.button', 'device.battery']\n"
        "plain = sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'Cryptodome', 'habluetooth'))\n"
        "assert plain == ['habluetooth.models'], plain\n"
        f"assert decode('bthome_v2', '{_sealed_press(key, mac, 7)}', {key!r}) == ['alarm.button', 'device.battery']\n"
        "assert 'cryptography' in sys.modules\n"
        # A wrong key: the real InvalidTag, raised by the real cipher, is what the libraries now catch.
        "try:\n"
        f"    decode('bthome_v2', '{_sealed_press(key, mac, 8)}', bytes(16))\n"
        "except DecodeError as exc:\n"
        "    assert 'decryption failed' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('a wrong bind key decoded')\n"
        "from cryptography.exceptions import InvalidTag\n"
        "assert sys.modules['bthome_ble.parser'].InvalidTag is InvalidTag\n"
        "from device_profiles.adv.xiaomi_scale import XiaomiBluetoothDeviceData as Xiaomi\n"
        "from Cryptodome.Cipher import AES\n"
        "assert Xiaomi.__init__.__globals__['InvalidTag'] is InvalidTag and Xiaomi.__init__.__globals__['AES'] is AES\n"
        "import habluetooth, bluetooth_data_tools.privacy as privacy\n"
        "from device_profiles.adv._envelope import BluetoothServiceInfoBleak\n"
        "assert habluetooth.BluetoothServiceInfoBleak is BluetoothServiceInfoBleak and habluetooth.BluetoothManager\n"
        "assert len(privacy.get_cipher_for_irk(bytes(16)).encryptor().update(bytes(16))) == 16\n"
    )
    _loaded(probe)  # the assertions run in the fresh interpreter; a failing one fails `check=True`
