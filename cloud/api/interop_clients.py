"""The caller's municipality's HelseID clients for VKP and PMD (cloud/interop/clients.py), for its administrator.

The administrator reads and changes the issuer, client id, scopes, service address and start time; the key file
is the operator's (`tryggheim admin interop set-client`): it names a file on the service's machines, and letting
a municipality's administrator point at any file there would let them use another municipality's key. So a
client is first configured by the operator, and a change here keeps its key file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.interop import clients
from cloud.interop.clients import ClientConfigError, ClientSettings, Service
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/interop/clients", tags=["interop"])
Reader = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN)]
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="interop.clients")]
ServiceName = Annotated[Service, Path(description="vkp or pmd.")]


class ClientIn(BaseModel):
    """What the administrator may change (the key file stays the operator's)."""

    model_config = ConfigDict(extra="forbid")
    issuer: str = Field(min_length=8, max_length=500)
    client_id: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20)
    base_url: str = Field(min_length=8, max_length=1000)
    active_from: datetime | None = None


class ClientOut(BaseModel):
    """A client as configured (the key file's path, never the key)."""

    service: Service
    issuer: str
    client_id: str
    key_file: str
    scopes: list[str]
    base_url: str
    enabled: bool
    active_from: datetime
    updated_at: datetime


def _out(client: clients.InteropClient) -> ClientOut:
    fields: dict[str, Any] = {name: getattr(client, name) for name in ClientOut.model_fields}
    return ClientOut(**{**fields, "scopes": list(client.scopes)})


@router.get("/{service}", responses={404: {}})
async def get_client(conn: Conn, reader: Reader, service: ServiceName) -> ClientOut:
    """The municipality's client for the service."""
    found = await clients.get(conn, reader.municipality_id, service)
    if found is None:
        raise HTTPException(404, f"No {clients.SERVICE_NAMES[service]} client is configured for your municipality.")
    return _out(found)


@router.put("/{service}", responses={409: {}, 422: {}})
async def put_client(request: Request, conn: Conn, admin: Admin, service: ServiceName, body: ClientIn) -> ClientOut:
    """Change the municipality's client for the service and enable it (audited); 409 until the operator has
    configured its key file."""
    found = await clients.get(conn, admin.municipality_id, service)
    if found is None:
        raise HTTPException(409, "The operator must first configure this client's key file.")
    settings = ClientSettings(body.issuer, body.client_id, found.key_file, tuple(body.scopes), body.base_url,
                              body.active_from)  # fmt: skip
    try:
        stored = await clients.set_client(conn, actor(request, admin), admin.municipality_id, service, settings,
                                          updated_by=admin.id)  # fmt: skip
    except ClientConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    return _out(stored)
