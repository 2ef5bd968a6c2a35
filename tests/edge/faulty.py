"""A real HTTP reverse proxy in front of a real cloud, for uplink fault tests.

It forwards every request to the cloud unchanged, and can instead play the faults the edge must survive:
the old cloud, which answered 500 to a whole batch when one reading in it was poison (issue 17, finding 1);
a cloud that is unavailable (503 to everything); a broken proxy or cloud that answers 500 to everything; a
captive portal answering 200 with a web page; or nothing listening at all (connection refused, after
`stop`). It also counts, per sequence number, how often
the cloud committed a reading, and when it first did, so a test can prove "exactly once" and measure an
alarm's latency from outside the agent.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from common.ports import free_port

PASS, UNAVAILABLE, BROKEN, PORTAL = "pass", "503", "500", "200"
_HOP_BY_HOP = {b"host", b"content-length", b"connection", b"transfer-encoding"}


class FaultProxy:
    """`mode` is PASS, UNAVAILABLE (503 to everything), BROKEN (500 to everything) or PORTAL (200 with a web
    page to everything); in PASS, an ingest batch
    holding a reading for which `poison` is true is answered 500 and never reaches the cloud."""

    def __init__(self, upstream: str, poison: Callable[[dict[str, Any]], bool]) -> None:
        self.upstream = upstream
        self.poison = poison
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = PASS
        self.committed: Counter[int] = Counter()
        self.first_commit: dict[int, float] = {}  # seq -> time.monotonic() of the cloud's first commit
        self.requests: list[list[int]] = []  # the sequences of each ingest batch received, in order
        self.refused: list[list[int]] = []  # the sequences of each batch answered 500 for poison
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, content = await self._answer(scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _answer(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        plain = [(b"content-type", b"text/plain")]
        ingest = scope["path"] == "/api/v1/ingest"
        readings: list[dict[str, Any]] = []
        if ingest:
            raw = gzip.decompress(body) if dict(scope["headers"]).get(b"content-encoding") == b"gzip" else body
            readings = json.loads(raw)["observations"]
            self.requests.append([reading["seq"] for reading in readings])
        if self.mode == UNAVAILABLE:
            return 503, plain, b"Service Unavailable"
        if self.mode == BROKEN:
            return 500, plain, b"Internal Server Error"
        if self.mode == PORTAL:
            return 200, [(b"content-type", b"text/html")], b"<html>Sign in to the guest network</html>"
        if any(self.poison(reading) for reading in readings):
            self.refused.append([reading["seq"] for reading in readings])
            return 500, plain, b"Internal Server Error"
        forward = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            response = await client.request(scope["method"], scope["path"], params=scope["query_string"].decode(),
                                            content=body, headers=forward)  # fmt: skip
        if ingest and response.status_code == 200:
            now = time.monotonic()
            for seq in response.json()["committed"]:
                self.committed[seq] += 1
                self.first_commit.setdefault(seq, now)
        kept = [(k.encode(), v.encode()) for k, v in response.headers.items()
                if k.encode() not in _HOP_BY_HOP | {b"content-encoding"}]  # fmt: skip
        return response.status_code, kept, response.content

    def start(self) -> None:
        """Listen on the proxy's port (again, after `stop`)."""
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="off")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.01)

    def running(self) -> bool:
        """Whether the proxy is listening."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)
