"""What the alert page shows around an alert: the rule that raised it as it is in force for the patient
(title, protocol, clinical source, the parameters per severity, and the municipality's or the patient's own
changes to it with who, why and until when). The patient's name and the notes' authors come with the alert's
detail. The caller has applied the alert's access policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.evaluation.protocols import protocol_for
from cloud.worklist.models import AlertDetail


@dataclass(frozen=True)
class Change:
    """A change to the rule for this patient: the municipality's (`personal` false) or the patient's own."""

    personal: bool
    params: dict[str, Any]
    severities: dict[str, Any]
    enabled: bool
    reason: str
    set_by: str
    review_by: date


@dataclass(frozen=True)
class RuleInForce:
    """The rule behind an alert as it applies to the patient now."""

    id: str
    title: str
    protocol: str
    source: str
    detector: str
    severities: dict[str, Any]
    metrics: tuple[str, ...]
    changes: list[Change] = field(default_factory=list)

    @property
    def personal(self) -> bool:
        """Whether the patient has limits of their own for this rule."""
        return any(change.personal for change in self.changes)


@dataclass(frozen=True)
class AlertContext:
    """The rule in force (None for a rule the patient's protocol no longer has)."""

    rule: RuleInForce | None


async def changes_of(conn: AsyncConnection[Any], patient_id: UUID, rules: Sequence[str]) -> dict[str, list[Change]]:
    """Per rule of `rules`, the municipality's and the patient's changes to it, oldest first (rules without
    any are left out)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT o.rule, o.patient_id IS NOT NULL AS personal, o.params, o.severities, o.enabled, o.reason, "
        "coalesce(s.display_name, o.set_by::text) AS set_by, o.review_by FROM rule_overrides o "
        "JOIN patients p ON p.municipality_id = o.municipality_id LEFT JOIN staff s ON s.id = o.set_by "
        "WHERE p.id = %(p)s AND o.rule = ANY(%(rules)s) AND (o.patient_id IS NULL OR o.patient_id = %(p)s) "
        "ORDER BY o.created_at, o.id",
        {"p": patient_id, "rules": list(rules)},
    )
    found: dict[str, list[Change]] = {}
    for row in await cur.fetchall():
        found.setdefault(row.pop("rule"), []).append(Change(**row))
    return found


async def rule_in_force(conn: AsyncConnection[Any], patient_id: UUID, rule_id: str) -> RuleInForce | None:
    """The rule `rule_id` in the patient's protocol with every override applied, and those overrides."""
    protocol = await protocol_for(conn, patient_id)
    rule = protocol.by_id().get(rule_id)
    if rule is None:
        return None
    parameters = rule.parameters()
    severities = parameters["severities"]
    return RuleInForce(
        id=rule.id, title=rule.spec.title, protocol=protocol.title, source=rule.spec.source,
        detector=rule.spec.detector, severities=severities if isinstance(severities, dict) else {},
        metrics=rule.metrics, changes=(await changes_of(conn, patient_id, [rule_id])).get(rule_id, []),
    )  # fmt: skip


async def alert_context(conn: AsyncConnection[Any], detail: AlertDetail) -> AlertContext:
    """What the alert page needs besides the alert's detail."""
    return AlertContext(rule=await rule_in_force(conn, detail.patient_id, detail.alert.rule))
