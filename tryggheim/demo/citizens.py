"""The demo's citizens: Kari signs in to her own page with a local citizen account, and her son Nils, whom Kari
has let see her page, signs in to it as her relative. Both are bound by national id as ID-porten would bind
them (synthetic numbers, never a real person's). Idempotent across demo runs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.access import audit, citizen_accounts, relatives
from cloud.access.roles import Role
from cloud.registry import patients as registry

KARI = "Kari Nordmann (demo)"
KARI_NATIONAL_ID = "12434110260"  # synthetic (NAV's +40 month): born 12 March 1941
NILS_NATIONAL_ID = "05466810098"  # synthetic: born 5 June 1968
NILS = "Nils Nordmann (sønn)"
# The other residents' synthetic numbers, so that VKP can file their alerts as it files Kari's.
RESIDENT_IDS = {
    "Ola Nordmann (demo)": "03475010034",  # born 3 July 1950
    "Per Hansen (demo)": "21494610075",  # born 21 September 1946
    "Berit Hansen (demo)": "14454810083",  # born 14 May 1948
}
# (user name, role, national id)
CITIZENS = (
    ("demo.kari", Role.PATIENT, KARI_NATIONAL_ID),
    ("demo.parorende", Role.RELATIVE, NILS_NATIONAL_ID),
)


async def seed_citizens(
    conn: AsyncConnection[Any], municipality: UUID, passwords: dict[str, str], actor: audit.Actor
) -> None:
    """Kari's national id, the two citizen accounts and Kari's recorded consent for Nils, where missing."""
    row = await (await conn.execute("SELECT id, national_id FROM patients WHERE display_name = %s", (KARI,))).fetchone()
    assert row is not None, "the demo registry is seeded first"
    kari = row[0]
    if row[1] is None:
        fields = registry.PatientFields(national_id=KARI_NATIONAL_ID)
        await registry.update(conn, municipality_id=municipality, patient_id=kari, fields=fields, allow_synthetic=True)
    for name, number in RESIDENT_IDS.items():
        found = await (
            await conn.execute("SELECT id, national_id FROM patients WHERE display_name = %s", (name,))
        ).fetchone()
        if found is not None and found[1] is None:
            fields = registry.PatientFields(national_id=number)
            await registry.update(conn, municipality_id=municipality, patient_id=found[0], fields=fields,
                                  allow_synthetic=True)  # fmt: skip
    for username, _role, person in CITIZENS:
        if await (await conn.execute("SELECT 1 FROM citizen_accounts WHERE username = %s", (username,))).fetchone():
            continue
        await citizen_accounts.add(conn, actor, municipality=municipality, username=username,
                                   password=passwords[username], person=person)  # fmt: skip
    if not any(link.live for link in await relatives.of_patient(conn, kari)):
        await relatives.invite(conn, actor, patient_id=kari, display_name=NILS, person=NILS_NATIONAL_ID,
                               consented_by="patient (demo)")  # fmt: skip
