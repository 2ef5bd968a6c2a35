"""The demo's population: one municipality, one care team, local accounts for a nurse, the response centre
(trygghetssentral), an installer, an administrator and an auditor, and local citizen accounts for Kari and her
son (tryggheim/demo/citizens.py); and what the demo's homes share with the screenshots' population
(tryggheim/demo/showcase.py): protocols, readings as a gateway sends them, the proposal of personal limits.
Passwords are generated once per state directory and kept there (0600); an account added in a later version gets
its password on the next start."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from cloud.access import audit, directory
from cloud.access.roles import ROLE_NAMES, Role
from cloud.db.pool import connect
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
ACCOUNTS_FILE = "demo-accounts.json"  # the demo accounts' passwords, made once per state directory (0600)
DEMO_ACTOR = audit.Actor.system("demo")  # who the demo's teams and accounts were created by, in the audit log


class AccountsFileError(Exception):
    """The state directory's account file cannot be read; the message says which file and why."""


def stored_passwords(state_dir: Path) -> dict[str, str]:
    """The passwords an earlier run made ({} for a new state directory). The accounts in the database have these
    passwords, so an unreadable file is refused (`AccountsFileError`) and left as it is: new passwords would not
    sign anyone in."""
    path = state_dir / ACCOUNTS_FILE
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AccountsFileError(f"{path}: {exc}") from exc
    if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
        raise AccountsFileError(f"{path}: not an object of user names and passwords")
    return stored


def _passwords(state_dir: Path) -> dict[str, str]:
    path = state_dir / ACCOUNTS_FILE
    stored = stored_passwords(state_dir)
    missing = [username for username, _, _ in (*ACCOUNTS, *CITIZENS) if username not in stored]
    if missing:
        stored |= {username: secrets.token_urlsafe(12) for username in missing}
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
    return stored


async def _seed(url: str, passwords: dict[str, str]) -> None:
    async with await connect(url) as conn:
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


async def assign_protocols(conn: psycopg.AsyncConnection[Any], patient_id: UUID, protocols: list[str]) -> None:
    """The patient's protocols, as a clinician would set them (kept when already set)."""
    await conn.execute(
        "INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (patient_id, protocols),
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


def report_status(client: httpx.Client, gateway_id: str, credential: str) -> None:
    """One heartbeat, as the gateway agent sends every minute for a kit with an alarm button: a gateway not
    heard from for 15 minutes counts as down (`live.gateway_heartbeat`)."""
    report = {"software_version": "demo", "uptime_s": 60, "gateway_clock": datetime.now(UTC).isoformat(),
              "outbox_depth": 0}  # fmt: skip
    client.post(
        f"/api/v1/gateways/{gateway_id}/status", json=report, headers={"Authorization": f"Bearer {credential}"}
    ).raise_for_status()
