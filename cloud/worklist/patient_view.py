"""What the patient page reads, in one place: the person, their newest values with the traffic light of the
limits in force, the NEWS2 of the newest readings and the NEWS2 history, the rules with limits and who changed
them, the baseline proposal waiting for a decision, the alerts with their outcomes, the pause in force and the
devices in use with when each was last heard and its battery.

Every piece comes from the service that owns it (registry, query, evaluation, alert store, triage); this
module only puts them side by side. The caller has applied the patient's access policy
(`patient_access("patient.read")`, the same policy and audit record as `GET /api/v1/patients/{id}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from alerts.explain import Level
from alerts.news2.window import METRIC_KEYS
from alerts.protocols.model import Protocol, Rule
from alerts.thresholds import Limits
from alerts.wording import Reader
from cloud.access.directory import staff_names
from cloud.alert_store.suppression import CurrentPause, current_pause
from cloud.evaluation import inputs, proposal_reads
from cloud.evaluation.protocols import protocol_for
from cloud.evaluation.status import MetricLimits, News2Now, bands, light, news2_light, news2_now, threshold_limits
from cloud.query import store
from cloud.query.series import STORED_METRICS
from cloud.query.store import StoredReading
from cloud.registry import patients
from cloud.registry.assignments import AssignedDevice, devices_of_patient
from cloud.worklist.context import Change, changes_of
from cloud.worklist.patient_history import AlertHistory, News2Score, alert_history, news2_history
from device_profiles.device_catalogue import load_devices
from device_profiles.metrics import load_catalogue

# The kinds of measurement the page lists with their newest value: vital signs, scores and labelled states
# (consciousness, oxygen). Events, device health and home states belong to the alerts and the devices.
SHOWN_KINDS = frozenset({"vital", "ordinal"})


@dataclass(frozen=True)
class LatestValue:
    """A metric's newest reading, its traffic light (None: no limits), the limits of the threshold rules for
    the metric, whether NEWS2 alone gives the light (`by_news2`), and the limits its chart shades."""

    metric: str
    reading: StoredReading
    light: Level | None
    limits: list[MetricLimits]
    by_news2: bool
    bands: Limits | None


@dataclass(frozen=True)
class RuleLimits:
    """A rule of the protocol that sets limits (or, for NEWS2, the score that alerts per severity), with the
    changes made to it for this patient."""

    id: str
    title: str
    limits: list[MetricLimits]
    min_scores: dict[str, int]
    changes: list[Change]

    @property
    def personal(self) -> bool:
        """Whether the patient has limits of their own for this rule."""
        return any(change.personal for change in self.changes)


@dataclass(frozen=True)
class Device:
    """A device in use for the patient: its product name, when a reading or battery report last came from it
    and its battery (as the evaluation's liveness facts see them), and whether detection watches it now
    (a supervision sensor is watched only under a valid consent)."""

    assigned: AssignedDevice
    name: str
    last_seen: datetime | None
    battery: float | None
    watched: bool


@dataclass(frozen=True)
class PatientOverview:
    """Everything the patient page shows."""

    details: dict[str, Any]
    protocol: Protocol
    latest: list[LatestValue]
    news2: News2Now | None
    news2_history: list[News2Score]
    rules: list[RuleLimits]
    proposal: proposal_reads.Proposal | None
    alerts: AlertHistory
    pause: CurrentPause | None
    devices: list[Device]
    people: dict[UUID, str]


def _shown(metric: str) -> bool:
    found = load_catalogue()[metric]
    return found.kind in SHOWN_KINDS or found.levels is not None


async def _latest(conn: AsyncConnection[Any], patient_id: UUID, protocol: Protocol) -> list[LatestValue]:
    limits = threshold_limits(protocol)
    wanted = [metric for metric in STORED_METRICS if _shown(metric)]
    found = []
    for metric, row in await store.latest(conn, patient_id, wanted):
        own = limits.get(metric, [])
        level = light(own, row.value) if own else news2_light(protocol, metric, row.value)
        by_news2 = level is not None and not own
        found.append(LatestValue(metric, row, level, own, by_news2, bands(protocol, metric, own)))
    return found


def _min_scores(rule: Rule) -> dict[str, int]:
    severities = rule.parameters()["severities"]
    if rule.spec.detector != "news2" or not isinstance(severities, dict):
        return {}
    found = {level: params.get("min_score") for level, params in severities.items() if isinstance(params, dict)}
    return {level: score for level, score in found.items() if isinstance(score, int)}


async def _rules(conn: AsyncConnection[Any], patient_id: UUID, protocol: Protocol) -> list[RuleLimits]:
    by_rule: dict[str, list[MetricLimits]] = {}
    for entries in threshold_limits(protocol).values():
        for entry in entries:
            by_rule.setdefault(entry.rule, []).append(entry)
    changes = await changes_of(conn, patient_id, [rule.id for rule in protocol.rules])
    found = []
    for rule in protocol.rules:
        scores = _min_scores(rule)
        if rule.id in by_rule or rule.id in changes or scores:
            limits, own = by_rule.get(rule.id, []), changes.get(rule.id, [])
            found.append(RuleLimits(rule.id, rule.spec.title, limits, scores, own))
    return found


def _device_name(profile_id: str) -> str:
    catalogue = load_devices()
    return catalogue[profile_id].identity.name if profile_id in catalogue else profile_id


async def _devices(conn: AsyncConnection[Any], patient_id: UUID, now: datetime) -> list[Device]:
    facts = {fact.device_id: fact for fact in (await inputs.liveness_facts(conn, patient_id, now.timestamp())).devices}
    found = []
    for assigned in await devices_of_patient(conn, patient_id):
        fact = facts.get(str(assigned.device_id))
        seen = None if fact is None or fact.last_seen is None else datetime.fromtimestamp(fact.last_seen, UTC)
        battery = fact.battery_pct if fact else None
        found.append(Device(assigned, _device_name(assigned.profile_id), seen, battery, fact is not None))
    return found


async def overview(
    conn: AsyncConnection[Any], municipality_id: UUID, patient_id: UUID, reader: Reader
) -> PatientOverview:
    """The patient page's contents, with alert texts and outcomes in the reader's language."""
    now = datetime.now(UTC)
    protocol = await protocol_for(conn, patient_id)
    latest = await _latest(conn, patient_id, protocol)
    news2_times = [value.reading.t.timestamp() for value in latest if value.metric in METRIC_KEYS.values()]
    alerts = await alert_history(conn, patient_id, reader)
    pause = await current_pause(conn, patient_id)
    acted = [outcome.by for item in [*alerts.open, *alerts.recent] for outcome in item.outcomes]
    entered = [value.reading.entered_by for value in latest]
    return PatientOverview(
        details=await patients.details(conn, patient_id), protocol=protocol, latest=latest,
        news2=await news2_now(conn, patient_id, protocol, max(news2_times, default=None), now),
        news2_history=await news2_history(conn, patient_id), rules=await _rules(conn, patient_id, protocol),
        proposal=await proposal_reads.waiting_for(conn, patient_id), alerts=alerts, pause=pause,
        devices=await _devices(conn, patient_id, now),
        people=await staff_names(conn, municipality_id, [*acted, *entered, pause.set_by if pause else None]),
    )  # fmt: skip
