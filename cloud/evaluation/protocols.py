"""Which protocol applies to a patient: assignment, municipality default, the built-in default, overrides.

The patient's own assignment wins over the municipality's default. With neither, a patient gets
`DEFAULT_PROTOCOLS`: `general_elderly` (fever, partial NEWS2) because most home-care patients are older
people, plus `welfare` so that an alarm button or fall sensor is never left without a rule. A patient
without such devices simply has no readings for the welfare rules, which then stay quiet.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.protocols.load import apply_overrides, load_protocol
from alerts.protocols.model import Protocol, Rule
from alerts.protocols.schema import PatientSettings, RuleOverride

DEFAULT_PROTOCOLS = ("general_elderly", "welfare")
# A patient with their own and their municipality's protocol assignments.
_ASSIGNED = (
    "FROM patients p LEFT JOIN patient_protocols pp ON pp.patient_id = p.id "
    "LEFT JOIN municipality_protocols mp ON mp.municipality_id = p.municipality_id"
)


def merge(names: tuple[str, ...]) -> Protocol:
    """Several protocols as one: their rules in order, each rule id once (every protocol includes the same
    liveness rules, which must not be evaluated twice)."""
    rules: dict[str, Rule] = {}
    protocols = [load_protocol(name) for name in names]
    for protocol in protocols:
        for rule in protocol.rules:
            rules.setdefault(rule.id, rule)
    if len(protocols) == 1:
        return protocols[0]
    return Protocol(name="+".join(names), title=" + ".join(p.title for p in protocols), rules=tuple(rules.values()))


@cache
def merged(names: tuple[str, ...]) -> Protocol:
    """`merge`, kept per combination of names (protocols are immutable data)."""
    return merge(names)


async def assigned_protocols(conn: AsyncConnection[Any], patient_ids: list[UUID]) -> dict[UUID, Protocol]:
    """Each patient's protocols merged, without overrides: which rules they have and which metrics those read,
    for lists over many patients in one query. The thresholds in force are `protocol_for`'s."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT p.id, pp.protocols AS own, mp.protocols AS town {_ASSIGNED} WHERE p.id = ANY(%s)",
        (patient_ids,),
    )
    return {row["id"]: merged(tuple(row["own"] or row["town"] or DEFAULT_PROTOCOLS)) for row in await cur.fetchall()}


def _override(row: tuple[Any, ...]) -> RuleOverride:
    rule, params, severities, enabled, reason, set_by, review_by = row
    return RuleOverride(
        rule=rule,
        params=params,
        severities=severities,
        enabled=enabled,
        reason=reason,
        set_by=str(set_by),
        review_by=review_by,
    )


async def protocol_for(conn: AsyncConnection[Any], patient_id: UUID) -> Protocol:
    """The patient's protocol with municipality and patient overrides and the SpO2 scale applied.

    An override for a rule that none of the patient's protocols has is skipped: a municipality override is
    written for one protocol and must not break patients on another.
    """
    row = await (
        await conn.execute(
            "SELECT p.municipality_id, pp.protocols, mp.protocols, coalesce(pp.spo2_scale, 1), pp.spo2_set_by, "
            f"pp.spo2_reason {_ASSIGNED} WHERE p.id = %s",
            (patient_id,),
        )
    ).fetchone()
    if row is None:
        raise LookupError(f"no patient {patient_id}")
    municipality_id, own, default, scale, scale_by, scale_reason = row
    protocol = merge(tuple(own or default or DEFAULT_PROTOCOLS))
    known = protocol.by_id()
    layers: dict[bool, list[RuleOverride]] = {False: [], True: []}
    for patient_layer, *fields in await (
        await conn.execute(
            "SELECT patient_id IS NOT NULL, rule, params, severities, enabled, reason, set_by, review_by "
            "FROM rule_overrides WHERE municipality_id = %s AND (patient_id IS NULL OR patient_id = %s) "
            "ORDER BY created_at, id",
            (municipality_id, patient_id),
        )
    ).fetchall():
        if fields[0] in known:
            layers[patient_layer].append(_override(tuple(fields)))
    settings = PatientSettings(
        spo2_scale=scale,
        spo2_scale_set_by=str(scale_by) if scale_by else None,
        spo2_scale_reason=scale_reason,
        overrides=tuple(layers[True]),
    )
    return apply_overrides(protocol, layers[False], settings)
