"""The demo's mail sink and its escalation set-up: a local SMTP server (aiosmtpd) that prints each e-mail it
receives, the SMS-gateway stand-in (tryggheim/demo/sms.py) that prints each SMS, and a municipality policy
that reaches every role by e-mail (the demo has no webhook receiver) and the team lead also by SMS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email import message_from_bytes
from email.policy import default as parse_headers
from typing import Any

from alerts.escalation import default_policies
from cloud.access import directory
from cloud.db.pool import connect
from cloud.escalation import configuration
from cloud.registry import OPERATOR
from tryggheim.demo import service
from tryggheim.demo import sms as demo_sms
from tryggheim.demo.seed import TEAM

# One policy minute lasts this many seconds in the demo: a safety alarm's e-mails arrive after seconds.
DEMO_MINUTE_S = 4.0
DEMO_ADDRESSES = {
    "response_centre": "responssenter@demo.tryggheim.invalid",
    "team_lead": "teamleder@demo.tryggheim.invalid",
    "on_call_nurse": "vakt@demo.tryggheim.invalid",
    "installer": "installator@demo.tryggheim.invalid",
}
_SMS: list[demo_sms.SmsGateway] = []  # the SMS stand-in, once start_sink has started it


class _Printer:
    def __init__(self, say: Callable[[str, str, str], None]) -> None:
        self.say = say

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        # The default policy decodes the headers: a bokmål subject arrives as RFC 2047 encoded words
        # (`=?utf-8?q?r=C3=B8dt?=`), and the person running the demo reads "rødt".
        mail = message_from_bytes(envelope.content, policy=parse_headers)
        body = mail.get_payload(decode=True)
        text = body.decode(errors="replace") if isinstance(body, bytes) else ""
        link = next((word for word in text.split() if "/alerts/" in word), "")
        self.say(str(mail["To"]), str(mail["Subject"]), link)
        return "250 OK"


def start_sink(port: int, say: Callable[[str, str, str], None]) -> Any:
    """Start the SMTP sink on 127.0.0.1:`port`; returns the controller (call `.stop()`), or None when aiosmtpd
    is not installed (it comes with the dev extra that `make demo` installs)."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None
    controller = Controller(_Printer(say), hostname="127.0.0.1", port=port)
    controller.start()
    _SMS.append(demo_sms.start_demo(lambda line: print(line, flush=True)))
    return controller


def stop_sink(controller: Any) -> None:
    """Stop the SMTP sink `start_sink` returned and the SMS stand-in it started."""
    controller.stop()
    while _SMS:
        _SMS.pop().stop()


async def _configure(url: str, municipality_number: str) -> None:
    document = default_policies().model_dump(mode="json")
    for policy in document["policies"]:
        for step in [*policy["steps"], policy["renotify"]]:
            if step["channel"] == "webhook":
                step["channel"] = "email"
    if _SMS:
        demo_sms.add_sms_steps(document)
    async with await connect(url) as conn:
        municipality = await directory.municipality_id(conn, municipality_number)
        await configuration.set_policy(conn, municipality, document, OPERATOR)
        for target, address in DEMO_ADDRESSES.items():
            await configuration.set_endpoint(conn, municipality, target=target, channel="email", address=address)
        for gateway in _SMS:
            for target, phone in demo_sms.DEMO_PHONES.items():
                await configuration.set_endpoint(
                    conn, municipality, target=target, channel="sms", address=phone, secret=demo_sms.DEMO_SECRET,
                    options=demo_sms.endpoint_options(gateway),
                )  # fmt: skip


def configure(runtime_url: str, municipality_number: str) -> None:
    """Store the demo municipality's policy (e-mail, and SMS to the team lead), its addresses and its service
    hours (idempotent), and print the route each alert takes from now on."""
    asyncio.run(_configure(runtime_url, municipality_number))
    service.configure_and_watch(runtime_url, municipality_number, TEAM)
