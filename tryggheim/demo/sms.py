"""An SMS-gateway stand-in: a real HTTP server that takes the SMS channel's POST (JSON or form), records and
prints each message, and posts signed delivery receipts back to the service, as a real gateway would.

The demo prints the SMS messages it receives; the tests tell it to answer 500, hang past the client's
timeout, answer a malformed body, or post failed or forged receipts (`mode`, `receipts`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx

from cloud.notify.webhook import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify
from common.i18n import translations
from tryggheim.demo.console import language

Mode = Literal["ok", "error", "hang", "malformed"]
ReceiptMode = Literal["delivered", "failed", "forged", "none"]


@dataclass
class Sms:
    """One message as the gateway took it."""

    key: str
    fields: dict[str, str]
    at: float
    signed: bool


@dataclass
class SmsGateway:
    """Start with `start()`; `url` is where the SMS endpoint's `options.url` points."""

    secret: str
    say: Callable[[Sms], None] | None = None
    mode: Mode = "ok"
    receipts: ReceiptMode = "delivered"
    hang_s: float = 2.0
    messages: list[Sms] = field(default_factory=list)
    receipt_answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The gateway's send URL."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/send"

    def keys(self) -> list[str]:
        """The references (idempotency keys) of the messages taken, in order, repeats included."""
        with self.lock:
            return [sms.key for sms in self.messages]

    def start(self, port: int = 0) -> SmsGateway:
        """Serve on 127.0.0.1:`port` (0: any free port) in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def take(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Handle one POST: the status and body to answer; records the message and schedules its receipt."""
        if self.mode == "error":
            return 500, b"internal error"
        if self.mode == "hang":
            time.sleep(self.hang_s)
        content_type = headers.get("Content-Type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(body.decode()))
        else:
            fields = {str(k): str(v) for k, v in json.loads(body).items()}
        sms = Sms(headers.get(KEY_HEADER, ""), fields, time.time(), verify(self.secret, headers, body))
        with self.lock:
            self.messages.append(sms)
        if self.say is not None:
            self.say(sms)
        if self.mode == "malformed":
            return 200, b"<html>OK</html>"
        if self.receipts != "none" and fields.get("callback"):
            threading.Thread(target=self._receipt, args=(sms,), daemon=True).start()
        return 202, json.dumps({"message_id": sms.key, "accepted": True}).encode()

    def _receipt(self, sms: Sms) -> None:
        status = "failed" if self.receipts == "failed" else "delivered"
        body = json.dumps({"id": sms.fields.get("ref", sms.key), "status": status, "detail": "stand-in"}).encode()
        stamp = str(int(time.time()))
        secret = "a-forger-does-not-know-it" if self.receipts == "forged" else self.secret
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: signature(secret, stamp, body)}  # fmt: skip
        try:
            answer = httpx.post(sms.fields["callback"], content=body, headers=headers, timeout=10)
        except httpx.HTTPError:
            code = 0
        else:
            code = answer.status_code
        with self.lock:
            self.receipt_answers.append(code)


def _handler(gateway: SmsGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, answer = gateway.take(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


# The demo's stand-in and the secret its SMS endpoint shares with it (a demo value, like the demo passwords).
DEMO_SECRET = "demo-sms-gateway-receipt-secret"  # noqa: S105 - a demo value
DEMO_PHONES = {"team_lead": "+4799000001"}


_STARTED: list[SmsGateway] = []


def start_demo(print_line: Callable[[str], None]) -> SmsGateway:
    """Start the demo's stand-in on a free port; it prints each SMS it receives in the demo's language."""
    _ = translations(language()).gettext

    def say(sms: Sms) -> None:
        text = " ".join(sms.fields.get("text", "").split())  # one console line per message
        print_line(_("SMS to {to}: {text}").format(to=sms.fields.get("to", "?"), text=text))

    gateway = SmsGateway(secret=DEMO_SECRET, say=say).start()
    _STARTED.append(gateway)
    return gateway


def send_url() -> str | None:
    """The send URL of the demo's SMS stand-in (a gateway's local alarm path texts through it too)."""
    return _STARTED[0].url if _STARTED else None


def received() -> int:
    """How many messages the demo's stand-ins have taken."""
    return sum(len(gateway.keys()) for gateway in _STARTED)


def add_sms_steps(document: dict[str, Any]) -> None:
    """Red vitals and safety alarms also reach the team lead by SMS, a minute after the e-mail (the phone they
    carry)."""
    for policy in document["policies"]:
        if policy["name"] in {"red_vitals", "safety_alarm"}:
            after = next(s["after_minutes"] for s in policy["steps"] if s["target"] == "team_lead") + 1
            policy["steps"] = sorted(
                [*policy["steps"], {"after_minutes": after, "channel": "sms", "target": "team_lead"}],
                key=lambda step: float(step["after_minutes"]),
            )


def endpoint_options(gateway: SmsGateway) -> dict[str, Any]:
    """The demo endpoint's gateway options: JSON with the stand-in's field names."""
    return {"url": gateway.url, "format": "json"}
