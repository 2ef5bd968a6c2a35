"""The demo's fourth kit, enrolled through the QR page as an installer would: a fourth home with its resident, an
enrolment code made as the administrator makes it on the home's page (waiting for the installer's confirmation),
and an edge agent that waits in `tryggheim edge enrol` until the installer (demo.installator) confirms the home on
the enrolment page, then runs on the simulator and proposes its devices for confirmation on the gateway's page.

The code's address is printed once (only its digest is stored); a later demo run whose kit is still waiting
makes a new code. Once enrolled, the agent simply runs, as the other homes' do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from cloud.access import audit, directory
from cloud.db.pool import connect
from cloud.gateways import enrolment
from cloud.registry import OPERATOR, homes
from cloud.registry import patients as registry
from common.children import die_with_parent
from tryggheim.demo.seed import MUNICIPALITY

SEED = 13
ADDRESS = "Demoveien 13, 0555 Oslo"
RESIDENT = "Eva Berg (demo)"
SPEED = 120  # as the other simulated homes
WAIT_S = 4 * 3600  # the agent waits this long for the installer's confirmation
_TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


async def _home(conn: psycopg.AsyncConnection[Any], municipality: UUID) -> UUID:
    """The fourth home and its resident (created once)."""
    row = await (
        await conn.execute("SELECT id FROM homes WHERE municipality_id = %s AND address = %s", (municipality, ADDRESS))
    ).fetchone()
    if row is not None:
        return UUID(str(row[0]))
    home = await homes.create(conn, municipality_id=municipality, address=ADDRESS, phone=None,
                              access_notes="Nøkkelboks ved døren; nytt utstyr installeres (demo)")  # fmt: skip
    # No care team yet: she joins the nurse's list once her kit is installed and sends readings.
    fields = registry.PatientFields(display_name=RESIDENT, phone="+47 900 00 131", home_id=home)
    await registry.create(conn, municipality_id=municipality, fields=fields, lifecycle="active",
                          allow_synthetic=False, by=OPERATOR)  # fmt: skip
    return home


async def _code(url: str, public_url: str) -> tuple[str, str, int]:
    """A new code for the fourth home, made by the demo's administrator and waiting for the installer: its
    enrolment address (with the code in the fragment), the code, and the enrolment's id."""
    async with await connect(url) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        home = await _home(conn, municipality)
        admin = await (
            await conn.execute(
                "SELECT id FROM staff WHERE username = 'demo.admin' AND municipality_id = %s", (municipality,)
            )
        ).fetchone()
        assert admin is not None
        actor = audit.Actor.system("demo.admin")
        made, code = await enrolment.issue(conn, municipality_id=municipality, home_id=home, actor=actor, by=admin[0])
    return enrolment.enrolment_url(public_url, code), code, made.id


def start(base_url: str, runtime_url: str, state_dir: Path, gettext: Callable[[str], str]) -> subprocess.Popen[bytes]:
    """Start the fourth kit's agent: waiting in enrolment first when it is not enrolled yet, and then it prints
    the enrolment page's address for the installer (in the words of `gettext`)."""
    home_dir = (state_dir / "edge" / f"home-{SEED}").resolve()
    home_dir.mkdir(parents=True, exist_ok=True)
    config = home_dir / "gateway.toml"
    link: str | None = None
    code = ""
    if not config.exists():
        link, code, _ = asyncio.run(_code(runtime_url, base_url))
    env = {
        **os.environ,
        "TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true",
        "TRYGGHEIM_EDGE_SIMULATOR__SEED": str(SEED),
        "TRYGGHEIM_EDGE_SIMULATOR__SPEED": str(SPEED),
    }
    command = [sys.executable, "-m", "tryggheim.demo.kit", base_url, code, str(config)]
    log = (home_dir / "agent.log").open("ab")
    agent = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )  # fmt: skip
    log.close()
    if link:
        print(gettext("A fourth kit waits for the installer (demo.installator) to confirm its home: {url}").format(
            url=link), flush=True)  # fmt: skip
    return agent


def showcase(base_url: str, runtime_url: str, gateway: str, credential: str) -> dict[str, str]:
    """For the screenshots: the fourth home's code waiting for the installer, and a blood-glucose meter and a
    door sensor proposed by `gateway`. Returns the ids the pages' paths name (`enrolment`, `gateway`)."""
    _, _, waiting = asyncio.run(_code(runtime_url, base_url))
    proposed = (("D0:E1:00:00:04:01", "roche-accu-chek-guide"), ("hall-door-2", "aqara-door-window-mccgq11lm"))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for address, profile in proposed:
            client.post(f"/api/v1/gateways/{gateway}/devices", json={"address": address, "profile_id": profile},
                        headers={"Authorization": f"Bearer {credential}"}).raise_for_status()  # fmt: skip
    return {"enrolment": str(waiting), "gateway": gateway}


def _enrol_then_run(base_url: str, code: str, config: Path) -> None:
    """Wait in enrolment (when `code` is given) for the installer's confirmation, then become the agent (same
    process, so stopping it is one signal whichever step it is in)."""
    if code:
        from edge.enrol import enrol

        enrol(base_url, code, config, insecure_dev=True, wait_s=WAIT_S, on_wait=lambda text: print(text, flush=True))
    os.execv(_TRYGGHEIM, [_TRYGGHEIM, "edge", "run", "--config", str(config)])  # noqa: S606 - our own CLI


if __name__ == "__main__":
    _enrol_then_run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
