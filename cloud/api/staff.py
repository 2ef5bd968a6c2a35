"""Administration of staff, care teams and staff members' API tokens within the caller's municipality.

Every change is audited in the transaction that makes it. A staff member of another municipality answers
exactly like one that does not exist (404), and the attempt is recorded in both municipalities' audit chains.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field, field_validator

from cloud.access import directory, tokens
from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import STAFF_ROLES, Role
from cloud.access.signin import password_pool
from cloud.api.auth import TokenOut, token_out
from cloud.registry.identity import IdentifierError, national_id
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1", tags=["staff"])
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN)]
NO_SUCH_STAFF = "No such staff member."


class NewTeam(BaseModel):
    """A care team to create."""

    name: str = Field(min_length=1, max_length=200)


class NewStaff(BaseModel):
    """A staff member to create; `password` only for local accounts (demo mode)."""

    username: str = Field(pattern=r"^[A-Za-z0-9._@-]{2,100}$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    team_ids: list[UUID] = Field(default_factory=list, max_length=50)
    password: str | None = Field(default=None, min_length=12, max_length=1000)
    national_id: str | None = Field(
        default=None, pattern=r"^[0-9]{11}$", description="Binds a HelseID sign-in (pid) to this staff member."
    )

    @field_validator("role")
    @classmethod
    def _staff_role(cls, role: Role) -> Role:
        if role not in STAFF_ROLES:
            raise ValueError("a staff member cannot have the citizens' role")
        return role


class Deactivated(BaseModel):
    """A deactivated staff member and what the deactivation ended."""

    id: UUID
    deactivated_at: datetime | None
    sessions_ended: int
    tokens_revoked: int


async def _own_staff(request: Request, conn: Conn, admin: Principal, staff_id: UUID, action: str) -> None:
    if not await directory.in_municipality(conn, actor(request, admin), staff_id, action):
        raise HTTPException(404, NO_SUCH_STAFF)


@router.get("/teams")
async def list_teams(conn: Conn, admin: Admin) -> list[directory.Team]:
    """Care teams of the caller's municipality."""
    return await directory.list_teams(conn, admin.municipality_id)


@router.post("/teams", status_code=201)
async def create_team(body: NewTeam, request: Request, conn: Conn, admin: Admin) -> dict[str, str]:
    """Create a care team (idempotent by name)."""
    team = await directory.ensure_team(conn, admin.municipality_id, body.name, actor=actor(request, admin))
    return {"id": str(team)}


@router.get("/staff")
async def list_staff(conn: Conn, admin: Admin) -> list[directory.StaffMember]:
    """Staff of the caller's municipality."""
    return await directory.list_staff(conn, admin.municipality_id)


@router.post("/staff", status_code=201, responses={409: {}})
async def create_staff(body: NewStaff, request: Request, conn: Conn, admin: Admin) -> dict[str, str]:
    """Create a staff member in the caller's municipality."""
    fields = body.model_dump()
    if body.national_id is not None:
        try:
            allow_synthetic = request.app.state.settings.allow_synthetic_ids
            fields["national_id"] = national_id(body.national_id, allow_synthetic=allow_synthetic).number
        except IdentifierError as exc:
            raise HTTPException(422, f"national_id: {exc}") from None
    try:
        staff_id = await directory.add_staff(
            conn, actor=actor(request, admin), municipality=admin.municipality_id, passwords=password_pool(request),
            **fields,
        )  # fmt: skip
    except directory.DirectoryError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": str(staff_id)}


@router.post("/staff/{staff_id}/deactivate", responses={404: {}, 409: {}})
async def deactivate_staff(staff_id: UUID, request: Request, conn: Conn, admin: Admin) -> Deactivated:
    """Deactivate a staff member at once: they cannot sign in, and their sessions, API tokens and open event
    streams end on every process. Their records stay (the audit log points at them)."""
    if staff_id == admin.id:
        raise HTTPException(409, "You cannot deactivate yourself; ask another administrator.")
    await _own_staff(request, conn, admin, staff_id, "staff.deactivate")
    ended = await directory.deactivate(conn, actor(request, admin), staff_id, admin.municipality_id, admin.id)
    if ended is None:
        raise HTTPException(404, NO_SUCH_STAFF)
    return Deactivated(**ended.__dict__)


class TeamMembership(BaseModel):
    """The care team to add the staff member to."""

    team_id: UUID


@router.post("/staff/{staff_id}/teams", status_code=204, responses={404: {}})
async def add_to_team(staff_id: UUID, body: TeamMembership, request: Request, conn: Conn, admin: Admin) -> Response:
    """Add a staff member to a care team of the municipality (adding twice changes nothing)."""
    await _own_staff(request, conn, admin, staff_id, "staff.team.add")
    if not await directory.add_to_team(conn, actor(request, admin), staff_id, body.team_id):
        raise HTTPException(404, "No such care team in your municipality.")
    return Response(status_code=204)


@router.get("/staff/{staff_id}/tokens", responses={404: {}})
async def list_staff_tokens(staff_id: UUID, request: Request, conn: Conn, admin: Admin) -> list[TokenOut]:
    """A staff member's API tokens, newest first, active or not."""
    await _own_staff(request, conn, admin, staff_id, "token.list")
    return [token_out(t) for t in await tokens.list_tokens(conn, staff_id)]


@router.delete("/staff/{staff_id}/tokens/{token_id}", status_code=204, responses={404: {}})
async def revoke_staff_token(staff_id: UUID, token_id: UUID, request: Request, conn: Conn, admin: Admin) -> Response:
    """Revoke a staff member's token: it fails at once, and its open event streams end."""
    await _own_staff(request, conn, admin, staff_id, "token.revoke")
    revoked = await tokens.revoke(
        conn, actor(request, admin), staff_id=staff_id, municipality_id=admin.municipality_id, token_id=token_id,
        by=admin.id,
    )  # fmt: skip
    if not revoked:
        raise HTTPException(404, "This staff member has no such token.")
    return Response(status_code=204)
