"""Direct routes: the few requests too frequent for FastAPI's per-request machinery.

A direct route is declared like any other (the OpenAPI document, the access-policy check of
cloud/access/route_check.py and FastAPI's own routing all still know it), but its handler takes the request
itself: no dependency solving, no response validation. `DirectLane`, a middleware just inside the service
middleware (cloud/middleware.py), sends a request for a direct route straight to that handler, past the routers
and FastAPI's exception and exit-stack middleware: on the development VM those layers cost about 110 µs of the
service's CPU per ingest request, a tenth of its whole cost (docs/benchmarks.md, issue 25, ninth round).

What the lane skips it does itself: an exception the handler raises gets the application's own answer, from
the handlers registered with `add_exception_handler` (the same look-up Starlette's exception middleware does),
and anything else propagates to the service middleware's 500 as before. Everything else, and a request for a
direct route under a `root_path`, takes the usual way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """A route whose requests go to its class's `handler` instead of FastAPI's dependency solving; made by
    `direct_route`."""

    handler: Handler

    def get_route_handler(self) -> Handler:
        """The handler FastAPI (when it routes the request) and `DirectLane` call."""
        return type(self).handler


def direct_route(handler: Handler) -> type[DirectRoute]:
    """A route class for an `APIRouter(route_class=...)` whose every route is answered by `handler`."""
    return type(f"DirectRoute_{handler.__name__}", (DirectRoute,), {"handler": staticmethod(handler)})


class DirectLane:
    """Middleware: a request for a direct route (by method and exact path) goes straight to its handler."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        # By the paths the application serves them at (an included router's prefixes added).
        self.direct: dict[tuple[str, str], Handler] = {
            (method, context.path): context.original_route.get_route_handler()
            for context in iter_route_contexts(routes)
            if isinstance(context.original_route, DirectRoute) and context.path is not None
            for method in context.methods or ()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self.direct.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            response = await application_answer(request, exc)
        await response(scope, receive, send)


async def application_answer(request: Request, exc: Exception) -> Response:
    """The application's answer to `exc` (its registered handler, by status code for an HTTP exception, else by
    the exception's classes), or `exc` raised again when it has none."""
    handlers: Mapping[Any, Callable[..., Any]] = request.app.exception_handlers
    # As Starlette's exception middleware: `Exception` and 500 belong to the server-error middleware.
    handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) and exc.status_code != 500 else None
    if handler is None:
        handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers and c is not Exception), None)
    if handler is None:
        raise exc
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer  # type: ignore[no-any-return]
