"""Real receivers for the alarm benchmark: a webhook server that verifies signatures and an SMTP server
(aiosmtpd, a development dependency), each recording the idempotency key and the time each message arrived."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloud.notify.webhook import KEY_HEADER, verify
from common.ports import free_port


class Arrivals:
    """Idempotency key -> first arrival time (thread-safe); `rejected` counts bad signatures."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.rejected = 0
        self._lock = threading.Lock()

    def add(self, key: str, at: float) -> None:
        """Record an arrival (a duplicate keeps the first time)."""
        with self._lock:
            self.first.setdefault(key, at)

    def count(self) -> int:
        """Distinct messages received."""
        with self._lock:
            return len(self.first)


@contextmanager
def webhook_receiver(secret: str) -> Iterator[tuple[str, Arrivals]]:
    """A threading HTTP server answering 204 to a validly signed POST; yields (URL, arrivals)."""
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            if verify(secret, headers, body):
                arrivals.add(headers.get(KEY_HEADER, ""), at)
                self.send_response(204)
            else:
                arrivals.rejected += 1
                self.send_response(401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alarm", arrivals
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Arrivals]]:
    """An SMTP server on a free port; the Message-ID's local part is the idempotency key; yields (port, arrivals)."""
    from aiosmtpd.controller import Controller

    arrivals = Arrivals()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
            mail = message_from_bytes(envelope.content)
            arrivals.add(str(mail["Message-ID"]).strip("<>").split("@")[0], time.time())
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, arrivals
    finally:
        controller.stop()
