"""The demo's mail sink prints subjects as people read them: a bokmål subject travels over SMTP as RFC 2047
encoded words, and the sink decodes it."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.notify import Message
from cloud.notify.email import EmailChannel, SmtpSettings, compose
from common.ports import free_port
from tryggheim.demo import mail as demo_mail

SENDER = "varsel@demo.tryggheim.invalid"


@pytest.fixture
def sink() -> Iterator[tuple[int, list[tuple[str, str, str]], threading.Event]]:
    """The demo's sink on a free port, with what it printed."""
    printed: list[tuple[str, str, str]] = []
    arrived = threading.Event()

    def say(to: str, subject: str, link: str) -> None:
        printed.append((to, subject, link))
        arrived.set()

    port = free_port()
    controller: Any = demo_mail.start_sink(port, say)
    try:
        yield port, printed, arrived
    finally:
        demo_mail.stop_sink(controller)


def test_an_encoded_subject_sent_over_smtp_is_printed_decoded(
    sink: tuple[int, list[tuple[str, str, str]], threading.Event],
) -> None:
    port, printed, arrived = sink
    raw = (
        f"From: {SENDER}\r\nTo: vakt@demo.tryggheim.invalid\r\nSubject: =?utf-8?q?Tryggheim=3A_r=C3=B8dt_varsel?=\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nÅpne det i Tryggheim: http://127.0.0.1:1/alerts/7\r\n"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(SENDER, ["vakt@demo.tryggheim.invalid"], raw.encode())
    assert arrived.wait(10)
    assert printed == [("vakt@demo.tryggheim.invalid", "Tryggheim: rødt varsel", "http://127.0.0.1:1/alerts/7")]


def test_the_services_own_escalation_mail_reads_in_bokmal(
    sink: tuple[int, list[tuple[str, str, str]], threading.Event],
) -> None:
    """What the escalation's e-mail channel sends (its subject is encoded on the wire) arrives readable."""
    port, printed, arrived = sink
    channel = EmailChannel(SmtpSettings("127.0.0.1", port, SENDER))
    message = Message(
        idempotency_key="k-1", alert_id=5, step=1, kind="step", category="alarm", severity="red",
        link="http://127.0.0.1:1/alerts/5", address="teamleder@demo.tryggheim.invalid", title="Alarm button pressed",
    )  # fmt: skip
    assert b"=?utf-8?" in compose(message, SENDER).as_bytes()  # encoded on the wire: decoding is the sink's
    asyncio.run(channel.send(message))
    assert arrived.wait(10)
    [(to, subject, link)] = printed
    assert (to, link) == ("teamleder@demo.tryggheim.invalid", "http://127.0.0.1:1/alerts/5")
    assert subject == "Tryggheim: rødt varsel: Trygghetsalarm utløst"
