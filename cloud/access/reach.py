"""Whether a caller reaches one patient of their municipality: the role's scope (`Principal.may_read_patient`),
the patient's blocks and the caller's emergency grants, decided in one place for every patient policy.

- A blocked staff member (by name or through one of their care teams) is refused whatever their role, and a
  plain emergency grant does not change that; only an unexpired grant that overrides the block does.
- A role with team scope reaches a patient outside its teams while it holds an unexpired grant.
- Routes that act on the patient's behalf (their blocks, their access log) take no grant: a care relation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.access import blocks, emergency
from cloud.access.principal import Principal
from cloud.access.roles import PATIENT_SCOPE


@dataclass(frozen=True)
class Reach:
    """Whether the caller reaches the patient, whether the patient has blocked them, and through which grant."""

    in_scope: bool
    blocked: bool = False
    grant: emergency.ActiveGrant | None = None


async def reach_of(
    conn: AsyncConnection[Any],
    principal: Principal | None,
    patient_id: UUID | None,
    home: UUID | None,
    team: UUID | None,
    *,
    through_grants: bool = True,
    asking: bool = False,
) -> Reach:
    """The caller's reach to the patient whose municipality is `home` and care team `team` (`home` None: no such
    patient). `asking`: the break-the-glass request itself, open to every role with patient data in the
    patient's municipality (`emergency.open_grant` decides on the grant)."""
    if principal is None or patient_id is None or home is None or home != principal.municipality_id:
        return Reach(False)
    if principal.kind != "staff" or not principal.patient_data:
        # a citizen reaches their own record through `own_record` only; a sign-in below the level patient data
        # needs opens nothing, not even through a grant
        return Reach(principal.may_read_patient(home, team))
    if asking:
        return Reach(PATIENT_SCOPE[principal.role] != "none")
    blocked = await blocks.is_blocked(conn, patient_id, principal.id, principal.team_ids)
    usual = principal.may_read_patient(home, team) and not blocked
    if usual or not through_grants or PATIENT_SCOPE[principal.role] == "none":
        return Reach(usual, blocked)
    grant = await emergency.active_grant(conn, patient_id, principal.id)
    if grant is None or (blocked and not grant.overrides_block):
        return Reach(False, blocked)
    return Reach(True, blocked, grant)
