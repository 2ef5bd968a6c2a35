"""The web layer's routers, in the order the application includes them."""

from __future__ import annotations

from cloud.web import alert, assets, patient, session, worklist

ROUTERS = (assets.router, session.router, worklist.router, alert.link_router, alert.router, patient.router)
