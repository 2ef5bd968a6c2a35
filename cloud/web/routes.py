"""The web layer's routers, in the order the application includes them."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.web import (
    admin,
    admin_escalation,
    alert,
    assets,
    audit_page,
    citizen,
    enrol,
    fleet,
    handover,
    kits,
    patient,
    provider_sign_in,
    registry_pages,
    registry_patient,
    relative,
    response_centre,
    session,
    start,
    worklist,
)

ROUTERS: tuple[APIRouter, ...] = (assets.router, session.router, worklist.router, alert.link_router, alert.router)
ROUTERS += (start.router, response_centre.router, handover.router, patient.router, provider_sign_in.router)
ROUTERS += (citizen.router,)
ROUTERS += (kits.router, enrol.router, fleet.router)
ROUTERS += (relative.router,)
ROUTERS += (registry_pages.router, registry_patient.router, admin.router, admin_escalation.router, audit_page.router)
