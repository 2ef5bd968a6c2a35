"""Real receivers for notifications: an SMTP server (aiosmtpd) and an HTTP server that verifies webhook
signatures. Both record what arrived, with the idempotency key and the time of arrival."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from cloud.notify.webhook import KEY_HEADER, verify
from common.ports import free_port


@dataclass
class Received:
    """One delivery as the receiver saw it."""

    key: str
    at: float
    body: str
    headers: dict[str, str]


@dataclass
class Inbox:
    """Everything one receiver got, in arrival order (thread-safe append)."""

    items: list[Received] = field(default_factory=list)
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Received) -> None:
        with self.lock:
            self.items.append(item)

    def keys(self) -> set[str]:
        """Distinct idempotency keys received."""
        with self.lock:
            return {item.key for item in self.items}


class _SmtpHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        mail: Message = message_from_bytes(envelope.content)
        message_id = str(mail["Message-ID"]).strip("<>").split("@")[0]
        body = mail.get_payload(decode=True)
        text = body.decode() if isinstance(body, bytes) else str(mail.get_payload())
        headers = {k: str(v) for k, v in mail.items()}
        self.inbox.add(Received(message_id, time.time(), text, headers))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """aiosmtpd on a free port; yields (port, inbox)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(_SmtpHandler(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@dataclass
class WebhookServer:
    """An HTTP receiver: `/ok` answers 204 to a valid signature, `/fail` always answers 503."""

    url: str
    secret: str
    inbox: Inbox
    failed: Inbox


@contextmanager
def webhook_server(secret: str) -> Iterator[WebhookServer]:
    """A threading HTTP server verifying every POST's signature and timestamp."""
    inbox, failed = Inbox(), Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            if not verify(secret, headers, body):
                inbox.rejected += 1
                self.send_response(401)
                self.end_headers()
                return
            item = Received(headers.get(KEY_HEADER, ""), time.time(), body.decode(), headers)
            if self.path == "/fail":
                failed.add(item)
                self.send_response(503)
                self.end_headers()
                self.wfile.write(b"receiver down")
                return
            inbox.add(item)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookServer(f"http://127.0.0.1:{server.server_port}", secret, inbox, failed)
    finally:
        server.shutdown()
        server.server_close()
