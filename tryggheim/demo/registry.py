"""The demo's registry: three homes with their residents (one a couple), next of kin, GPs, and the
consents that activate the simulated homes' supervision sensors. Idempotent across demo runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

from cloud.registry import OPERATOR, consent, homes
from cloud.registry import patients as registry
from common.timefmt import OSLO

# (address, access notes, residents): each resident is (name, phone, next of kin, phone of next of kin).
HOMES: tuple[tuple[str, str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("Thorvald Meyers gate 1, 0555 Oslo", "Nøkkelboks ved inngangen, kode i turlisten",
     (("Kari Nordmann (demo)", "+47 900 00 101", "Nils Nordmann (sønn)", "+47 900 00 102"),)),
    ("Demoveien 11, 0555 Oslo", "Elektronisk dørlås (e-lås), åpnes fra turlisten",
     (("Ola Nordmann (demo)", "+47 900 00 111", "Ingrid Nordmann (datter)", "+47 900 00 112"),)),
    ("Demoveien 12, 0555 Oslo", "Nøkkelboks i carporten; ekteparet deler dør- og bevegelsessensor",
     (("Per Hansen (demo)", "+47 900 00 121", "Berit Hansen (ektefelle)", "+47 900 00 122"),
      ("Berit Hansen (demo)", "+47 900 00 122", "Per Hansen (ektefelle)", "+47 900 00 121"))),
)  # fmt: skip
GP = {"name": "Fastlege Demo", "office": "Grünerløkka legesenter", "phone": "+47 22 00 00 00"}
REVIEW_DAYS = 180


async def seed_registry(conn: AsyncConnection[Any], municipality: UUID, team: UUID) -> None:
    """Create the homes and residents that are missing (patients created earlier are moved into their home)."""
    for address, notes, residents in HOMES:
        row = await (
            await conn.execute(
                "SELECT id FROM homes WHERE municipality_id = %s AND address = %s", (municipality, address)
            )
        ).fetchone()
        home = row[0] if row else await homes.create(
            conn, municipality_id=municipality, address=address, access_notes=notes, phone=None
        )  # fmt: skip
        for name, phone, kin, kin_phone in residents:
            found = await (await conn.execute("SELECT id FROM patients WHERE display_name = %s", (name,))).fetchone()
            relation = kin[kin.index("(") + 1 : -1]
            fields = registry.PatientFields(
                display_name=name, phone=phone, home_id=home, care_team_id=team, gp=GP,
                contacts=[registry.Contact(kin.split(" (")[0], relation, kin_phone, next_of_kin=True)],
            )  # fmt: skip
            if found is None:
                await registry.create(conn, municipality_id=municipality, fields=fields, lifecycle="active",
                                      allow_synthetic=False, by=OPERATOR)  # fmt: skip
            else:
                await registry.update(conn, municipality_id=municipality, patient_id=found[0], fields=fields,
                                      allow_synthetic=False)  # fmt: skip


async def install_with_consent(
    conn: AsyncConnection[Any], municipality: UUID, patient_id: UUID, device_id: UUID, profile_id: str, since: datetime
) -> None:
    """Assign a simulated device: supervision sensors to the home (shared by its residents) with a consent for
    each resident; everything else to the patient."""
    row = await (await conn.execute("SELECT home_id FROM patients WHERE id = %s", (patient_id,))).fetchone()
    home = row[0] if row else None
    if profile_id not in consent.supervision_profiles() or home is None:
        await conn.execute(
            "INSERT INTO device_assignments (device_id, patient_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
            (device_id, patient_id, since),
        )
        return
    await conn.execute(
        "INSERT INTO device_assignments (device_id, home_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
        (device_id, home, since),
    )
    review = datetime.now(OSLO).date() + timedelta(days=REVIEW_DAYS)
    for (resident,) in await (
        await conn.execute("SELECT id FROM patients WHERE home_id = %s ORDER BY id", (home,))
    ).fetchall():
        await consent.record(
            conn, municipality_id=municipality, patient_id=resident, device_id=device_id, basis="consent",
            note="Skriftlig samtykke ved installasjon (demo)", review_by=review, valid_from=since, by=OPERATOR,
        )  # fmt: skip


def counts(url: str) -> tuple[int, int, int]:
    """Homes, patients and valid consents, for the demo's start-up line."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM homes), (SELECT count(*) FROM patients), (SELECT count(*) FROM "
            "supervision_consents WHERE withdrawn_at IS NULL AND expires_at > %s)",
            (datetime.now(UTC),),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
