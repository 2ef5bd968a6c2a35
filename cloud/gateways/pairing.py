"""Pairing confirmed: the installer confirms a device the gateway proposed and, in the same step, assigns it
to a resident or to the home; or assigns a device of the kit later.

One transaction per confirmation: the device joins the inventory (if new), is registered to the gateway from
now on, is assigned, and the proposal is marked confirmed, or nothing of it is written. The registry refuses an
assignment overlapping another period of the device (409). A supervision sensor (door, bed, motion:
`consent.supervision_profiles`) is activated for people only while a valid consent or documented assessment
covers every person concerned (the resident, or every resident of the home); without it the assignment is
refused (`ConsentMissingError`) and the sensor can still join the kit unassigned (its readings stay in
quarantine, nothing is evaluated), so that the consent can be recorded for it on the patient's page first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access import audit
from cloud.gateways import reports
from cloud.registry import assignments, consent, homes
from cloud.registry.errors import ConflictError, NotFoundError
from common.i18n import N_

NO_SUCH_GATEWAY = N_("No such gateway in your municipality.")
NOT_WAITING = N_("This proposed device is already confirmed, or the gateway did not propose it.")
CONSENT_NEEDED = N_(
    "A door, bed or motion sensor is activated only with a valid consent or documented assessment for every "
    "person concerned. Nothing was changed: record it on the resident's page, then assign the sensor."
)


class ConsentMissingError(ConflictError):
    """A supervision sensor without a valid record for everyone concerned; `people` names who lacks one."""

    def __init__(self, people: list[UUID]) -> None:
        super().__init__(CONSENT_NEEDED)
        self.people = people


async def _people(conn: AsyncConnection[Any], patient_id: UUID | None, home_id: UUID | None) -> list[UUID]:
    if patient_id is not None:
        return [patient_id]
    assert home_id is not None
    return (await homes.residents(conn, [home_id]))[home_id]


async def check_consent(
    conn: AsyncConnection[Any], device_id: UUID, profile_id: str, patient_id: UUID | None, home_id: UUID | None
) -> None:
    """Raise `ConsentMissingError` when a supervision sensor would measure someone without a valid record."""
    if profile_id not in consent.supervision_profiles():
        return
    people = await _people(conn, patient_id, home_id)
    book = await consent.load_book(conn, [device_id])
    now = datetime.now(UTC)
    lacking = [person for person in people if not book.covers(device_id, [person], now)]
    if lacking or not people:
        raise ConsentMissingError(lacking)


async def assign(
    conn: AsyncConnection[Any], *, municipality_id: UUID, device_id: UUID, patient_id: UUID | None,
    home_id: UUID | None, actor: audit.Actor, by: UUID,
) -> int:  # fmt: skip
    """Assign a device of the municipality from now on, checking a supervision sensor's consent first;
    audited as `device.assign`. Returns the assignment period's id."""
    async with conn.transaction():
        device = await assignments.owned_device(conn, municipality_id, device_id)
        await check_consent(conn, device_id, device["profile_id"], patient_id, home_id)
        period = await assignments.assign(
            conn, municipality_id=municipality_id, device_id=device_id, patient_id=patient_id, home_id=home_id, by=by
        )
        await audit.append(conn, actor.record("device.assign", f"device/{device_id}", municipality_id=municipality_id))
    return period


async def gateway_of(conn: AsyncConnection[Any], gateway_id: UUID, municipality_id: UUID) -> None:
    """Refuse (404) a gateway that is not of the municipality."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT 1 FROM gateways WHERE id = %s AND municipality_id = %s", (gateway_id, municipality_id))
    if await cur.fetchone() is None:
        raise NotFoundError(NO_SUCH_GATEWAY)


async def confirm(
    conn: AsyncConnection[Any], *, municipality_id: UUID, gateway_id: UUID, proposal_id: int,
    patient_id: UUID | None, home_id: UUID | None, actor: audit.Actor, by: UUID,
) -> UUID:  # fmt: skip
    """Confirm a proposed device: inventory, registration to the gateway, assignment (when a resident or the
    home is given) and the proposal's mark, all or nothing; audited as `pairing.confirm`. Returns the device."""
    async with conn.transaction():
        await gateway_of(conn, gateway_id, municipality_id)
        waiting = {p.id: p for p in await reports.proposals_of(conn, gateway_id) if p.confirmed_at is None}
        proposal = waiting.get(proposal_id)
        if proposal is None:
            raise ConflictError(NOT_WAITING)
        device = await assignments.device_at(
            conn, municipality_id=municipality_id, profile_id=proposal.profile_id, address=proposal.address
        )
        if patient_id is not None or home_id is not None:
            await check_consent(conn, device, proposal.profile_id, patient_id, home_id)
        if await assignments.registered_to(conn, device) != gateway_id:
            await assignments.register(conn, municipality_id=municipality_id, device_id=device, gateway_id=gateway_id)
        if patient_id is not None or home_id is not None:
            await assignments.assign(
                conn, municipality_id=municipality_id, device_id=device, patient_id=patient_id, home_id=home_id, by=by
            )
        await reports.mark_confirmed(conn, gateway_id, proposal_id, device)
        resource = f"gateway/{gateway_id}/proposal/{proposal_id}"
        await audit.append(conn, actor.record("pairing.confirm", resource, municipality_id=municipality_id))
    return device
