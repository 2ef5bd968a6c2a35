"""HTTP middleware: correlation ids, security headers on every response, a deadline for request bodies, and
the demo-mode banner on every HTML page.

The Content-Security-Policy is the strict one the pages are written for: scripts, styles, connections and
form targets from this origin only, no inline script or style anywhere (the banner is plain markup styled by
the pages' stylesheet), no framing, no plugins, no `<base>`. JSON answers carry it too: it costs nothing and
a policy per kind of response would be one more thing to get wrong. The one widening: the identity providers'
origins are form targets, because signing out is a form post whose answer redirects to the provider's
end-session page, and browsers apply `form-action` to that redirect. Over TLS (as the proxy reports it, from
trusted proxies only) every response also carries Strict-Transport-Security."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.direct import DirectLane
from common.i18n import LANGUAGE_COOKIE, choose, translations

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"
)
# On every response, errors included. `no-store` everywhere rather than per route: pages and API answers hold
# patient data, and a rule per route would leave the next patient route to remember it. The one exception is
# the static files (`STATIC_PREFIX`), whose addresses carry their content's digest and which say themselves
# how long they may be kept (cloud/web/assets.py).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC_PREFIX = "/static/"
STRICT_TRANSPORT = "max-age=31536000; includeSubDomains"


def security_headers(form_targets: Sequence[str] = ()) -> dict[str, str]:
    """The security headers with the identity providers' origins (`scheme://host[:port]`) as form targets."""
    if not form_targets:
        return dict(SECURITY_HEADERS)
    policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'", "form-action 'self' " + " ".join(form_targets))
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def install(app: FastAPI, *, demo: bool, body_timeout_s: float, form_targets: Sequence[str] = ()) -> None:
    """Add the middleware to `app`: the service middleware outermost of ours, then the lane of the direct routes
    (cloud/api/direct.py), so a direct route's request gets the service middleware's work too."""
    # `add_middleware` puts the latest outermost; the lane reads the routes when the stack is built, at start-up.
    app.add_middleware(DirectLane, routes=app.routes)
    app.add_middleware(
        ServiceMiddleware, demo=demo, body_timeout_s=body_timeout_s, headers=security_headers(form_targets)
    )


class ServiceMiddleware:
    """Per request: sets `request.state.correlation_id` (from a well-formed X-Request-ID, else fresh) and echoes
    it; puts the security headers on every response (a 500 included, which it answers itself before Starlette's
    error middleware would, outside this one); gives the body a deadline (`request.state.body_deadline`, loop
    time): a client that has not sent it all by then gets 408 and the connection is closed, so a stalled
    upload holds nothing for long. In demo mode it labels every response and puts a banner on every HTML page.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's `BaseHTTPMiddleware` runs the rest of the
    application in a second task fed through memory streams, a tenth of the CPU of a small ingest request.
    """

    def __init__(
        self, app: ASGIApp, *, demo: bool, body_timeout_s: float, headers: Mapping[str, str] = SECURITY_HEADERS
    ) -> None:
        self.app = app
        self.demo = demo
        self.body_timeout_s = body_timeout_s
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        correlation = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation
        state["body_deadline"] = deadline
        held: Message | None = None  # the start of an HTML response, held until its body has the banner
        started = False
        body = bytearray()
        body_complete = False

        async def bounded() -> Message:
            nonlocal body_complete
            if body_complete:  # later calls wait for the disconnect, which may rightly take as long as it likes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"The request body did not arrive within {self.body_timeout_s:g} s.", {"Connection": "close"}
                ) from None
            body_complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def labelled(message: Message) -> None:
            nonlocal held, started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = correlation
                kept = headers.get("cache-control") if scope["path"].startswith(STATIC_PREFIX) else None
                for name, value in self.headers.items():
                    headers[name] = value
                if scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = STRICT_TRANSPORT
                if kept:
                    headers["Cache-Control"] = kept
                if self.demo:
                    headers["X-Tryggheim-Mode"] = "demo"
                    if headers.get("content-type", "").startswith("text/html"):
                        held = message
                        return
            elif message["type"] == "http.response.body" and held is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = _with_banner(scope, bytes(body))
                MutableHeaders(scope=held)["content-length"] = str(len(page))
                await send(held)
                message = {"type": "http.response.body", "body": page}
            await send(message)

        try:
            await self.app(scope, bounded, labelled)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, bounded, labelled)
            raise  # the server logs it


def _with_banner(scope: Scope, body: bytes) -> bytes:
    headers = Headers(scope=scope)
    chosen = cookie_parser(headers.get("cookie", "")).get(LANGUAGE_COOKIE)
    text = translations(choose(chosen, headers.get("accept-language"))).gettext(
        "Demo mode: local accounts, not for patient data"
    )
    banner = f'<div role="alert" class="demo-mode">{text} (demo mode)</div>'.encode()
    # Whole pages only: a fragment that htmx swaps into a page (which has its banner) gets none.
    return body.replace(b"<body>", b"<body>" + banner, 1)
