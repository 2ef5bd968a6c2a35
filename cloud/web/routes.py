"""The web layer's routers, in the order the application includes them."""

from __future__ import annotations

from cloud.web import assets, session

ROUTERS = (assets.router, session.router)
