"""The demo's population: one municipality, one care team, local accounts for a nurse, the response centre
(trygghetssentral), an installer, an administrator and an auditor, and local citizen accounts for Kari and her
son (tryggheim/demo/citizens.py). Passwords are generated once per state directory and kept there (0600); an
account added in a later version gets its password on the next start."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg

from cloud.access import audit, directory
from cloud.access.roles import ROLE_NAMES, Role
from cloud.gateways import credentials, devices
from device_profiles import wire
from device_profiles.wire import WireReading
from tryggheim.demo.citizens import CITIZENS, seed_citizens
from tryggheim.demo.registry import seed_registry

MUNICIPALITY = ("0301", "Oslo (demo)")
TEAM = "Hjemmesykepleien Grünerløkka"
ACCOUNTS = (
    ("demo.sykepleier", "Sykepleier Demo", Role.NURSE),
    # The response centre answers the whole municipality's safety alarms: no care team of its own.
    ("demo.responssenter", "Responssenter Demo", Role.RESPONSE_CENTRE),
    ("demo.installator", "Installatør Demo", Role.INSTALLER),
    ("demo.admin", "Administrator Demo", Role.MUNICIPALITY_ADMIN),
    ("demo.revisor", "Revisor Demo", Role.AUDITOR),  # reads the audit log (/audit)
)
PATIENTS = ("Kari Nordmann (demo)", "Ola Nordmann (demo)")
# A scale and a blood-pressure monitor from the device catalogue, with made-up addresses.
DEMO_DEVICES = (
    ("D0:E1:00:00:00:01", "and-uc-352ble"),
    ("D0:E1:00:00:00:02", "and-ua-651ble"),
    ("D0:E1:00:00:00:03", "shelly-blu-button1"),
)
# Kari has heart failure and a safety alarm: her morning weights rise 2.6 kg over the last three days.
DEMO_WEIGHTS = (74.0, 74.1, 74.0, 74.6, 75.5, 76.6)
# Before that, 30 days of her history from the shared home simulator, so that her personal baseline exists
# and a proposal of personal limits waits for the nurse.
HISTORY_DAYS = 30
INSTALLED_DAYS_AGO = HISTORY_DAYS + 1
HEARTBEAT_S = 60.0  # the scripted gateway's, as an agent's with an alarm button

DEMO_ACTOR = audit.Actor.system("demo")  # who the demo's teams and accounts were created by, in the audit log


def _passwords(state_dir: Path) -> dict[str, str]:
    path = state_dir / "demo-accounts.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [username for username, _, _ in (*ACCOUNTS, *CITIZENS) if username not in stored]
    if missing:
        stored |= {username: secrets.token_urlsafe(12) for username in missing}
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
    return stored


async def _seed(url: str, passwords: dict[str, str]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.ensure_municipality(conn, *MUNICIPALITY)
        team = await directory.ensure_team(conn, municipality, TEAM, actor=DEMO_ACTOR)
        existing = {m.username for m in await directory.list_staff(conn, municipality)}
        for username, name, role in ACCOUNTS:
            if username not in existing:
                teams = [team] if role == Role.NURSE else []
                await directory.add_staff(
                    conn,
                    actor=DEMO_ACTOR,
                    municipality=municipality,
                    username=username,
                    display_name=name,
                    role=role,
                    team_ids=teams,
                    password=passwords[username],
                )
        await seed_registry(conn, municipality, team)
        await seed_citizens(conn, municipality, passwords, DEMO_ACTOR)


def seed(runtime_url: str, state_dir: Path) -> list[tuple[str, str, str]]:
    """Create the demo population if missing; return (role, username, password) for each account."""
    state_dir.mkdir(parents=True, exist_ok=True)
    passwords = _passwords(state_dir)
    asyncio.run(_seed(runtime_url, passwords))
    staff = [(role.value, username, passwords[username]) for username, _, role in ACCOUNTS]
    return staff + [(role.value, username, passwords[username]) for username, role, _ in CITIZENS]


def describe(accounts: list[tuple[str, str, str]], translations: NullTranslations) -> list[str]:
    """Lines printed for the person running the demo: each role in the reader's words, user name, password."""
    return [
        f"  {translations.gettext(ROLE_NAMES[Role(role)]):<22} {username:<20} {password}"
        for role, username, password in accounts
    ]


async def _home_and_code(url: str) -> tuple[str, str, str | None]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT h.id, p.id FROM patients p JOIN homes h ON h.id = p.home_id WHERE p.display_name = %s",
                (PATIENTS[0],),
            )
        ).fetchone()
        assert row is not None
        enrolled = await (await conn.execute("SELECT id FROM gateways WHERE home_id = %s", (row[0],))).fetchone()
        if enrolled is not None:
            return str(row[0]), str(enrolled[0]), None
        code, _ = await credentials.create_code(conn, row[0])
        return str(row[0]), str(row[1]), code


async def assign_protocols(conn: psycopg.AsyncConnection[Any], patient_id: UUID, protocols: list[str]) -> None:
    """The patient's protocols, as a clinician would set them (kept when already set)."""
    await conn.execute(
        "INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (patient_id, protocols),
    )


async def _register(url: str, gateway_id: str, patient_id: str) -> None:
    since = datetime.now(UTC) - timedelta(days=INSTALLED_DAYS_AGO)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await assign_protocols(conn, UUID(patient_id), ["heart_failure", "welfare"])
        for address, profile in DEMO_DEVICES:
            device = await devices.register(
                conn, gateway_id=UUID(gateway_id), address=address, profile_id=profile, valid_from=since
            )
            await devices.assign(conn, device_id=device, patient_id=UUID(patient_id), valid_from=since)


async def _alerts(url: str, patient_id: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT rule, severity FROM alerts WHERE patient_id = %s AND alert_class = 'clinical' ORDER BY id",
                (UUID(patient_id),),
            )
        ).fetchall()
    return [f"{rule} ({severity})" for rule, severity in rows]


def _last_morning(now: datetime) -> datetime:
    """06:30 of the newest morning that has passed: a demo started before 06:30 must not send this morning's
    readings from the future (the ingest would rightly quarantine them as implausible times)."""
    morning = now.replace(hour=6, minute=30, second=0, microsecond=0)
    return morning if morning <= now - timedelta(minutes=1) else morning - timedelta(days=1)


def _history(now: datetime) -> list[wire.WireJSON]:
    """Kari's simulated morning weights and twice-daily blood pressure and pulse before the scripted days."""
    from device_profiles.sim import HomeSimulator

    addresses = {"scale": DEMO_DEVICES[0][0], "blood_pressure": DEMO_DEVICES[1][0]}
    scripted_from = _last_morning(now).replace(hour=0, minute=0) - timedelta(days=len(DEMO_WEIGHTS) - 1)
    simulator = HomeSimulator(seed=2026, start=now - timedelta(days=HISTORY_DAYS), baseline_weight_kg=DEMO_WEIGHTS[0])
    return wire_readings(
        (addresses[event.device.role], o.metric, o.value, o.unit, event.at)
        for event in simulator.events(until=scripted_from)
        if event.device.role in addresses
        for o in event.observations
    )


def wire_readings(items: Iterable[tuple[str, str, float | str, str, datetime]]) -> list[wire.WireJSON]:
    """(device, metric, value, unit, measured at) as a gateway sends them, numbered from 1, received when measured."""
    return [
        WireReading(seq=seq, device=device, metric=metric, value=value, unit=unit, measured_at=at,
                    received_at=at).encode()
        for seq, (device, metric, value, unit, at) in enumerate(items, start=1)
    ]  # fmt: skip


async def propose_limits(url: str, patient_id: str) -> str:
    """Propose Kari's personal limits now (the service's hourly job would do it within the hour)."""
    from cloud.db.pool import make_pool
    from cloud.evaluation.baselines import propose_due

    pool = make_pool(url, min_size=1, max_size=2, timeout_s=10)
    await pool.open()
    try:
        await propose_due(pool)
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT id, rules FROM baseline_proposals WHERE patient_id = %s AND status = 'proposed'",
                    (UUID(patient_id),),
                )
            ).fetchone()
    finally:
        await pool.close()
    if row is None:
        return "no baseline proposal yet"
    limits = ", ".join(f"{r['rule']} {r['proposed']['green_low']}-{r['proposed']['green_high']}" for r in row[1])
    return f"baseline proposal {row[0]} waiting for approval ({limits})"


def _readings(now: datetime) -> list[wire.WireJSON]:
    """Six mornings of weights, this morning's blood pressure, and an alarm press just now."""
    scale, monitor, button = (address for address, _ in DEMO_DEVICES)
    today = _last_morning(now)
    days = len(DEMO_WEIGHTS)
    items: list[tuple[str, str, float, str, datetime]] = [
        (scale, "body.weight", weight, "kg", today - timedelta(days=days - 1 - i))
        for i, weight in enumerate(DEMO_WEIGHTS)
    ]
    items += [
        (monitor, "bp.systolic", 138, "mm[Hg]", today),
        (monitor, "bp.diastolic", 84, "mm[Hg]", today),
        (button, "alarm.button", 1, "1", now),
    ]
    return wire_readings(items)


def report_status(client: httpx.Client, gateway_id: str, credential: str) -> None:
    """One heartbeat, as the gateway agent sends every minute for a kit with an alarm button: a gateway not
    heard from for 15 minutes counts as down (`live.gateway_heartbeat`)."""
    report = {"software_version": "demo", "uptime_s": 60, "gateway_clock": datetime.now(UTC).isoformat(),
              "outbox_depth": 0}  # fmt: skip
    client.post(
        f"/api/v1/gateways/{gateway_id}/status", json=report, headers={"Authorization": f"Bearer {credential}"}
    ).raise_for_status()


async def _fresh_credential(url: str) -> tuple[str, str] | None:
    """Kari's gateway and a new credential for it (the one from its enrolment is not kept across runs)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT g.id FROM gateways g JOIN patients p ON p.home_id = g.home_id "
                "WHERE p.display_name = %s AND g.revoked_at IS NULL",
                (PATIENTS[0],),
            )
        ).fetchone()
        return None if row is None else (str(row[0]), await credentials.rotate(conn, row[0]))


def keep_reporting(base_url: str, runtime_url: str, stop: threading.Event) -> None:
    """The scripted gateway's heartbeat every minute until `stop`, as a real gateway agent sends it: it has no
    agent of its own, and without a heartbeat it would rightly count as down 15 minutes into the demo."""
    found = asyncio.run(_fresh_credential(runtime_url))
    if found is None:
        return
    gateway_id, credential = found
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while True:
            with suppress(httpx.HTTPError):  # the service is busy or stopping: the next beat tries again
                report_status(client, gateway_id, credential)
            if stop.wait(HEARTBEAT_S):
                return


def enrol_scripted_gateway(base_url: str, runtime_url: str) -> str:
    """Enrol one gateway through the real HTTP flow and send a few readings, as a gateway would.

    Returns one line describing what was stored.
    """
    _, patient_or_gateway, code = asyncio.run(_home_and_code(runtime_url))
    if code is None:
        return f"gateway {patient_or_gateway} was enrolled by an earlier run (state is kept in the state directory)"
    patient_id = patient_or_gateway
    with httpx.Client(base_url=base_url, timeout=10) as client:
        enrolled = client.post("/api/v1/gateways/enrol", json={"code": code})
        enrolled.raise_for_status()
        gateway_id, credential = enrolled.json()["gateway_id"], enrolled.json()["credential"]
        report_status(client, gateway_id, credential)
        asyncio.run(_register(runtime_url, gateway_id, patient_id))
        backfilled = client.post(
            "/api/v1/ingest",
            json=wire.batch(str(uuid4()), _history(datetime.now(UTC))),
            headers={"Authorization": f"Bearer {credential}"},
        )
        backfilled.raise_for_status()
        readings = _readings(datetime.now(UTC))
        stored = client.post(
            "/api/v1/ingest",
            json=wire.batch(str(uuid4()), readings),
            headers={"Authorization": f"Bearer {credential}"},
        )
        stored.raise_for_status()
    opened: list[str] = []
    deadline = time.monotonic() + 15
    while len(opened) < 2 and time.monotonic() < deadline:  # evaluation runs in the service, asynchronously
        time.sleep(0.5)
        opened = asyncio.run(_alerts(runtime_url, patient_id))
    proposal = asyncio.run(propose_limits(runtime_url, patient_id))
    return (
        f"gateway {gateway_id} enrolled with a one-time code; {stored.json()['stored']} readings stored; "
        f"alerts opened: {', '.join(opened) or 'none yet'}; {HISTORY_DAYS} days of history backfilled "
        f"({backfilled.json()['stored']} readings); {proposal}"
    )
