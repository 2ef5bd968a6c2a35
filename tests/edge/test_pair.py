"""`tryggheim edge pair` as a process: the replay backend (named in the gateway config) stands in for the
radio; the cloud and its database are real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from device_profiles.device_catalogue import load_devices
from edge.outbox import Outbox
from edge.pair import PairingError, check_bind_key
from edge.sources.ble_replay import Frame, ReplayDevice, ReplayScript
from tests.edge import ble_vectors as v
from tests.edge.radio_support import address, enrolled
from tests.support.proc import TRYGGHEIM, env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@pytest.mark.slow
def test_pair_lists_catalogue_devices_bonds_the_chosen_one_and_proposes_it(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config = enrolled(tmp_path, cloud, edge_db, edge_tenants, {})
    monitor, button, stranger = address(), address(), address()
    script = ReplayScript(devices=[
        ReplayDevice(address=monitor, name="BP7000", service_uuids=["1810"], advertise="always", requires_pairing=True,
                     gatt={"1810": ["2a35", "2a49"]}),
        ReplayDevice(address=button, name="SBBT-002C", repeat=100, rssi=-45,  # the one in the installer's hand
                     frames=[Frame(service_data={"fcd2": "4000010164"})]),
        ReplayDevice(address=stranger, name="Heart strap", service_uuids=["180d"], advertise="always",
                     gatt={"180d": ["2a37"]}),  # heart rate: not in the catalogue
    ])  # fmt: skip
    (tmp_path / "world.json").write_text(script.to_json())
    with (tmp_path / "gateway.toml").open("a") as handle:
        handle.write('\n[ble]\nreplay_script = "world.json"\n')

    shown = run_cli("edge", "pair", "--config", str(tmp_path / "gateway.toml"), "--address", monitor,
                    "--scan-seconds", "1")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert monitor in shown.stdout and "[sig-blood-pressure]" in shown.stdout
    assert button in shown.stdout and "[shelly-blu-button1]" in shown.stdout
    assert stranger not in shown.stdout
    journal = [json.loads(line) for line in (tmp_path / "world.journal.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in journal if e.get("address") == monitor] == ["connect", "pair", "disconnect"]
    with psycopg.connect(edge_db.runtime_url) as conn:
        proposals = conn.execute("SELECT address, profile_id, details FROM device_proposals WHERE gateway_id = %s",
                                 (config.gateway_id,)).fetchall()  # fmt: skip
    assert [(a, p) for a, p, _ in proposals] == [(monitor, "sig-blood-pressure")]
    assert proposals[0][2]["paired_on_site"] is True and proposals[0][2]["name"] == "BP7000"
    outbox = Outbox(config.outbox_path)
    try:
        assert outbox.states("paired:") == {monitor: "sig-blood-pressure"}
    finally:
        outbox.close()

    # Interactive: the list is by signal strength, the installer types 1 (the button next to the gateway).
    chosen = subprocess.run([TRYGGHEIM, "edge", "pair", "--config", str(tmp_path / "gateway.toml"), "--scan-seconds",
                             "1", "--bind-key", v.BIND_KEY.hex()], input="1\n", capture_output=True, text=True,
                            timeout=60, env=env_with())  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.splitlines()[1].startswith(f"  1. {button}")
    with psycopg.connect(edge_db.runtime_url) as conn:
        proposed = conn.execute("SELECT address, profile_id FROM device_proposals WHERE gateway_id = %s "
                                "ORDER BY address", (config.gateway_id,)).fetchall()  # fmt: skip
    assert sorted(proposed) == sorted([(monitor, "sig-blood-pressure"), (button, "shelly-blu-button1")])
    outbox = Outbox(config.outbox_path)
    try:
        assert outbox.get_state(f"ble.bind_key:{button}") == v.BIND_KEY.hex()
    finally:
        outbox.close()


def test_bind_keys_are_checked_before_anything_is_stored() -> None:
    catalogue = load_devices()
    button, monitor = catalogue["shelly-blu-button1"], catalogue["and-ua-651ble"]
    assert check_bind_key(button, v.BIND_KEY.hex()) == v.BIND_KEY
    assert check_bind_key(button, None) is None
    for wrong in ("nothex", "00" * 15, "00" * 17):
        with pytest.raises(PairingError, match="32 hexadecimal digits"):
            check_bind_key(button, wrong)
    with pytest.raises(PairingError, match="does not use a bind key"):
        check_bind_key(monitor, v.BIND_KEY.hex())
