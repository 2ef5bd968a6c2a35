"""The one writer of `alerts`, `alert_transitions` and `alert_handled` (and of an alert's comments and outcomes).

Every route that changes an alert (detection, a nurse's action, an outcome, a discharge, a dead-lettered
notification, the escalation engine's bookkeeping) calls a function here in its own transaction, and each
transition is computed by the pure `alerts.lifecycle` functions before it is written, so one transition
writes the same records whichever route caused it. Callers keep their side effects that are not records:
NOTIFY, live worklist events, latency metrics.

What each transition records (besides one `alert_transitions` row with the lifecycle's message and the
transition as JSON in `detail`; manual transitions add `by` and `audit_id`):

- open: a new row in `triggered` with the lifecycle's `OpenAlert`; repeat / severity change: severity,
  repeats, newest value and input, `updated_at`, message.
- acknowledge: `state = acknowledged`; `acknowledged_at` / `acknowledged_by` keep the first person of the call.
- a safety alarm pressed again after a person took it (`called_again`, when escalation starts a new round):
  `state = triggered` and `acknowledged_at` / `acknowledged_by` emptied, so the alarm waits to be taken again and
  the next person to take it is recorded; the `acknowledged` transitions keep everyone who took it.
- snooze: `snoozed_until`; the transition carries `suppressed_by = snoozed`.
- resolve by a person, whichever way (`/resolve`, a closing outcome, a discharge or death): `resolved_at`,
  `resolved_by`, `resolution`, and `acknowledged_at` / `acknowledged_by` set to the resolution if nobody had
  acknowledged. A person who closes an alert has necessarily taken it: an auditor reading "acknowledged:
  never" on an alert a nurse closed would be misled, and time-to-acknowledge would leave out exactly the
  alerts handled fastest. Only the rule's own auto-resolve leaves the acknowledgement empty, because no
  person saw it.
- every resolve: the chain ends (`next_due_at` null) and the newest input counts as handled
  (`alert_handled`), so the same input never opens the alert again.
- worsening episodes (alerts.episodes): a rule's trigger that is evidence (`in_episode`) opens its own row
  with `episode_id` naming the patient's open episode (the episode's transition comes first, so it exists);
  evidence added to an episode updates it like a repeat and also replaces its explanation (the evidence list
  is what its words are made of). A person resolving an episode resolves its open members in the same
  transaction with the same resolution, each logged as its own resolve; acknowledging or snoozing an
  episode changes only the episode, because its members notify nobody.
- escalation bookkeeping: the policy copy, `next_step` / `next_due_at`, `first_notified_at` and the
  triggering reading's device/gateway/commit times. The engine decides; the store only writes. A person's
  action sets `next_due_at = now()` on an escalating open alert so the chain is looked at again at once.

Manual transitions lock the row (`FOR UPDATE`) and use the transaction's clock (`now()`); detection passes
its own clock in the transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts import lifecycle
from alerts.episodes import EPISODE_RULE
from alerts.explain import JSONValue, Level
from alerts.lifecycle import Event, OpenAlert, Suppression, Transition, Verdict
from cloud.alert_store.records import OPEN_COLUMNS, Actor, at, open_alert

AUTO_RESOLUTION = "auto-resolved: the rule no longer triggers"
_UPSERT_HANDLED = (
    "INSERT INTO alert_handled (patient_id, rule, handled_until) VALUES (%s, %s, %s) ON CONFLICT "
    "(patient_id, rule) DO UPDATE SET handled_until = greatest(alert_handled.handled_until, EXCLUDED.handled_until)"
)
# A person's action makes an escalating chain be looked at again at once (acknowledging starts the
# ack-timeout reminders, snoozing holds the steps, an outcome may change what is due).
_RECHECK = "next_due_at = CASE WHEN escalation IS NULL THEN NULL ELSE now() END"
# The patient's open episode whose evidence names the rule: what a member's row points at.
_EPISODE_OF = (
    "(SELECT e.id FROM alerts e WHERE e.patient_id = %(patient)s AND e.rule = %(episode)s AND e.resolved_at IS NULL "
    "AND e.last_value->'evidence' @> jsonb_build_array(jsonb_build_object('rule', %(rule)s::text)))"
)


async def open_alerts(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, OpenAlert]:
    """The patient's open alerts by rule."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {OPEN_COLUMNS} FROM alerts WHERE patient_id = %s AND resolved_at IS NULL",  # noqa: S608
            (patient_id,),
        )
        return {row["rule"]: open_alert(row) for row in await cur.fetchall()}


async def handled_until(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, float]:
    """Per rule, the newest input already accounted for by a closed alert or a recorded suppression."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT rule, handled_until FROM alert_handled WHERE patient_id = %s", (patient_id,))
        return {row["rule"]: row["handled_until"].timestamp() for row in await cur.fetchall()}


async def record(
    conn: AsyncConnection[Any], patient_id: UUID, alert_id: int | None, t: Transition, actor: Actor | None = None
) -> None:
    """Append one transition to the log, with its full explanation (and the actor of a manual one)."""
    detail = t.to_json() | (actor.detail() if actor is not None else {})
    await conn.execute(
        "INSERT INTO alert_transitions (alert_id, patient_id, rule, event, alert_class, severity, at, notify, "
        "suppressed_by, last_input_at, message, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (alert_id, patient_id, t.rule, t.event.value, t.alert_class, t.severity.value, at(t.at), t.notify,
         None if t.suppressed_by is None else t.suppressed_by.value, at(t.last_input_at), t.message,
         Jsonb(detail)),
    )  # fmt: skip


async def apply(conn: AsyncConnection[Any], patient_id: UUID, t: Transition) -> int | None:
    """Write one transition computed by `lifecycle.step` and log it; returns the alert's id when there is one.

    Detection holds the patient's evaluation lock, so its open never meets another; `raise_internal` handles
    the race its callers can have.
    """
    alert_id: int | None = None
    if t.alert is not None and t.event is Event.TRIGGERED:
        alert_id = await _insert(conn, patient_id, t, t.alert)
        if alert_id is None:
            raise RuntimeError(f"{t.rule} is already open for this patient")  # the caller lost a race
    elif t.alert is not None and t.event in (Event.REPEATED, Event.SEVERITY_CHANGED, Event.EVIDENCE_ADDED):
        alert_id = await _update(conn, patient_id, t, t.alert)
    elif t.alert is None and t.event in (Event.RESOLVED, Event.SUPPRESSED):
        alert_id = await _resolve_rule(conn, patient_id, t)
        if t.last_input_at is not None:
            await conn.execute(_UPSERT_HANDLED, (patient_id, t.rule, at(t.last_input_at)))
    await record(conn, patient_id, alert_id, t)
    return alert_id


async def _insert(conn: AsyncConnection[Any], patient_id: UUID, t: Transition, alert: OpenAlert) -> int | None:
    episode = _EPISODE_OF if t.in_episode else "NULL"
    row = await (
        await conn.execute(
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "  # noqa: S608
            "last_input_at, repeats, message, last_value, explanation, snoozed_until, episode_id) VALUES (%(patient)s, "
            "%(rule)s, %(class)s, %(severity)s, %(state)s, %(auto)s, %(opened)s, %(updated)s, %(input)s, %(repeats)s, "
            f"%(message)s, %(value)s, %(facts)s, %(snoozed)s, {episode}) "
            "ON CONFLICT (patient_id, rule) WHERE resolved_at IS NULL DO NOTHING RETURNING id",
            {"patient": patient_id, "rule": t.rule, "class": alert.alert_class, "severity": alert.severity.value,
             "state": alert.state.value, "auto": alert.auto_resolve, "opened": at(alert.opened_at),
             "updated": at(alert.updated_at or t.at), "input": at(alert.last_input_at), "repeats": alert.repeats,
             "message": t.message, "value": Jsonb(dict(alert.last_value)), "facts": Jsonb(dict(t.explanation)),
             "snoozed": at(alert.snoozed_until), "episode": EPISODE_RULE},
        )
    ).fetchone()  # fmt: skip
    return None if row is None else int(row[0])


async def _update(conn: AsyncConnection[Any], patient_id: UUID, t: Transition, alert: OpenAlert) -> int | None:
    # A rule's rise that joined an episode links a member opened before episodes existed (or before this one).
    joins = t.in_episode and t.event is Event.SEVERITY_CHANGED
    episode = f"coalesce(episode_id, {_EPISODE_OF})" if joins else "episode_id"
    row = await (
        await conn.execute(
            "UPDATE alerts SET severity = %(severity)s, repeats = %(repeats)s, last_value = %(value)s, "  # noqa: S608
            "last_input_at = %(input)s, updated_at = %(updated)s, message = %(message)s, "
            "explanation = coalesce(%(facts)s, explanation), "
            f"episode_id = {episode} "
            "WHERE patient_id = %(patient)s AND rule = %(rule)s AND resolved_at IS NULL RETURNING id",
            {"severity": alert.severity.value, "repeats": alert.repeats, "value": Jsonb(dict(alert.last_value)),
             "input": at(alert.last_input_at), "updated": at(alert.updated_at or t.at), "message": t.message,
             "facts": Jsonb(dict(t.explanation)) if t.rule == EPISODE_RULE else None, "patient": patient_id,
             "rule": t.rule, "episode": EPISODE_RULE},
        )
    ).fetchone()  # fmt: skip
    return None if row is None else int(row[0])


async def _resolve_rule(conn: AsyncConnection[Any], patient_id: UUID, t: Transition) -> int | None:
    """The rule's own auto-resolve: nobody acknowledged, nobody resolved."""
    row = await (
        await conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = %s, updated_at = %s, resolution = %s, "
            "next_due_at = NULL WHERE patient_id = %s AND rule = %s AND resolved_at IS NULL RETURNING id",
            (at(t.at), at(t.at), AUTO_RESOLUTION, patient_id, t.rule),
        )
    ).fetchone()
    return None if row is None else int(row[0])


async def _lock(conn: AsyncConnection[Any], alert_id: int) -> dict[str, Any] | None:
    """The open alert's row, locked, with the transaction's clock as `now`; None once resolved."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {OPEN_COLUMNS}, now() AS now FROM alerts WHERE id = %s AND resolved_at IS NULL "  # noqa: S608
            "FOR UPDATE",
            (alert_id,),
        )
        return await cur.fetchone()


async def _changed(conn: AsyncConnection[Any], sql: str, values: tuple[Any, ...] | dict[str, Any]) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, values)
        row = await cur.fetchone()
    assert row is not None  # the caller holds the row lock
    return row


async def acknowledge(conn: AsyncConnection[Any], alert_id: int, actor: Actor) -> dict[str, Any] | None:
    """A person takes the open alert; returns the changed row, or None when it is already resolved."""
    row = await _lock(conn, alert_id)
    if row is None:
        return None
    _after, t = lifecycle.acknowledge(open_alert(row), row["now"].timestamp(), str(actor.by))
    changed = await _changed(
        conn,
        f"UPDATE alerts SET state = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, %s), "  # noqa: S608
        f"acknowledged_by = coalesce(acknowledged_by, %s), updated_at = %s, {_RECHECK} WHERE id = %s RETURNING *",
        (row["now"], actor.by, row["now"], alert_id),
    )
    await record(conn, row["patient_id"], alert_id, t, actor)
    return changed


async def called_again(conn: AsyncConnection[Any], alert_id: int) -> None:
    """A taken safety alarm pressed again waits to be taken again (module docstring); the press itself was
    recorded as its repeat, in the caller's transaction."""
    row = await _lock(conn, alert_id)
    if row is None:
        return
    after = lifecycle.called_again(open_alert(row), row["now"].timestamp())
    await conn.execute(
        "UPDATE alerts SET state = %s, acknowledged_at = NULL, acknowledged_by = NULL, updated_at = %s WHERE id = %s",
        (after.state.value, row["now"], alert_id),
    )


async def snooze(conn: AsyncConnection[Any], alert_id: int, actor: Actor, minutes: int) -> dict[str, Any] | None:
    """Stop re-notification for `minutes`; returns the changed row, or None when it is already resolved."""
    row = await _lock(conn, alert_id)
    if row is None:
        return None
    now = row["now"].timestamp()
    after = lifecycle.snooze(open_alert(row), now + minutes * 60)
    t = Transition(
        event=Event.SNOOZED, rule=after.rule, alert_class=after.alert_class, severity=after.severity, at=now,
        message=f"snoozed for {minutes} min", notify=False, suppressed_by=Suppression.SNOOZED,
        last_input_at=after.last_input_at, alert=after,
    )  # fmt: skip
    changed = await _changed(
        conn,
        f"UPDATE alerts SET snoozed_until = %s, updated_at = %s, {_RECHECK} WHERE id = %s RETURNING *",  # noqa: S608
        (at(after.snoozed_until), row["now"], alert_id),
    )
    await record(conn, row["patient_id"], alert_id, t, actor)
    return changed


async def resolve(
    conn: AsyncConnection[Any], alert_id: int, actor: Actor, resolution: str, when: datetime | None = None
) -> dict[str, Any] | None:
    """A person closes the open alert at `when` (default now; never before it opened); returns the changed
    row, or None when it is already resolved. The same records whichever route resolves (module docstring).
    Closing a worsening episode closes its open members too, each with the same resolution."""
    await _wait_for_detection(conn, alert_id)
    row = await _lock(conn, alert_id)
    if row is None:
        return None
    moment = max(when or row["now"], row["opened_at"])
    changed = await _close(conn, row, actor, resolution, moment)
    if row["rule"] == EPISODE_RULE:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {OPEN_COLUMNS}, now() AS now FROM alerts WHERE episode_id = %s "  # noqa: S608
                "AND resolved_at IS NULL ORDER BY id FOR UPDATE",
                (alert_id,),
            )
            members = await cur.fetchall()
        for member in members:
            await _close(conn, member, actor, resolution, max(moment, member["opened_at"]))
    return changed


async def _wait_for_detection(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Before an episode and its members are locked, take the patient's evaluation lock (the key of
    cloud/evaluation/queue.py): detection locks a member and then the episode in one transaction, and a person
    locking them the other way round would deadlock with it. Other alerts need no such wait."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT patient_id, rule FROM alerts WHERE id = %s", (alert_id,))
        found = await cur.fetchone()
    if found is not None and found["rule"] == EPISODE_RULE:
        key = f"evaluate:{found['patient_id']}"
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


async def _close(
    conn: AsyncConnection[Any], row: dict[str, Any], actor: Actor, resolution: str, moment: datetime
) -> dict[str, Any]:
    """Resolve the locked open alert `row` as a person at `moment`, count its input as handled and log it."""
    t = lifecycle.resolve(open_alert(row), moment.timestamp(), str(actor.by), resolution)
    changed = await _changed(
        conn,
        "UPDATE alerts SET state = 'resolved', resolved_at = %(at)s, resolved_by = %(by)s, resolution = %(why)s, "
        "updated_at = now(), acknowledged_at = coalesce(acknowledged_at, %(at)s), "
        "acknowledged_by = coalesce(acknowledged_by, %(by)s), next_due_at = NULL WHERE id = %(id)s RETURNING *",
        {"at": moment, "by": actor.by, "why": resolution[:500], "id": row["id"]},
    )
    if t.last_input_at is not None:
        await conn.execute(_UPSERT_HANDLED, (row["patient_id"], t.rule, at(t.last_input_at)))
    await record(conn, row["patient_id"], row["id"], t, actor)
    return changed


async def discharge(conn: AsyncConnection[Any], patient_id: UUID, actor: Actor, resolution: str) -> list[int]:
    """Resolve every open alert of a patient who left the service, as a person's resolve; returns the ids of
    the alerts that were open (an episode's members are closed with their episode)."""
    found = await (
        await conn.execute(
            "SELECT id FROM alerts WHERE patient_id = %s AND resolved_at IS NULL ORDER BY id", (patient_id,)
        )
    ).fetchall()
    for (alert_id,) in found:
        await resolve(conn, alert_id, actor, resolution)
    return [int(alert_id) for (alert_id,) in found]


async def note(
    conn: AsyncConnection[Any], alert_id: int, actor: Actor, event: Literal["commented", "outcome"], message: str
) -> None:
    """Log a comment or an outcome on the alert (open or resolved); an outcome also rechecks the chain."""
    await conn.execute(
        "INSERT INTO alert_transitions (alert_id, patient_id, rule, event, alert_class, severity, at, notify, "
        "last_input_at, message, detail) SELECT id, patient_id, rule, %s, alert_class, severity, now(), false, "
        "last_input_at, %s, %s FROM alerts WHERE id = %s",
        (event, message, Jsonb(actor.detail()), alert_id),
    )
    if event == "outcome":
        await conn.execute(
            f"UPDATE alerts SET {_RECHECK} WHERE id = %s AND resolved_at IS NULL",  # noqa: S608 - a fixed fragment
            (alert_id,),
        )


async def comment(conn: AsyncConnection[Any], alert_id: int, actor: Actor, body: str) -> int:
    """Keep a comment with the alert and log it; returns the comment's id."""
    row = await (
        await conn.execute(
            "INSERT INTO alert_comments (alert_id, author, body) VALUES (%s, %s, %s) RETURNING id",
            (alert_id, actor.by, body),
        )
    ).fetchone()
    assert row is not None
    await note(conn, alert_id, actor, "commented", "comment added")
    return int(row[0])


async def outcome(
    conn: AsyncConnection[Any], alert_id: int, actor: Actor, what: str, when: datetime, text: str | None
) -> int:
    """Keep what was done (and when it happened) with the alert and log it; `on_site` also stamps the alert's
    first on-site time. Returns the outcome's id; closing the alert is `resolve`."""
    row = await (
        await conn.execute(
            "INSERT INTO alert_outcomes (alert_id, outcome, at, note, recorded_by) VALUES (%s, %s, %s, %s, %s) "
            "RETURNING id",
            (alert_id, what, when, text, actor.by),
        )
    ).fetchone()
    assert row is not None
    await note(conn, alert_id, actor, "outcome", f"outcome: {what}")
    if what == "on_site":
        await conn.execute("UPDATE alerts SET on_site_at = coalesce(on_site_at, %s) WHERE id = %s", (when, alert_id))
    return int(row[0])


async def raise_internal(
    conn: AsyncConnection[Any],
    patient_id: UUID,
    rule: str,
    message: str,
    explanation: Mapping[str, JSONValue],
    now: float,
) -> tuple[int, Event]:
    """Open, or repeat, the platform's own red alert `rule` for the patient (worklist only, closed by a person).

    Each call is a new input, so an open alert counts a repeat (its input time is kept strictly increasing, so
    two calls at the same clock reading still count twice). Two processes raising it at once meet at the
    partial unique index: the one that loses the race reads the winner's alert and repeats it.
    """
    for _attempt in range(2):
        current = await _lock_rule(conn, patient_id, rule)
        newest = current.last_input_at if current is not None and current.last_input_at is not None else None
        verdict = Verdict(
            rule=rule, alert_class="data_quality", triggered=True, judged=True, severity=Level.RED, at=now,
            message=message, auto_resolve=False, explanation=explanation,
            last_input_at=now if newest is None else max(now, newest + 1e-6),
        )  # fmt: skip
        (t,) = lifecycle.step(current, verdict)
        if t.event is Event.TRIGGERED and t.alert is not None:
            alert_id = await _insert(conn, patient_id, t, t.alert)
            if alert_id is None:
                continue  # a concurrent transaction opened it first: repeat that one
            await record(conn, patient_id, alert_id, t)
            return alert_id, t.event
        repeated = await apply(conn, patient_id, t)
        assert repeated is not None  # the row is locked
        return repeated, t.event
    raise RuntimeError(f"could not open or repeat {rule} for a patient")


async def _lock_rule(conn: AsyncConnection[Any], patient_id: UUID, rule: str) -> OpenAlert | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {OPEN_COLUMNS} FROM alerts WHERE patient_id = %s AND rule = %s "  # noqa: S608
            "AND resolved_at IS NULL FOR UPDATE",
            (patient_id, rule),
        )
        row = await cur.fetchone()
    return None if row is None else open_alert(row)
