"""Enrolment and uplink against the real cloud app over verified TLS and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from device_profiles import Observation
from edge.cloudlink import CloudLink
from edge.config import GatewayConfig, load_config
from edge.enrol import EnrolmentError, enrol
from edge.http import InsecureURLError, make_client
from edge.outbox import Outbox
from edge.sink import Sink
from edge.uplink import RetryLaterError, Uplink
from tests.edge.cloud import new_code, register_devices, revoke
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

STRANGER = "0A:0B:0C:0D:0E:99"


def _address() -> str:
    return ":".join(f"{b:02X}" for b in uuid.uuid4().bytes[:6])


def gateway(tmp_path: Path, cloud: tuple[str, Path], db: TestDatabase,
            tenants: Tenants) -> tuple[GatewayConfig, str, str]:  # fmt: skip
    """Enrol a new gateway through `edge.enrol` and register its scale and button (returns their addresses)."""
    scale, button = _address(), _address()
    url, ca = cloud
    code = new_code(db.runtime_url, tenants.a.municipality_id)
    gateway_id = enrol(url, code, tmp_path / "gateway.toml", ca_file=ca)
    register_devices(db.runtime_url, UUID(gateway_id), tenants.a.patients["nord"],
                     {scale: "and-uc-352ble", button: "shelly-blu-button1"})  # fmt: skip
    config = load_config(tmp_path / "gateway.toml")
    return replace(config, batch_age_s=30.0, backoff_base_s=0.05), scale, button


def reading(device: str, metric: str = "body.weight", value: float = 80.0) -> Observation:
    now = datetime.now(UTC)
    return Observation(device, metric, value, "kg" if metric == "body.weight" else "1", now, now)


def stored(db: TestDatabase, gateway_id: str) -> tuple[list[int], list[tuple[int, str]]]:
    with psycopg.connect(db.runtime_url) as conn:
        obs = conn.execute("SELECT seq FROM observations WHERE gateway_id = %s ORDER BY seq", (gateway_id,))
        kept = [r[0] for r in obs.fetchall()]
        quarantine = conn.execute(
            "SELECT seq, reason FROM quarantine WHERE gateway_id = %s ORDER BY seq", (gateway_id,)
        ).fetchall()
    return kept, [(r[0], r[1]) for r in quarantine]


def test_enrol_stores_a_0600_credential_and_refuses_reuse_and_plain_http(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config, _, _ = gateway(tmp_path, cloud, edge_db, edge_tenants)
    assert stat.S_IMODE(config.credential_file.stat().st_mode) == 0o600
    assert len(config.credential()) > 20 and config.cloud_url == cloud[0]
    with pytest.raises(InsecureURLError):
        enrol(cloud[0].replace("https://", "http://"), "ABCD-EFGH", tmp_path / "other.toml")
    code = new_code(edge_db.runtime_url, edge_tenants.a.municipality_id)
    with pytest.raises(EnrolmentError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        enrol(cloud[0], code, tmp_path / "untrusted.toml")  # the test CA is not in the system store
    assert not (tmp_path / "untrusted.toml").exists()


async def _send_all(config: GatewayConfig, outbox: Outbox) -> list[int]:
    async with make_client(config.cloud_url, insecure_dev=False, ca_file=config.ca_file,
                           credential=config.credential()) as client:  # fmt: skip
        uplink = Uplink(config, outbox, client)
        return [await uplink.send_once() for _ in range(3)]


def test_uplink_deletes_exactly_the_committed_sequences(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config, SCALE, _ = gateway(tmp_path, cloud, edge_db, edge_tenants)  # noqa: N806
    outbox = Outbox(config.outbox_path)
    outbox.append([reading(SCALE, value=70 + i) for i in range(5)])  # 1-5: stored
    outbox.append([reading(STRANGER)])  # 6: unknown device, quarantined (and still committed)
    sink = Sink(outbox, None, None)
    assert sink.malformed(SCALE, b"\x02\x10", "too short")  # 7: forwarded garbage
    assert not sink.malformed(SCALE, b"\x02", "too short")  # rate-limited: counted, not forwarded
    config = replace(config, batch_max=4)
    assert asyncio.run(_send_all(config, outbox)) == [4, 3, 0]
    assert outbox.depth().count == 0
    kept, quarantined = stored(edge_db, config.gateway_id)
    assert kept == [1, 2, 3, 4, 5]
    assert quarantined == [(6, "unknown_device"), (7, "malformed")]
    assert outbox.counters()["malformed"] == 2 and outbox.counters()["uploaded"] == 7
    with psycopg.connect(edge_db.runtime_url) as conn:
        payload = conn.execute("SELECT payload FROM quarantine WHERE gateway_id = %s AND seq = 7",
                               (config.gateway_id,)).fetchone()  # fmt: skip
    assert payload is not None and payload[0]["context"]["raw_hex"] == "0210"


def test_a_revoked_credential_keeps_everything_and_is_counted(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config, SCALE, BUTTON = gateway(tmp_path, cloud, edge_db, edge_tenants)  # noqa: N806
    outbox = Outbox(config.outbox_path)
    outbox.append([reading(SCALE), reading(BUTTON, "alarm.button", 1)])
    revoke(edge_db.runtime_url, UUID(config.gateway_id))
    with pytest.raises(RetryLaterError, match="credential refused"):
        asyncio.run(_send_all(config, outbox))
    assert outbox.depth().count == 2
    assert outbox.counters()["auth_failures"] == 1
    assert [kind for _, kind, _ in outbox.events()] == ["auth_refused"]


def test_an_alarm_is_sent_at_once_while_routine_readings_wait_for_the_batch(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config, SCALE, BUTTON = gateway(tmp_path, cloud, edge_db, edge_tenants)  # noqa: N806
    outbox = Outbox(config.outbox_path)

    async def scenario() -> float:
        stop = asyncio.Event()
        async with make_client(config.cloud_url, insecure_dev=False, ca_file=config.ca_file,
                               credential=config.credential()) as client:  # fmt: skip
            uplink = Uplink(config, outbox, client)
            sink = Sink(outbox, uplink, None)
            task = asyncio.create_task(uplink.run(stop))
            sink.observations([reading(SCALE)])
            await asyncio.sleep(0.5)
            assert outbox.depth().count == 1  # routine: waits for batch_age_s (30 s) or batch_max
            started = asyncio.get_running_loop().time()
            sink.observations([reading(BUTTON, "alarm.button", 1)])
            while outbox.depth().alarms:  # noqa: ASYNC110 - polling the outbox file is the point
                await asyncio.sleep(0.01)
            elapsed = asyncio.get_running_loop().time() - started
            stop.set()
            await task
            return elapsed

    assert asyncio.run(scenario()) < 2.0
    assert stored(edge_db, config.gateway_id)[0] == [2]
    assert [p.seq for p in outbox.next_batch(10)] == [1]


def test_heartbeat_config_pull_and_device_proposal(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    config, SCALE, BUTTON = gateway(tmp_path, cloud, edge_db, edge_tenants)  # noqa: N806
    outbox = Outbox(config.outbox_path)
    outbox.append([reading(SCALE)])

    async def talk() -> tuple[bool, bool, dict[str, object], bool, bool]:
        async with make_client(config.cloud_url, insecure_dev=False, ca_file=config.ca_file,
                               credential=config.credential()) as client:  # fmt: skip
            link = CloudLink(config, outbox, client)
            changed, unchanged = await link.pull_config(), await link.pull_config()
            await link.report_status()
            # A home without the local alarm path reports none; once it has raised an alarm, the record goes.
            assert (_report()["local_alarms_raised"], _report()["local_alarm_failures"]) == (None, None)
            [alarm] = outbox.append([reading(BUTTON, "alarm.button", 1)])
            for ok in (True, False):  # what edge/local_alarm.py records for an alarm it raised
                attempt = {"at": datetime.now(UTC).isoformat(), "path": "siren", "ok": ok, "detail": "hall-siren",
                           "target": "hall-siren"}  # fmt: skip
                outbox.record_local_attempt(alarm, attempt, "siren")
            reply = await link.report_status()
            return (
                changed,
                unchanged,
                reply,
                await link.propose(STRANGER, "nonin-3230"),
                await link.propose(STRANGER, "nonin-3230"),
            )

    def _report() -> dict[str, object]:
        with psycopg.connect(edge_db.runtime_url) as conn:
            row = conn.execute("SELECT report FROM gateway_status WHERE gateway_id = %s", (config.gateway_id,))
            return dict(row.fetchone()[0])  # type: ignore[index]

    changed, unchanged, reply, proposed, again = asyncio.run(talk())
    assert (changed, unchanged, proposed, again) == (True, False, True, False)
    assert abs(float(reply["clock_skew_s"])) < 5  # type: ignore[arg-type]
    link = CloudLink(config, outbox, None)  # type: ignore[arg-type]
    assert link.assigned() == {SCALE: "and-uc-352ble", BUTTON: "shelly-blu-button1"}
    assert link.heartbeat_interval() == 60  # an alarm button shortens the heartbeat
    with psycopg.connect(edge_db.runtime_url) as conn:
        status = conn.execute("SELECT report FROM gateway_status WHERE gateway_id = %s", (config.gateway_id,))
        report = status.fetchone()
        proposal = conn.execute("SELECT address, profile_id FROM device_proposals WHERE gateway_id = %s",
                                (config.gateway_id,)).fetchall()  # fmt: skip
    assert report is not None and report[0]["outbox_depth"] == 2
    assert (report[0]["local_alarms_raised"], report[0]["local_alarm_failures"]) == (1, 1)
    assert proposal == [(STRANGER, "nonin-3230")]
