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
# Command-line machinery, settings and YAML parsers, the advertisement parsers and what only they pull in.
NEVER_AT_START = {"typer", "click", "rich", "pygments", "pydantic_settings", "yaml", "bthome_ble", "xiaomi_ble",
                  "habluetooth", "cryptography", "aiohttp", "bleak_retry_connector"}  # fmt: skip


def _loaded(code: str) -> list[str]:
    """Top-level packages loaded by `code` in a fresh interpreter (which prints nothing else)."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_agent_with_every_source_imports_no_cli_yaml_or_parser_library() -> None:
    loaded = _loaded(
        "from edge.run import without_http_cli\n"
        "without_http_cli()\n"
        "import edge.agent, edge.sources.ble, edge.sources.mqtt, edge.sources.radio, edge.sources.ble_replay\n"
        "from device_profiles.device_catalogue import load_devices\n"
        "from device_profiles.adv import ADVERTISEMENT_CODECS\n"
        "load_devices()\n"
    )
    assert "httpx" in loaded and "bleak" in loaded and "paho" in loaded  # the probe did load the agent's stack
    assert sorted(NEVER_AT_START & set(loaded)) == []


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
