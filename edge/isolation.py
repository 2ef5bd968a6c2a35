"""Telling "the cloud is unavailable" from "the cloud refuses this batch", and isolating a refused reading.

The uplink used to re-send the same batch after any failure, so one reading the cloud could not take (a 500
from a validation bug, say) held back everything queued with and behind it, alarms included. Now every
answer is classified:

- *unavailable*: no answer (connection refused, timeout, reset), 502/503/504 (a proxy or the cloud saying
  "not now"; the cloud answers 503 when its database is down), 408 and 429. Nothing about the batch is
  learned: the same batch is retried after a back-off and no reading is ever suspected.
- *credential refused*: 401/403. The gateway's problem, not the batch's: retried after a back-off.
- *refused*: any other answer but 200 (another 4xx, a 500). The batch is split in halves, each sent on its
  own, halves that succeed are committed, and a refused half is split again until the refused reading stands
  alone (at most log2(batch) levels).

A refusal alone never condemns a reading, because a cloud that fails every request (a broken deploy, a proxy
that answers 500 during an outage) refuses every batch too. A reading sent alone and refused counts a
*strike* only when the cloud committed another batch of this gateway since this reading was last refused:
that is the proof that the refusal is about this reading and not about the cloud. After `strikes` strikes
the reading is quarantined locally (edge/quarantine.py). A heartbeat that succeeds is not taken as proof,
because a cloud whose ingest alone is broken would then quarantine every reading. A run of refusals with no
commit in between, longer than one path down the bisection, means the cloud refuses everything: the uplink
then backs off as it does when the cloud is unavailable, instead of hammering it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edge.outbox import Pending


class Verdict(enum.Enum):
    """What an answer to an ingest request says about the batch."""

    COMMITTED = "committed"
    UNAVAILABLE = "unavailable"
    CREDENTIAL = "credential"
    TOO_LARGE = "too_large"
    REFUSED = "refused"


UNAVAILABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
CREDENTIAL_STATUSES = frozenset({401, 403})


def classify(status: int | None) -> Verdict:
    """The verdict for an HTTP status (None: no answer at all)."""
    if status is None or status in UNAVAILABLE_STATUSES:
        return Verdict.UNAVAILABLE
    if status == 200:
        return Verdict.COMMITTED
    if status in CREDENTIAL_STATUSES:
        return Verdict.CREDENTIAL
    if status == 413:
        return Verdict.TOO_LARGE
    return Verdict.REFUSED


@dataclass(slots=True)
class Group:
    """Readings of a refused batch, sent together until the cloud commits them or refuses them again."""

    seqs: tuple[int, ...]
    alarm: bool
    commits_seen: int  # the uplink's commit count when this group was last refused
    not_before: float = 0.0
    attempts: int = 0  # refusals of this reading alone
    strikes: int = 0  # refusals alone with another commit since the previous one

    def sort_key(self) -> tuple[bool, int]:
        """Alarm groups first, then the lowest sequence (depth first through the bisection)."""
        return (not self.alarm, self.seqs[0])


@dataclass(slots=True)
class Isolation:
    """The refused groups an uplink holds back from ordinary batches, and the evidence against each."""

    strikes: int
    batch_max: int
    groups: list[Group] = field(default_factory=list)
    commits: int = 0  # batches the cloud committed since the agent started
    streak: int = 0  # refusals since the last commit

    def held(self) -> set[int]:
        """Sequences in refused groups: ordinary batches leave them out."""
        return {seq for group in self.groups for seq in group.seqs}

    def next_group(self, now: float) -> Group | None:
        """The group to send now (alarm groups first), or None when none is due."""
        due = [group for group in self.groups if group.not_before <= now]
        return min(due, key=Group.sort_key) if due else None

    def next_due(self) -> float | None:
        """When the earliest waiting group is due (monotonic seconds), None when there is none."""
        return min((group.not_before for group in self.groups), default=None)

    def refusing_everything(self) -> bool:
        """More refusals in a row than one path down the bisection: the cloud, not one reading, is at fault."""
        return self.streak > math.ceil(math.log2(max(2, self.batch_max))) + 1

    def committed(self, group: Group | None) -> None:
        """The cloud committed a batch (the group's, when it was one)."""
        self.commits += 1
        self.streak = 0
        if group is not None:
            self.drop(group)

    def drop(self, group: Group) -> None:
        """Forget a group (committed, or its readings left the outbox otherwise)."""
        self.groups = [g for g in self.groups if g is not group]

    def refused(self, batch: Sequence[Pending], group: Group | None, now: float,
                backoff: Callable[[int], float]) -> Group | None:  # fmt: skip
        """The cloud refused `batch` (the readings of `group`, or a fresh batch when None). Splits it, or, for
        a reading alone, counts the refusal; returns the group of a reading that has earned quarantine."""
        # A lone reading's retries are paced by its own back-off and say nothing new about the cloud.
        if len(batch) > 1 or group is None or group.attempts == 0:
            self.streak += 1
        if group is not None:
            self.drop(group)
        if len(batch) > 1:
            self.groups += [Group(tuple(p.seq for p in part), any(p.alarm for p in part), self.commits)
                            for part in split(batch)]  # fmt: skip
            return None
        single = group or Group((batch[0].seq,), batch[0].alarm, self.commits)
        single.attempts += 1
        if self.commits > single.commits_seen:
            single.strikes += 1
        single.commits_seen = self.commits
        if single.strikes >= self.strikes:
            return single
        single.not_before = now + backoff(single.attempts)
        self.groups.append(single)
        return None

    def split_for_size(self, batch: Sequence[Pending], group: Group | None) -> None:
        """The cloud found `batch` too large: send its halves separately (no evidence against any reading)."""
        if group is not None:
            self.drop(group)
            self.groups += [Group(tuple(p.seq for p in part), any(p.alarm for p in part), group.commits_seen)
                            for part in split(batch)]  # fmt: skip


def split(batch: Sequence[Pending]) -> list[list[Pending]]:
    """Two parts: alarm-class and routine readings when the batch mixes them (alarms never wait behind a
    routine reading's isolation), otherwise the first and second half in sequence order."""
    alarms = [p for p in batch if p.alarm]
    routine = [p for p in batch if not p.alarm]
    if alarms and routine:
        return [alarms, routine]
    ordered = sorted(batch, key=lambda p: p.seq)
    middle = len(ordered) // 2
    return [ordered[:middle], ordered[middle:]]
