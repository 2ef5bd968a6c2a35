"""The check that every route declares exactly one access policy (`cloud.access.policy`), made when the
application is built: `mark(router)` labels a router's routes in the OpenAPI document (`x-access`,
`x-patient-data`, `x-roles`) and `enforce(app)` refuses to serve an application with a route that declares
none or several, however it was added, or a gateway route on the staff pool."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from cloud.requests import staff_connection

PATIENT_DATA_KINDS = frozenset({"patient", "patient_search", "own_record", "relative_record"})


def _policies(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        kind = getattr(sub.call, "__access_policy__", None)
        if kind:
            found.append(kind)
        found += _policies(sub)
    return found


def _roles(dependant: Dependant) -> list[str]:
    found: list[str] = []
    for sub in dependant.dependencies:
        found += getattr(sub.call, "__access_roles__", None) or []
        found += _roles(sub)
    return found


def _calls(dependant: Dependant) -> set[Any]:
    found = set()
    for sub in dependant.dependencies:
        found |= {sub.call} | _calls(sub)
    return found


def _kind(dependant: Dependant, where: str) -> str:
    kinds = _policies(dependant)
    if len(kinds) != 1:
        raise RuntimeError(
            f"route {where} declares {len(kinds)} access policies; "
            "add exactly one of Public, gateway_only(), staff_only(), patient_access(), alert_access(), "
            "patient_search(), patient_emergency(), own_record(), relative_record(), relative_self()"
        )
    if kinds == ["gateway"] and staff_connection in _calls(dependant):
        raise RuntimeError(f"gateway route {where} takes a staff-pool connection (Conn); take GatewayConn")
    return kinds[0]


def mark(router: APIRouter) -> APIRouter:
    """Check a router's routes and label them in the OpenAPI document (`x-access`, `x-patient-data`).

    Runs before the router is included: FastAPI snapshots routes at inclusion.
    """
    for route in router.routes:
        if isinstance(route, APIRoute):
            kind = _kind(route.dependant, f"{sorted(route.methods or [])} {route.path}")
            extra = {**(route.openapi_extra or {}), "x-access": kind}
            if kind in PATIENT_DATA_KINDS:
                extra["x-patient-data"] = True
            if roles := _roles(route.dependant):
                extra["x-roles"] = roles  # who may call a patient route narrowed to some roles
            route.openapi_extra = extra
    return router


def enforce(app: FastAPI) -> int:
    """Refuse to serve an application with a route that declares no policy, or more than one, however it
    was added. Returns the number of API routes checked."""
    checked = 0
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            _kind(context.dependant, f"{sorted(context.methods or [])} {context.path}")
            checked += 1
    return checked
