"""E-mail channel over SMTP (the standard library's smtplib, run in a worker thread).

The Message-ID is derived from the idempotency key, so a retried delivery is recognisably the same message.
Subject and body name only the severity, the kind of alert (the protocol rule's title, a fixed text of the
catalogue, else the category) and carry the link into the app; never the person or a value. Bokmål first,
English second (common/i18n.py).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import TypeGuard

from cloud.notify import DeliveryError, Message, Receipt
from common.i18n import translations


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


def _shipped_title(title: str | None) -> TypeGuard[str]:
    """Whether a rule title is one of the shipped protocols' (it has a bokmål translation): only those fixed
    texts go into an e-mail, so no free text can carry a name or a value over an open network."""
    return title is not None and translations("nb").gettext(title) != title


def _texts(language: str, message: Message) -> tuple[str, str]:
    _ = translations(language).gettext
    category = {
        "alarm": _("safety alarm"),
        "clinical": _("measurements"),
        "liveness": _("equipment"),
        "data_quality": _("data quality"),
        "internal": _("notification failure"),
    }.get(message.category, message.category)
    severity = {"red": _("red"), "yellow": _("yellow")}.get(message.severity, message.severity)
    if _shipped_title(message.title):
        subject = _("Tryggheim: {severity} alert: {title}").format(severity=severity, title=_(message.title))
    else:
        subject = _("Tryggheim: {severity} alert ({category})").format(severity=severity, category=category)
    if message.kind == "renotify":
        lead = _("An acknowledged alert is still not resolved.")
    else:
        lead = _("An alert has not been acknowledged.")
    body = "\n".join((lead, _("Open it in Tryggheim: {link}").format(link=message.link)))
    return subject, body


def headline(message: Message, language: str = "nb") -> str:
    """The one-line subject of a message (also the text of an SMS): severity and kind of alert, nothing else."""
    return _texts(language, message)[0]


def compose(message: Message, sender: str) -> EmailMessage:
    """The e-mail for a message: no name, identity number or value, only category, severity and link."""
    subject_nb, body_nb = _texts("nb", message)
    _subject_en, body_en = _texts("en", message)
    mail = EmailMessage()
    mail["Subject"] = subject_nb
    mail["From"] = sender
    mail["To"] = message.address
    mail["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "tryggheim.invalid"
    mail["Message-ID"] = f"<{message.idempotency_key}@{domain}>"
    mail["X-Tryggheim-Idempotency-Key"] = message.idempotency_key
    mail.set_content(f"{body_nb}\n\n--\n\n{body_en}\n")
    return mail


class EmailChannel:
    """Send through one SMTP server; a refused recipient or a protocol error is a failed attempt."""

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _send(self, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
            return smtp.send_message(mail)

    async def send(self, message: Message) -> Receipt:
        """Deliver once; raise DeliveryError when the server refuses or cannot be reached."""
        mail = compose(message, self.settings.sender)
        await self.deliver(mail)
        return Receipt("250 accepted", {"message_id": mail["Message-ID"], "to": message.address})

    async def deliver(self, mail: EmailMessage) -> None:
        """Send a composed e-mail once (also the rate limits' notices); raise DeliveryError when refused."""
        try:
            refused = await asyncio.to_thread(self._send, mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}: {exc}"[:500]) from exc
        if refused:
            raise DeliveryError(f"smtp: recipients refused: {sorted(refused)}")
