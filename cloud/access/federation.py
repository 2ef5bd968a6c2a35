"""Who a provider's token speaks for: HelseID's claims to a staff member, ID-porten's to a citizen's record.

Staff are bound by national id (`helseid://claims/identity/pid`) to a staff record an administrator made;
a person the provider knows but we do not gets a clear refusal, never an account. Only security level 4
(`helseid://claims/identity/security_level`) reaches patient data; the token's organisation
(`helseid://claims/client/claims/orgnr_parent`) must be the staff member's municipality when it names one.
Citizens are bound by `pid` to their patient record, never by `sub` (pairwise per client in ID-porten); only
`acr = idporten-loa-high` reaches health data (R-ID-3, R-ID-4, R-ID-6 of the HelseID and ID-porten rules:
HelseID security profile; docs.digdir.no, "ID-porten: ID-token").
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access import authn
from cloud.access.access_tokens import TokenRefused
from cloud.access.principal import Credential, Principal

HELSEID_PID = "helseid://claims/identity/pid"
HELSEID_HPR = "helseid://claims/hpr/hpr_number"
HELSEID_SECURITY_LEVEL = "helseid://claims/identity/security_level"
HELSEID_ORGNR_PARENT = "helseid://claims/client/claims/orgnr_parent"
HIGH_SECURITY_LEVEL = "4"
STAFF_SCOPES = (
    "openid",
    "profile",
    "helseid://scopes/identity/pid",
    "helseid://scopes/hpr/hpr_number",
    "helseid://scopes/identity/security_level",
)
CITIZEN_SCOPES = ("openid", "profile")
_NATIONAL_ID = re.compile(r"^[0-9]{11}$")

NO_PERSON = "The token names no person (pid); this service needs a signed-in user."
UNKNOWN_STAFF = "No active staff account is bound to this person; ask the municipality's administrator."
UNKNOWN_CITIZEN = "No patient record, and no patient's invitation as a relative, is bound to this person."


def person_of(claims: dict[str, Any], claim: str) -> str:
    """The national id a token names, or a 403 refusal."""
    pid = claims.get(claim)
    if not isinstance(pid, str) or not _NATIONAL_ID.match(pid):
        raise TokenRefused(NO_PERSON, status=403, error="insufficient_scope")
    return pid


async def staff_for(conn: AsyncConnection[Any], claims: dict[str, Any], credential: Credential) -> Principal:
    """The staff member a HelseID token (access token or ID token) speaks for."""
    pid = person_of(claims, HELSEID_PID)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT s.id, m.orgnr FROM staff s JOIN municipalities m ON m.id = s.municipality_id "
        "WHERE s.national_id = %s AND s.active",
        (pid,),
    )
    row = await cur.fetchone()
    if row is None:
        raise TokenRefused(UNKNOWN_STAFF, status=403, error="insufficient_scope")
    organisation = claims.get(HELSEID_ORGNR_PARENT)
    if organisation is not None and organisation != row["orgnr"]:
        raise TokenRefused(
            "The token is for another organisation than the staff member's municipality.",
            status=403,
            error="insufficient_scope",
        )
    principal = await authn.staff_principal(
        conn,
        row["id"],
        credential,
        patient_data=str(claims.get(HELSEID_SECURITY_LEVEL, "")) == HIGH_SECURITY_LEVEL,
        origin="helseid",
    )
    if principal is None:
        raise TokenRefused(UNKNOWN_STAFF, status=403, error="insufficient_scope")
    return principal


async def citizen_for(conn: AsyncConnection[Any], claims: dict[str, Any], credential: Credential) -> Principal:
    """The citizen an ID-porten token speaks for, bound to their current patient record by `pid`, or, with no
    record, as the relative the patients who invited them let read their view (`cloud.access.relatives`)."""
    pid = person_of(claims, "pid")
    principal = await authn.citizen_of(conn, pid, credential, acr=claims.get("acr"))
    if principal is None:
        raise TokenRefused(UNKNOWN_CITIZEN, status=403, error="insufficient_scope")
    return principal
