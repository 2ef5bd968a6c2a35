"""Administration of staff and care teams within the caller's municipality."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from cloud.access import directory
from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.api.deps import Conn

router = APIRouter(prefix="/api/v1", tags=["staff"])
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN)]


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


@router.get("/teams")
async def list_teams(conn: Conn, admin: Admin) -> list[dict[str, str]]:
    """Care teams of the caller's municipality."""
    rows = await (
        await conn.execute(
            "SELECT id, name FROM care_teams WHERE municipality_id = %s ORDER BY name",
            (admin.municipality_id,),
        )
    ).fetchall()
    return [{"id": str(r[0]), "name": r[1]} for r in rows]


@router.post("/teams", status_code=201)
async def create_team(body: NewTeam, conn: Conn, admin: Admin) -> dict[str, str]:
    """Create a care team (idempotent by name)."""
    return {"id": str(await directory.ensure_team(conn, admin.municipality_id, body.name))}


@router.get("/staff")
async def list_staff(conn: Conn, admin: Admin) -> list[directory.StaffMember]:
    """Staff of the caller's municipality."""
    return await directory.list_staff(conn, admin.municipality_id)


@router.post("/staff", status_code=201, responses={409: {}})
async def create_staff(body: NewStaff, conn: Conn, admin: Admin) -> dict[str, str]:
    """Create a staff member in the caller's municipality."""
    try:
        staff_id = await directory.add_staff(
            conn,
            municipality=admin.municipality_id,
            username=body.username,
            display_name=body.display_name,
            role=body.role,
            team_ids=body.team_ids,
            password=body.password,
        )
    except directory.DirectoryError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": str(staff_id)}
