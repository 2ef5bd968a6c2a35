"""The principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from cloud.access.roles import PATIENT_SCOPE, Role


@dataclass(frozen=True)
class Credential:
    """What a request authenticated with, so that a long response (an event stream) can check it again."""

    kind: Literal["session", "citizen_session", "token", "provider_token"]
    digest: bytes  # SHA-256 of the secret, as stored
    expires_at: float | None = None  # a provider's token: its `exp` (nothing is stored to look up)


@dataclass(frozen=True)
class Principal:
    """An authenticated staff member (`kind` staff) or citizen (`kind` patient, `id` their patient record)."""

    kind: str
    id: UUID
    municipality_id: UUID
    role: Role
    team_ids: frozenset[UUID] = field(default_factory=frozenset)
    username: str = ""
    display_name: str = ""
    csrf_token: str | None = None  # set when authenticated by session cookie
    credential: Credential | None = None
    # False when the sign-in was not strong enough for health data: HelseID security level below 4, ID-porten
    # below idporten-loa-high. Such a principal may still use what holds no patient data.
    patient_data: bool = True
    origin: Literal["local", "helseid", "idporten"] = "local"

    def may_read_patient(self, municipality_id: UUID, care_team_id: UUID | None) -> bool:
        """The one rule for patient data: a strong enough sign-in, the same municipality, and team membership
        where the role needs it (a citizen: their own record, which `patient_record` checks)."""
        if municipality_id != self.municipality_id or not self.patient_data:
            return False
        scope = PATIENT_SCOPE[self.role]
        if scope == "municipality":
            return True
        if scope == "team":
            return care_team_id is not None and care_team_id in self.team_ids
        return False

    def owns_record(self, patient_id: UUID) -> bool:
        """Whether this is the citizen whose record `patient_id` is (signed in strongly enough)."""
        return self.kind == "patient" and self.patient_data and self.id == patient_id
