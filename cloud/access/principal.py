"""The principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from cloud.access.roles import PATIENT_SCOPE, Role


@dataclass(frozen=True)
class Credential:
    """What a request authenticated with, so that a long response (an event stream) can check it again."""

    kind: Literal["session", "token"]
    digest: bytes  # SHA-256 of the secret, as stored


@dataclass(frozen=True)
class Principal:
    """An authenticated staff member (gateways and patients join later as other kinds)."""

    kind: str
    id: UUID
    municipality_id: UUID
    role: Role
    team_ids: frozenset[UUID] = field(default_factory=frozenset)
    username: str = ""
    display_name: str = ""
    csrf_token: str | None = None  # set when authenticated by session cookie
    credential: Credential | None = None

    def may_read_patient(self, municipality_id: UUID, care_team_id: UUID | None) -> bool:
        """The one rule for patient data: same municipality, and team membership where the role needs it."""
        if municipality_id != self.municipality_id:
            return False
        scope = PATIENT_SCOPE[self.role]
        if scope == "municipality":
            return True
        if scope == "team":
            return care_team_id is not None and care_team_id in self.team_ids
        return False
