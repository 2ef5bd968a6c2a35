"""A real HTTP stand-in for an SMS gateway (the JSON request of the generic adapter), for the local alarm
tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from common.ports import free_port


class SmsStandIn:
    """A tiny HTTP SMS gateway: answers with the next status of `answers` (the last one repeats) and keeps
    what it was sent, with when it arrived."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.received: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.received.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "at": time.time(), **body}
                )
                status = stand_in.answers.pop(0) if len(stand_in.answers) > 1 else stand_in.answers[0]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"queued": true}' if status < 300 else b'{"error": "busy"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SmsStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
