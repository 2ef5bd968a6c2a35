"""The channels' own rules: webhook signatures resist tampering and replay; e-mails say only category,
severity and link, in bokmål first."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from cloud.notify import Message
from cloud.notify.email import compose
from cloud.notify.webhook import REPLAY_WINDOW_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify

SECRET = "a-secret-of-sufficient-length"
MESSAGE = Message(idempotency_key="0b7c1a8e-3f0e-4c1d-9a43-0e7b6f3a9d11", alert_id=42, step=1, kind="step",
                  category="alarm", severity="red", link="https://tryggheim.test/alerts/42",
                  address="leder@kommune.test")  # fmt: skip


def _signed(body: bytes, at: float) -> dict[str, str]:
    stamp = str(int(at))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(SECRET, stamp, body)}


def test_a_signed_body_verifies_and_a_replayed_or_forged_one_does_not() -> None:
    body = json.dumps(MESSAGE.body()).encode()
    now = time.time()
    assert verify(SECRET, _signed(body, now), body, now=now)
    assert not verify(SECRET, _signed(body, now - REPLAY_WINDOW_S - 1), body, now=now)  # replayed later
    assert not verify("another-secret-entirely", _signed(body, now), body, now=now)
    assert not verify(SECRET, {SIGNATURE_HEADER: _signed(body, now)[SIGNATURE_HEADER]}, body, now=now)
    headers = _signed(body, now)
    headers[TIMESTAMP_HEADER] = str(int(now) + 1)  # the signature covers the timestamp
    assert not verify(SECRET, headers, body, now=now)


@given(tamper=st.binary(min_size=1, max_size=40))
def test_any_change_to_the_body_breaks_the_signature(tamper: bytes) -> None:
    body = json.dumps(MESSAGE.body()).encode()
    now = time.time()
    assert not verify(SECRET, _signed(body, now), body + tamper, now=now)


def test_the_email_carries_category_severity_and_link_only() -> None:
    mail = compose(MESSAGE, "varsel@kommune.test")
    assert mail["Subject"] == "Tryggheim: rødt varsel (trygghetsalarm)"
    assert mail["Message-ID"] == f"<{MESSAGE.idempotency_key}@kommune.test>"
    text = mail.get_content()
    assert "https://tryggheim.test/alerts/42" in text and "Et varsel er ikke kvittert ut." in text
    assert "An alert has not been acknowledged." in text  # English after the bokmål
    assert set(MESSAGE.body()) == {"id", "alert_id", "step", "kind", "category", "severity", "link"}


def test_the_email_names_the_kind_of_alert_but_only_in_the_catalogues_words() -> None:
    """The protocol rule's title (a fixed text) says what kind of alert it is; any other text never goes out."""
    titled = replace(MESSAGE, title="Alarm button pressed")
    mail = compose(titled, "varsel@kommune.test")
    assert mail["Subject"] == "Tryggheim: rødt varsel: Trygghetsalarm utløst"
    free_text = compose(replace(MESSAGE, title="Kari Nordmann pressed the button"), "varsel@kommune.test")
    assert free_text["Subject"] == "Tryggheim: rødt varsel (trygghetsalarm)"
    assert "Kari" not in free_text.get_content()
