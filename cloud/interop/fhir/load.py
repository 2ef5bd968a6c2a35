"""The reads behind the FHIR resources: the only SQL of `cloud.interop.fhir`, rows read by name (dict_row).

Every function returns facts (`facts.py`) for the pure mappings. Searches page by a key (`Page`): observations
by (t, id), answers by (time, first id), alerts, devices by id, so a page never shifts when rows are added.
A blood-pressure panel is one resource: a search returns its systolic row and leaves out the diastolic one
(which `load_observations` and `implicated_observations` add back as the panel's partner).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.episodes import EPISODE_RULE
from cloud.evaluation.protocols import protocol_for
from cloud.evaluation.status import threshold_limits
from cloud.interop.fhir.facts import (
    AlertFacts,
    AnswerFacts,
    DeviceFacts,
    ObservationFacts,
    OutcomeNote,
    PatientFacts,
    ReferenceLimits,
)
from cloud.interop.fhir.questionnaire import ANSWER_METRICS
from device_profiles.metrics import load_catalogue

_PATIENT = (
    "SELECT p.id, p.national_id, p.national_id_kind, p.display_name, p.lifecycle, m.orgnr, m.kommunenummer, "
    "m.name AS municipality_name FROM patients p JOIN municipalities m ON m.id = p.municipality_id"
)
_OBSERVATION = (
    "SELECT o.id, o.patient_id, o.device_id, o.gateway_id, d.profile_id, o.metric, o.value, o.unit, o.t, "
    "o.measured_at, o.received_at, o.source, o.context FROM observations o LEFT JOIN devices d ON d.id = o.device_id"
)
# The other members of a reading's panel: same patient, time, device (or none) and source.
_PARTNER = (
    "p.patient_id = o.patient_id AND p.t = o.t AND p.source = o.source "
    "AND p.device_id IS NOT DISTINCT FROM o.device_id AND p.id <> o.id"
)


@dataclass(frozen=True)
class Page:
    """One page of a search: at most `count` results after `after` (the last key of the previous page)."""

    count: int
    after: tuple[Any, ...] | None = None


def _observation(row: dict[str, Any]) -> ObservationFacts:
    return ObservationFacts(
        id=row["id"], patient_id=row["patient_id"], device_id=row["device_id"], gateway_id=row["gateway_id"],
        device_profile_id=row["profile_id"], metric=row["metric"], value=row["value"], unit=row["unit"], t=row["t"],
        measured_at=row["measured_at"], received_at=row["received_at"], source=row["source"], context=row["context"],
    )  # fmt: skip


def _panel_followers() -> list[str]:
    """Metrics that are a panel's later members (diastolic): a search leaves them out where the first is there."""
    return [m for panel in load_catalogue().panels.values() for m in panel.members[1:]]


def _panel_members() -> list[str]:
    return [m for panel in load_catalogue().panels.values() for m in panel.members]


async def load_patient(conn: AsyncConnection[Any], patient_id: UUID) -> PatientFacts | None:
    """The patient and their municipality, or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"{_PATIENT} WHERE p.id = %s", (patient_id,))
    row = await cur.fetchone()
    return None if row is None else _patient(row)


def _patient(row: dict[str, Any]) -> PatientFacts:
    return PatientFacts(
        id=row["id"], national_id=row["national_id"], national_id_kind=row["national_id_kind"],
        display_name=row["display_name"], municipality_orgnr=row["orgnr"], kommunenummer=row["kommunenummer"],
        municipality_name=row["municipality_name"], lifecycle=row["lifecycle"],
    )  # fmt: skip


async def load_patients(conn: AsyncConnection[Any], patient_ids: Collection[UUID]) -> dict[UUID, PatientFacts]:
    """The patients with these ids, by id."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"{_PATIENT} WHERE p.id = ANY(%s)", (list(patient_ids),))
    return {row["id"]: _patient(row) for row in await cur.fetchall()}


async def patients_in_scope(
    conn: AsyncConnection[Any], municipality_id: UUID, team_ids: Collection[UUID] | None, hidden: Collection[UUID]
) -> list[UUID]:
    """The ids of a municipality's patients (of these care teams when given) but the hidden ones, by id."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id FROM patients WHERE municipality_id = %s AND (%s::uuid[] IS NULL OR care_team_id = ANY(%s)) "
        "AND NOT id = ANY(%s) ORDER BY id",
        (municipality_id, None if team_ids is None else list(team_ids), None if team_ids is None else list(team_ids),
         list(hidden)),
    )  # fmt: skip
    return [row["id"] for row in await cur.fetchall()]


async def patient_of_answers(conn: AsyncConnection[Any], response_id: int) -> UUID | None:
    """The patient whose answering a QuestionnaireResponse id names (None: none)."""
    found = await answers_by_id(conn, response_id)
    return None if found is None else found.patient_id


async def patient_of_observation(conn: AsyncConnection[Any], observation_id: int) -> UUID | None:
    """The patient a stored reading belongs to (None: no such reading, or a home's shared sensor's)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT patient_id FROM observations WHERE id = %s", (observation_id,))
    row = await cur.fetchone()
    return None if row is None else row["patient_id"]


async def load_observations(conn: AsyncConnection[Any], ids: Collection[int]) -> list[ObservationFacts]:
    """The readings with these ids (of a patient; a home's shared readings are left out) in time order, plus the
    other members of their panels (a systolic reading's diastolic), so a panel is always whole."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"{_OBSERVATION} WHERE o.patient_id IS NOT NULL AND (o.id = ANY(%(ids)s) OR (o.metric = ANY(%(members)s) "  # noqa: S608 - fixed text
        f"AND EXISTS (SELECT 1 FROM observations p WHERE p.id = ANY(%(ids)s) AND p.metric = ANY(%(members)s) "
        f"AND {_PARTNER}))) ORDER BY o.t, o.id",
        {"ids": list(ids), "members": _panel_members()},
    )
    return [_observation(row) for row in await cur.fetchall()]


async def search_observations(
    conn: AsyncConnection[Any], patient_ids: Sequence[UUID], metrics: Collection[str] | None,
    since: datetime | None, until: datetime | None, page: Page,
) -> tuple[list[ObservationFacts], int]:  # fmt: skip
    """One page of the patients' readings (`since` <= t < `until`, of `metrics` when given; a panel's later members
    are left out where its first is stored) by (t, id), with its partners, and the total count of the search."""
    where = (
        "o.patient_id = ANY(%(patients)s) AND (%(metrics)s::text[] IS NULL OR o.metric = ANY(%(metrics)s)) "  # noqa: S608 - fixed text
        "AND (%(since)s::timestamptz IS NULL OR o.t >= %(since)s) "
        "AND (%(until)s::timestamptz IS NULL OR o.t < %(until)s) "
        "AND NOT (o.metric = ANY(%(followers)s) AND EXISTS (SELECT 1 FROM observations p WHERE p.metric <> o.metric "
        f"AND p.metric = ANY(%(members)s) AND NOT p.metric = ANY(%(followers)s) AND {_PARTNER}))"
    )
    params = {"patients": list(patient_ids), "metrics": _with_panels(metrics), "since": since, "until": until,
              "followers": _panel_followers(), "members": _panel_members(), "count": page.count}  # fmt: skip
    after = ""
    if page.after is not None:
        after = " AND (o.t, o.id) > (%(after_t)s, %(after_id)s)"
        params["after_t"], params["after_id"] = page.after
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT o.id FROM observations o WHERE {where}{after} ORDER BY o.t, o.id LIMIT %(count)s",  # noqa: S608 - fixed text
        params,
    )
    ids = [row["id"] for row in await cur.fetchall()]
    await cur.execute(f"SELECT count(*) AS n FROM observations o WHERE {where}", params)  # noqa: S608 - fixed text
    total = await cur.fetchone()
    return await load_observations(conn, ids) if ids else [], int(total["n"]) if total else 0


def _with_panels(metrics: Collection[str] | None) -> list[str] | None:
    """The metrics searched for, with the other members of any panel one of them is in (a panel is one result)."""
    if metrics is None:
        return None
    found = set(metrics)
    for panel in load_catalogue().panels.values():
        if found & set(panel.members):
            found.update(panel.members)
    return sorted(found)


async def reference_limits(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, ReferenceLimits]:
    """Per metric, the limits of the first threshold rule of the patient's protocol in force (municipality and
    personal limits applied) that reads it."""
    found = threshold_limits(await protocol_for(conn, patient_id))
    return {metric: entries[0].limits for metric, entries in found.items() if entries}


async def search_answers(
    conn: AsyncConnection[Any], patient_ids: Sequence[UUID], page: Page
) -> tuple[list[AnswerFacts], int]:
    """One page of the patients' own answerings (`cloud.ingest.self_report`: readings the patient authored), by
    (time, first id), and their total count."""
    where = "patient_id = ANY(%(p)s) AND source = 'manual' AND entered_by = patient_id AND metric = ANY(%(metrics)s)"
    params: dict[str, Any] = {"p": list(patient_ids), "metrics": sorted(ANSWER_METRICS), "count": page.count}
    having = ""
    if page.after is not None:
        having = " HAVING (t, min(id)) > (%(after_t)s, %(after_id)s)"
        params["after_t"], params["after_id"] = page.after
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT patient_id, t, array_agg(id ORDER BY id) AS ids FROM observations WHERE {where} "  # noqa: S608 - fixed text
        f"GROUP BY patient_id, t{having} "
        "ORDER BY t, min(id) LIMIT %(count)s",
        params,
    )
    groups = await cur.fetchall()
    await cur.execute(f"SELECT count(DISTINCT (patient_id, t)) AS n FROM observations WHERE {where}", params)  # noqa: S608 - fixed text
    total = await cur.fetchone()
    readings = await load_observations(conn, [i for group in groups for i in group["ids"]])
    answers = [
        AnswerFacts(group["patient_id"], group["t"], tuple(r for r in readings if r.id in set(group["ids"])))
        for group in groups
    ]
    return answers, int(total["n"]) if total else 0


async def answers_by_id(conn: AsyncConnection[Any], response_id: int) -> AnswerFacts | None:
    """The answering whose first reading has this id (a QuestionnaireResponse's id), or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT o.patient_id, o.t, array_agg(o.id ORDER BY o.id) AS ids FROM observations o JOIN observations f "
        "ON f.patient_id = o.patient_id AND f.t = o.t AND f.source = 'manual' AND f.entered_by = f.patient_id "
        "WHERE f.id = %(id)s AND o.source = 'manual' AND o.entered_by = o.patient_id AND o.metric = ANY(%(m)s) "
        "AND f.metric = ANY(%(m)s) GROUP BY o.patient_id, o.t",
        {"id": response_id, "m": sorted(ANSWER_METRICS)},
    )
    row = await cur.fetchone()
    if row is None or row["ids"][0] != response_id:
        return None
    return AnswerFacts(row["patient_id"], row["t"], tuple(await load_observations(conn, row["ids"])))


_ALERT = (
    "SELECT id, patient_id, rule, alert_class, severity, state, opened_at, resolved_at, message, episode_id, "
    "resolution FROM alerts"
)


async def _alerts(conn: AsyncConnection[Any], where: str, params: dict[str, Any]) -> list[AlertFacts]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"{_ALERT} WHERE {where} ORDER BY id LIMIT %(count)s", {"count": 1, **params})
    rows = await cur.fetchall()
    await cur.execute(
        "SELECT alert_id, outcome, at, note FROM alert_outcomes WHERE alert_id = ANY(%s) ORDER BY at, id",
        ([row["id"] for row in rows],),
    )
    notes: dict[int, list[OutcomeNote]] = {}
    for note in await cur.fetchall():
        notes.setdefault(note["alert_id"], []).append(OutcomeNote(note["outcome"], note["at"], note["note"]))
    return [
        AlertFacts(
            id=row["id"],
            patient_id=row["patient_id"],
            rule=row["rule"],
            alert_class=row["alert_class"],
            severity=row["severity"],
            state=row["state"],
            opened_at=row["opened_at"],
            resolved_at=row["resolved_at"],
            message=row["message"],
            episode_id=row["episode_id"],
            resolution=row["resolution"],
            outcomes=tuple(notes.get(row["id"], ())),
        )
        for row in rows
    ]


async def load_alert(conn: AsyncConnection[Any], alert_id: int) -> AlertFacts | None:
    """An alert or episode with the nurse's outcome notes, or None."""
    found = await _alerts(conn, "id = %(id)s", {"id": alert_id})
    return found[0] if found else None


async def search_alerts(
    conn: AsyncConnection[Any], patient_ids: Sequence[UUID], page: Page
) -> tuple[list[AlertFacts], int]:
    """One page of the patients' alerts and episodes by id, and their total count."""
    after = page.after[0] if page.after is not None else 0
    params = {"p": list(patient_ids), "after": after, "count": page.count}
    found = await _alerts(conn, "patient_id = ANY(%(p)s) AND id > %(after)s", params)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT count(*) AS n FROM alerts WHERE patient_id = ANY(%s)", (list(patient_ids),))
    total = await cur.fetchone()
    return found, int(total["n"]) if total else 0


async def implicated_observations(conn: AsyncConnection[Any], alert_id: int) -> list[ObservationFacts]:
    """The readings an alert rests on: the patient's readings of the rule's metrics at the input times the alert
    and its transitions recorded (`last_input_at`); for an episode, its members' readings. A panel is whole.
    A rule the patient's protocol no longer has implicates the readings of any metric at those times."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT a.id, a.patient_id, a.rule, array_remove(array_agg(DISTINCT t.last_input_at) "
        "|| a.last_input_at, NULL) AS times FROM alerts a LEFT JOIN alert_transitions t ON t.alert_id = a.id "
        "WHERE a.id = %(id)s OR (a.episode_id = %(id)s AND a.rule <> %(episode)s) "
        "GROUP BY a.id, a.patient_id, a.rule, a.last_input_at",
        {"id": alert_id, "episode": EPISODE_RULE},
    )
    rows = await cur.fetchall()
    if not rows:
        return []
    rules = (await protocol_for(conn, rows[0]["patient_id"])).by_id()
    ids: list[int] = []
    for row in rows:
        if row["rule"] == EPISODE_RULE or not row["times"]:
            continue
        known = rules.get(row["rule"])
        metrics = list(known.metrics) if known is not None else None
        await cur.execute(
            "SELECT id FROM observations WHERE patient_id = %s AND t = ANY(%s) "
            "AND (%s::text[] IS NULL OR metric = ANY(%s))",
            (row["patient_id"], row["times"], metrics, metrics),
        )
        ids += [found["id"] for found in await cur.fetchall()]
    return await load_observations(conn, ids) if ids else []


_DEVICE = (
    "SELECT d.id, d.profile_id, d.serial, d.address, (SELECT r.gateway_id FROM device_registrations r "
    "WHERE r.device_id = d.id ORDER BY upper(r.valid) DESC NULLS FIRST LIMIT 1) AS gateway_id FROM devices d"
)


def _device(row: dict[str, Any]) -> DeviceFacts:
    return DeviceFacts(row["id"], row["profile_id"], row["serial"], row["address"], row["gateway_id"])


async def load_device(conn: AsyncConnection[Any], device_id: UUID) -> tuple[DeviceFacts, UUID | None] | None:
    """A device (with the gateway it is registered to) or a gateway, and the patient it serves (a device's
    latest assignment, to the patient or their home; a gateway's home's first resident, else the patient of a device
    registered to it), or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"{_DEVICE} WHERE d.id = %s", (device_id,))
    row = await cur.fetchone()
    if row is not None:
        await cur.execute(
            "SELECT coalesce(a.patient_id, (SELECT min(p.id::text)::uuid FROM patients p WHERE p.home_id = a.home_id)) "
            "AS patient_id FROM device_assignments a WHERE a.device_id = %s ORDER BY upper(a.valid) DESC NULLS FIRST "
            "LIMIT 1",
            (device_id,),
        )
        owner = await cur.fetchone()
        return _device(row), owner["patient_id"] if owner else None
    await cur.execute(
        "SELECT g.id, g.label, coalesce((SELECT min(p.id::text)::uuid FROM patients p WHERE p.home_id = g.home_id), "
        "(SELECT a.patient_id FROM device_registrations r JOIN device_assignments a ON a.device_id = r.device_id "
        "WHERE r.gateway_id = g.id AND a.patient_id IS NOT NULL ORDER BY upper(a.valid) DESC NULLS FIRST LIMIT 1)) "
        "AS patient_id FROM gateways g WHERE g.id = %s",
        (device_id,),
    )
    gateway = await cur.fetchone()
    if gateway is None:
        return None
    facts = DeviceFacts(gateway["id"], None, None, None, None, is_gateway=True, label=gateway["label"])
    return facts, gateway["patient_id"]


async def patient_devices(conn: AsyncConnection[Any], patient_ids: Sequence[UUID]) -> list[DeviceFacts]:
    """The devices ever assigned to the patients or their homes, and the gateways they are registered to, by id."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"{_DEVICE} WHERE d.id IN (SELECT a.device_id FROM device_assignments a WHERE a.patient_id = ANY(%(p)s) "  # noqa: S608 - fixed text
        "OR a.home_id IN (SELECT home_id FROM patients WHERE id = ANY(%(p)s))) ORDER BY d.id",
        {"p": list(patient_ids)},
    )
    devices = [_device(row) for row in await cur.fetchall()]
    gateway_ids = sorted({d.gateway_id for d in devices if d.gateway_id is not None})
    await cur.execute("SELECT id, label FROM gateways WHERE id = ANY(%s) ORDER BY id", (gateway_ids,))
    gateways = [DeviceFacts(g["id"], None, None, None, None, is_gateway=True, label=g["label"])
                for g in await cur.fetchall()]  # fmt: skip
    return sorted([*devices, *gateways], key=lambda d: str(d.id))


def devices_page(devices: Sequence[DeviceFacts], page: Page) -> list[DeviceFacts]:
    """One page of a patient's devices (a handful: paged in memory by id)."""
    after = str(page.after[0]) if page.after is not None else ""
    return [d for d in devices if str(d.id) > after][: page.count]


async def patient_municipality(conn: AsyncConnection[Any], patient_id: UUID) -> UUID | None:
    """The municipality of a patient (None: no such patient)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT municipality_id FROM patients WHERE id = %s", (patient_id,))
    row = await cur.fetchone()
    return None if row is None else row["municipality_id"]
