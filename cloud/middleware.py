"""HTTP middleware: correlation ids on every request, and the demo-mode banner on every HTML page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from tryggheim.common.i18n import negotiate, translations

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def install(app: FastAPI, *, demo: bool) -> None:
    """Add the middleware to `app`."""

    @app.middleware("http")
    async def correlation(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        sent = request.headers.get("x-request-id", "")
        request.state.correlation_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.correlation_id
        if demo:
            response.headers["X-Tryggheim-Mode"] = "demo"
            if response.headers.get("content-type", "").startswith("text/html"):
                response = await _with_banner(request, response)
        return response


async def _with_banner(request: Request, response: Response) -> Response:
    body = b""
    iterator = getattr(response, "body_iterator", None)  # call_next always streams
    if iterator is not None:
        async for chunk in iterator:
            body += chunk if isinstance(chunk, bytes) else chunk.encode()
    else:
        body = bytes(response.body)
    text = translations(negotiate(request.headers.get("accept-language"))).gettext(
        "Demo mode: local accounts, not for patient data"
    )
    banner = f'<div role="alert" class="demo-mode">{text} (demo mode)</div>'.encode()
    body = body.replace(b"<body>", b"<body>" + banner, 1) if b"<body>" in body else banner + body
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers, media_type=response.media_type)
