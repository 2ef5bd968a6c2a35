"""The demo's national services: HelseID, VKP and PMD stand-ins on free ports (tryggheim/demo/helseid_standin.py,
fhir_peer.py), the demo municipality's HelseID clients for VKP and PMD, and Kari's consent to share her
measurements with PMD. Each call the stand-ins take is printed as one line, so resolving an alert in the demo
shows its document arriving at "VKP" within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cloud.access import audit
from cloud.access.directory import municipality_id, staff_id_by_username
from cloud.db.pool import connect
from cloud.interop import clients
from cloud.interop.clients import ClientSettings
from cloud.interop.pmd import consents
from tryggheim.demo.citizens import KARI
from tryggheim.demo.fhir_peer import PMD_SCOPE, VKP_SCOPE
from tryggheim.demo.helseid_standin import NationalServices, start_national_services

CLIENT_ID = "tryggheim-demo-0301"
DEMO_ORGNR = "974760673"  # the organisation number VKP files the demo municipality's documents under
NURSE = "demo.sykepleier"
SETTER = audit.Actor.system("demo")


def start(state_dir: Path, say: Callable[[str], None]) -> NationalServices:
    """Start the stand-ins; the client's key is written under the state directory."""
    folder = state_dir / "interop"
    folder.mkdir(parents=True, exist_ok=True)
    return start_national_services(folder, [CLIENT_ID], echo=say)


async def _configure(runtime_url: str, services: NationalServices, kommunenummer: str) -> None:
    async with await connect(runtime_url) as conn:
        town = await municipality_id(conn, kommunenummer)
        await conn.execute("UPDATE municipalities SET orgnr = coalesce(orgnr, %s) WHERE id = %s", (DEMO_ORGNR, town))
        key = str(services.key_files[CLIENT_ID])
        issuer = services.helseid.issuer
        vkp = ClientSettings(issuer, CLIENT_ID, key, (VKP_SCOPE,), services.peer.vkp_base)
        await clients.set_client(conn, SETTER, town, "vkp", vkp)
        pmd = ClientSettings(issuer, CLIENT_ID, key, (PMD_SCOPE,), services.peer.pmd_base)
        await clients.set_client(conn, SETTER, town, "pmd", pmd)
        row = await (await conn.execute("SELECT id FROM patients WHERE display_name = %s", (KARI,))).fetchone()
        nurse, _town = await staff_id_by_username(conn, NURSE)
        if row is not None and await consents.live(conn, row[0]) is None:
            await consents.record(
                conn, municipality_id=town, patient_id=row[0], note="Samtykke gitt ved oppstart (demo)",
                given_at=datetime.now(UTC), by=nurse,
            )  # fmt: skip


def configure(runtime_url: str, services: NationalServices, kommunenummer: str) -> None:
    """Point the demo municipality's VKP and PMD clients at the stand-ins (every start: their ports change) and
    record Kari's PMD consent once."""
    asyncio.run(_configure(runtime_url, services, kommunenummer))
