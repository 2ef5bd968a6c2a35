"""Which protocol applies to a patient: assignment, municipality default, the built-in default, overrides.

The patient's own assignment wins over the municipality's default. With neither, a patient gets
`DEFAULT_PROTOCOLS`: `general_elderly` (fever, partial NEWS2) because most home-care patients are older
people, plus `welfare` so that an alarm button or fall sensor is never left without a rule. A patient
without such devices simply has no readings for the welfare rules, which then stay quiet.
"""

from __future__ import annotations

from functools import cache, lru_cache
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


# Each patient's lifecycle, protocol names and SpO2 scale, and every override that can apply to them (their
# municipality's and their own), oldest first: what `build` makes the protocol in force from.
SETTINGS = (
    "SELECT p.id, p.lifecycle, pp.protocols AS own, mp.protocols AS town, coalesce(pp.spo2_scale, 1) AS spo2_scale, "
    f"pp.spo2_set_by, pp.spo2_reason {_ASSIGNED} WHERE p.id = ANY(%b::uuid[])"
)
OVERRIDES = (
    "SELECT p.id AS for_patient, o.patient_id IS NOT NULL AS patient_layer, o.rule, o.params, o.severities, "
    "o.enabled, o.reason, o.set_by, o.review_by FROM patients p JOIN rule_overrides o ON o.municipality_id = "
    "p.municipality_id AND (o.patient_id IS NULL OR o.patient_id = p.id) WHERE p.id = ANY(%b::uuid[]) "
    "ORDER BY o.created_at, o.id"
)


def _override(row: dict[str, Any]) -> RuleOverride:
    return RuleOverride(
        rule=row["rule"],
        params=row["params"],
        severities=row["severities"],
        enabled=row["enabled"],
        reason=row["reason"],
        set_by=str(row["set_by"]),
        review_by=row["review_by"],
    )


def build(settings: dict[str, Any], overrides: list[dict[str, Any]]) -> Protocol:
    """The protocol in force from a `SETTINGS` row and the patient's `OVERRIDES` rows (in their order).

    An override for a rule that none of the patient's protocols has is skipped: a municipality override is
    written for one protocol and must not break patients on another.
    """
    names = tuple(settings["own"] or settings["town"] or DEFAULT_PROTOCOLS)
    spo2 = (settings["spo2_scale"], str(settings["spo2_set_by"]) if settings["spo2_set_by"] else None,
            settings["spo2_reason"])  # fmt: skip
    known = _rule_ids(names)
    applying = [row for row in overrides if row["rule"] in known]
    if not applying:
        return _without_overrides(names, *spo2)
    layers: dict[bool, list[RuleOverride]] = {False: [], True: []}
    for row in applying:
        layers[row["patient_layer"]].append(_override(row))
    return apply_overrides(merged(names), layers[False], _settings(*spo2, tuple(layers[True])))


def _settings(
    scale: int, set_by: str | None, reason: str | None, overrides: tuple[RuleOverride, ...] = ()
) -> PatientSettings:
    return PatientSettings(spo2_scale=scale, spo2_scale_set_by=set_by, spo2_scale_reason=reason, overrides=overrides)


@cache
def _rule_ids(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(merged(names).by_id())


# Most patients have no override, so the evaluation builds the same few protocols again and again (12 µs each);
# kept per protocol names and SpO2 settings (bounded: a scale-2 setting names its clinician and reason).
@lru_cache(maxsize=1024)
def _without_overrides(names: tuple[str, ...], scale: int, set_by: str | None, reason: str | None) -> Protocol:
    return apply_overrides(merged(names), (), _settings(scale, set_by, reason))


async def protocol_for(conn: AsyncConnection[Any], patient_id: UUID) -> Protocol:
    """The patient's protocol with municipality and patient overrides and the SpO2 scale applied (`build`)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT p.municipality_id, pp.protocols AS own, mp.protocols AS town, "
        f"coalesce(pp.spo2_scale, 1) AS spo2_scale, pp.spo2_set_by, pp.spo2_reason {_ASSIGNED} WHERE p.id = %s",
        (patient_id,),
    )
    settings = await cur.fetchone()
    if settings is None:
        raise LookupError(f"no patient {patient_id}")
    await cur.execute(
        "SELECT patient_id IS NOT NULL AS patient_layer, rule, params, severities, enabled, reason, set_by, "
        "review_by FROM rule_overrides WHERE municipality_id = %s AND (patient_id IS NULL OR patient_id = %s) "
        "ORDER BY created_at, id",
        (settings["municipality_id"], patient_id),
    )
    return build(settings, await cur.fetchall())
