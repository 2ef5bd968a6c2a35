"""Alert texts for the screens: the names an alert's words need, read from the registry, and the texts.

`alerts.wording` is pure; this is its shell. For a list of alert rows it loads, in three queries whatever the
number of alerts, the patients' names, the names of the devices the facts mention (the device catalogue's
model name) and the places of the gateways (the home's address), then words each alert for the reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel

from alerts.wording import AlertFacts, AlertText, Names, Reader, describe_alert
from alerts.wording.facts import items, mapping, text
from device_profiles.device_catalogue import load_devices


class AlertSummary(BaseModel):
    """An alert as a list on a screen shows it: whose, which rule, how urgent, where it stands, in words."""

    alert_id: int
    patient_id: UUID
    patient: str
    rule: str
    severity: str
    state: str
    title: str
    sentence: str


def summary_fields(row: Mapping[str, Any], text: AlertText) -> dict[str, Any]:
    """The `AlertSummary` fields of an alert row read by name (`id`, `patient_id`, `display_name`, `rule`,
    `severity`, `state`) and its text."""
    return {
        "alert_id": row["id"],
        "patient_id": row["patient_id"],
        "patient": row["display_name"],
        "rule": row["rule"],
        "severity": row["severity"],
        "state": row["state"],
        "title": text.title,
        "sentence": text.sentence,
    }


def _ids(values: Iterable[object]) -> list[UUID]:
    found = []
    for value in values:
        try:
            found.append(UUID(str(value)))
        except ValueError:
            continue  # a replayed or hand-made id: it is simply not named
    return found


def mentioned(facts: AlertFacts) -> tuple[list[UUID], list[UUID]]:
    """The device ids and gateway ids an alert's facts mention (silent sensors, low batteries, gateways down)."""
    entries = [*items(facts.values.get("silent")), *items(facts.values.get("low"))]
    devices = _ids(text(mapping(entry).get("device")) for entry in entries)
    return devices, _ids(items(facts.values.get("down")))


def _device_name(profile_id: str) -> str:
    catalogue = load_devices()
    return catalogue[profile_id].identity.name if profile_id in catalogue else profile_id


async def names_for(conn: AsyncConnection[Any], rows: Sequence[Mapping[str, Any]]) -> dict[UUID, Names]:
    """`Names` per patient for alert rows read by name (`patient_id`, `rule`, `explanation`)."""
    patients = sorted({row["patient_id"] for row in rows})
    devices: set[UUID] = set()
    gateways: set[UUID] = set()
    for row in rows:
        found_devices, found_gateways = mentioned(AlertFacts.of(row))
        devices.update(found_devices)
        gateways.update(found_gateways)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id, display_name FROM patients WHERE id = ANY(%s)", (patients,))
    people = {row["id"]: row["display_name"] for row in await cur.fetchall()}
    await cur.execute("SELECT id, profile_id FROM devices WHERE id = ANY(%s)", (sorted(devices),))
    device_names = {str(row["id"]): _device_name(row["profile_id"]) for row in await cur.fetchall()}
    await cur.execute(
        "SELECT g.id, coalesce(h.address, nullif(g.label, '')) AS place FROM gateways g "
        "LEFT JOIN homes h ON h.id = g.home_id WHERE g.id = ANY(%s)",
        (sorted(gateways),),
    )
    places = {str(row["id"]): row["place"] for row in await cur.fetchall() if row["place"]}
    return {patient: Names(people.get(patient, "?"), device_names, places) for patient in patients}


async def describe_rows(
    conn: AsyncConnection[Any], rows: Sequence[Mapping[str, Any]], reader: Reader
) -> list[AlertText]:
    """The title and sentence of each alert row (`patient_id`, `rule`, `severity`, `explanation`), in order.

    The worklist and the alert page call this with their rows and the request's reader
    (`cloud.requests.reader_of`), and put the texts next to the ids in their JSON.
    """
    names = await names_for(conn, rows)
    return [describe_alert(AlertFacts.of(row), names[row["patient_id"]], reader) for row in rows]
