"""What the web tests share: a patient with real alerts (readings ingested through a gateway, evaluated by
the service), signing in through the form, and reading a page's forms."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from uuid import UUID

import httpx

from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.tenants import PASSWORD, Tenant, insert_patient

SPO2_FALLING = (97, 96, 95, 93, 90, 86)
HTML = {"Accept": "text/html"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# The home and the people the response centre needs for an alarm.
ADDRESS, ACCESS, HOME_PHONE = "Storgata 1, 0155 Oslo", "Nøkkelboks ved døren, kode 4711", "22 33 44 55"
CONTACTS = [{"name": "Ola Nordmann", "relation": "sønn", "phone": "900 00 001", "next_of_kin": True},
            {"name": "Nabo Hansen", "relation": "nabo", "phone": "900 00 002", "note": "Har nøkkel"}]  # fmt: skip


@dataclass
class Alerting:
    """A patient of the tenant's Nord team whose readings have opened alerts: NEWS2, the worsening episode it
    is the evidence of (what the worklist shows and escalates), and the alarm button."""

    patient_id: UUID
    kit: Kit
    news2: int
    button: int
    episode: int


def ingest(client: httpx.Client, kit: Kit, readings: list[dict[str, Any]]) -> None:
    """POST one batch as the kit's gateway."""
    response = client.post("/api/v1/ingest", json=batch(kit, readings), headers=kit.auth)
    assert response.status_code == 200, response.text


def wait_for_alerts(url: str, patient_id: UUID, rules: set[str], timeout: float = 15) -> dict[str, int]:
    """The ids of the patient's open alerts of `rules`, once all are open."""
    deadline = time.monotonic() + timeout
    while True:
        found = named_rows(url, "SELECT id, rule FROM alerts WHERE patient_id = %s AND resolved_at IS NULL", patient_id)
        opened = {row["rule"]: row["id"] for row in found}
        if rules <= set(opened) or time.monotonic() > deadline:
            assert rules <= set(opened), f"alerts {rules} did not open; open: {opened}"
            return opened
        time.sleep(0.1)


def equipped_patient(client: httpx.Client, url: str, tenant: Tenant, name: str, team: str = "Nord") -> tuple[UUID, Kit]:
    """A new patient of the tenant's `team` with a kit enrolled through the API (oximeter, scale, button)."""
    patient = insert_patient(url, tenant.municipality_id, tenant.teams[team], name)
    return patient, enrol_kit(client, url, tenant.municipality_id, patient)  # type: ignore[arg-type]


def raise_alerts(client: httpx.Client, url: str, patient: UUID, kit: Kit) -> Alerting:
    """Falling SpO2 and an alarm-button press (which wakes detection at once) from the kit's gateway; returns
    once the red NEWS2 alert, its episode and the alarm alert are open."""
    readings = [reading(i, kit.oximeter, "spo2", v, "%") for i, v in enumerate(SPO2_FALLING, 1)]
    ingest(client, kit, [*readings, reading(len(readings) + 1, kit.button, "alarm.button", 1, "1")])
    opened = wait_for_alerts(url, patient, {"ge.news2", "wf.alarm_button", "episode.clinical"})
    return Alerting(patient, kit, opened["ge.news2"], opened["wf.alarm_button"], opened["episode.clinical"])


def alerting_patient(client: httpx.Client, url: str, tenant: Tenant, name: str, team: str = "Nord") -> Alerting:
    """A new patient whose readings have opened a red NEWS2 alert and an alarm alert."""
    return raise_alerts(client, url, *equipped_patient(client, url, tenant, name, team))


def sign_in(client: httpx.Client, username: str, next_page: str = "/") -> httpx.Response:
    """Sign in through the page's form (a plain form post), without following the redirect."""
    return client.post(
        "/signin", data={"username": username, "password": PASSWORD, "next": next_page}, headers=HTML,
        follow_redirects=False,
    )  # fmt: skip


def nurse_on_alert_page(client: httpx.Client, url: str, tenant: Tenant, name: str) -> tuple[Alerting, str]:
    """A new alerting patient, and the tenant's nurse signed in on its NEWS2 alert's page: the patient and the
    CSRF token of the page's forms."""
    found = alerting_patient(client, url, tenant, name)
    sign_in(client, tenant.usernames[Role.NURSE])
    return found, csrf_of(client.get(f"/alerts/{found.news2}", headers=HTML).text)


def csrf_of(page: str) -> str:
    """The session's CSRF token as the page's forms carry it."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def transitions(url: str, alert_id: int) -> list[str]:
    """The alert's transitions, oldest first."""
    return [r["event"] for r in named_rows(url, "SELECT event FROM alert_transitions WHERE alert_id = %s ORDER BY id",
                                           alert_id)]  # fmt: skip


def alarm_patient(client: httpx.Client, url: str, tenant: Tenant, name: str) -> Alerting:
    """A new alerting patient living at a home with key-box notes and a phone, with two people to call in
    order, registered through the registry API as the municipality's administrator."""
    patient, kit = equipped_patient(client, url, tenant, name)
    admin = tenant.auth(Role.MUNICIPALITY_ADMIN)
    home = {"address": ADDRESS, "access_notes": ACCESS, "phone": HOME_PHONE}
    assert client.patch(f"/api/v1/homes/{kit.home_id}", json=home, headers=admin).status_code == 204
    person = {"home_id": str(kit.home_id), "phone": "911 22 333", "contacts": CONTACTS}
    assert client.patch(f"/api/v1/patients/{patient}", json=person, headers=admin).status_code == 204
    return raise_alerts(client, url, patient, kit)


class _Visible(HTMLParser):
    """The text a person reads or hears on a page: text outside scripts and styles, words apart where blocks
    part them, and the attributes that screen readers speak or that the page's script announces."""

    SPOKEN = frozenset({"aria-label", "title", "alt", "placeholder", "data-announce"})
    BLOCKS = frozenset({"p", "div", "li", "dt", "dd", "h1", "h2", "h3", "h4", "td", "th", "tr", "br", "section",
                        "article", "header", "nav", "ul", "ol", "dl", "table", "form", "fieldset", "legend",
                        "label", "button", "option", "select", "textarea", "main", "title"})  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in {"script", "style"}
        self.parts += [f" {value} " for name, value in attrs if name in self.SPOKEN and value]
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in {"script", "style"}
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """What a person reads or hears on the page, as one text."""
    parser = _Visible()
    parser.feed(html)
    return re.sub(r"[ \t\r\n]+", " ", "".join(parser.parts)).strip()  # a no-break space stays one
