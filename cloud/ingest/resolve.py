"""Where each reading of a batch goes: its device and patient at the reading's own moment, or why it cannot go.

The look-ups are by the addresses in the batches of a group, so they need nothing from each other and are sent
together with the rest of the group's first round trip (`query`, then `receive` with its rows): one statement for
every batch of the group, its rows handed to each batch's `Resolver` by municipality. Homes'
residents and supervision consents are fetched afterwards, once for the group, only when a batch has such devices.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import AsyncConnection

from cloud.db.batch import Query
from cloud.ingest.validate import Reason, Rejection, ValidReading, as_sent
from cloud.registry import homes as registry_homes
from cloud.registry.consent import ConsentBook, load_book, supervision_profiles

# The group's devices with their registrations (`registration` true: the gateway and period) and their
# assignments (false: patient, period and home) in one statement: one statement fewer per group, and the
# devices are looked up once. Every row names the device's municipality, whose batches it belongs to.
# Each table is read per device in a LATERAL subquery (LIMIT 1 on the unique address; OFFSET 0 keeps the others
# from being merged into a join), so that the plan ingest makes once for every length of the arrays
# (cloud.db.batch.GENERIC_PLANS) probes the indexes per device; as joins, such a plan scans whole tables.
_DEVICES_SQL = (
    "WITH d AS (SELECT d.id, d.address, d.profile_id, d.municipality_id FROM unnest(%b::uuid[], %b::text[]) "
    "AS w(municipality_id, address) CROSS JOIN LATERAL (SELECT d.id, d.address, d.profile_id, d.municipality_id "
    "FROM devices d WHERE d.municipality_id = w.municipality_id AND d.address = w.address LIMIT 1) AS d) "
    "SELECT d.municipality_id, true AS registration, d.address, d.id AS device_id, r.gateway_id AS other, "
    "lower(r.valid) AS lower, upper(r.valid) AS upper, d.profile_id, NULL::uuid AS home_id "
    "FROM d LEFT JOIN LATERAL (SELECT r.gateway_id, r.valid FROM device_registrations r WHERE r.device_id = d.id "
    "OFFSET 0) AS r ON true "
    "UNION ALL SELECT d.municipality_id, false, NULL, d.id, a.patient_id, lower(a.valid), upper(a.valid), NULL, "
    "a.home_id FROM d CROSS JOIN LATERAL (SELECT a.patient_id, a.valid, a.home_id FROM device_assignments a "
    "WHERE a.device_id = d.id OFFSET 0) AS a"
)


def query(resolvers: Sequence[Resolver], addresses: Sequence[Iterable[str]]) -> Query:
    """The registration and assignment look-up of each resolver's addresses (cloud/db/batch.py)."""
    wanted = sorted({(r.municipality_id, a) for r, mine in zip(resolvers, addresses, strict=True) for a in mine})
    return Query(_DEVICES_SQL, ([m for m, _ in wanted], [a for _, a in wanted]))


async def receive(
    conn: AsyncConnection[Any], rows: Iterable[dict[str, Any]], resolvers: Sequence[Resolver],
    addresses: Sequence[Iterable[str]],
) -> None:  # fmt: skip
    """Hand each resolver the rows `query` found for its addresses (as given to `query`), so that a group's cost
    grows with its devices, not their square; fetch the residents of the homes and the consents of the
    supervision sensors found, once for all of them."""
    registrations: dict[tuple[UUID, str], list[dict[str, Any]]] = {}
    assignments: dict[UUID, list[dict[str, Any]]] = {}
    for row in rows:
        if row["registration"]:
            registrations.setdefault((row["municipality_id"], row["address"]), []).append(row)
        else:
            assignments.setdefault(row["device_id"], []).append(row)
    supervision = supervision_profiles()
    for resolver, mine in zip(resolvers, addresses, strict=True):
        found = [row for address in mine for row in registrations.get((resolver.municipality_id, address), ())]
        devices = {row["device_id"] for row in found}
        resolver.take([*found, *(row for device in devices for row in assignments.get(device, ()))], supervision)
    homes = sorted({a[1] for r in resolvers for rows in r.assignments.values() for a in rows if a[1] is not None})
    residents = await registry_homes.residents(conn, homes) if homes else {}
    watching = {device for r in resolvers for device in r.supervision}
    consents = await load_book(conn, watching) if watching else ConsentBook({})
    for resolver in resolvers:
        resolver.residents, resolver.consents = residents, consents


class Target(NamedTuple):
    """Where a reading goes: its device and patient (None for a home's shared sensor), with the UUIDs' 16 raw
    bytes for the binary COPY and small per-batch integers for hashing (a UUID hashes through a Python-level
    `__hash__`; a batch of 1,000 readings would call it thousands of times)."""

    number: int
    device_key: int
    device_id: UUID
    patient_id: UUID | None
    device_raw: bytes
    patient_raw: bytes | None


@dataclass(frozen=True)
class _Registration:
    device_id: UUID
    gateway_id: UUID
    lower: datetime | None
    upper: datetime | None


def _within(moment: datetime, lower: datetime | None, upper: datetime | None) -> bool:
    return (lower is None or lower <= moment) and (upper is None or moment < upper)


def _overlap(lo: datetime | None, hi: datetime | None, lower: datetime | None, upper: datetime | None) -> bool:
    """Whether the half-open periods [lo, hi) and [lower, upper) share a moment (None: unbounded)."""
    return (hi is None or lower is None or lower < hi) and (upper is None or lo is None or lo < upper)


class Resolver:
    """Device, patient and consent look-up for one batch of one gateway."""

    def __init__(self, gateway_id: UUID, municipality_id: UUID) -> None:
        self.gateway_id = gateway_id
        self.municipality_id = municipality_id
        self.registrations: dict[str, list[_Registration]] = {}
        # device -> (patient or None, home or None, lower, upper): a shared sensor is assigned to a home
        self.assignments: dict[UUID, list[tuple[UUID | None, UUID | None, datetime | None, datetime | None]]] = {}
        self.supervision: set[UUID] = set()
        self.residents: dict[UUID, list[UUID]] = {}
        self.consents = ConsentBook({})
        self.shared: dict[int, list[UUID]] = {}  # seq of a home sensor's reading -> residents to evaluate
        self.targets: list[Target] = []
        self.device_keys: dict[UUID, int] = {}
        self._interned: dict[tuple[UUID, UUID | None], Target] = {}
        # address -> (lower, upper, target): the answer for every moment in [lower, upper), so most readings
        # of a batch (a few devices, many readings) cost one dictionary look-up and two comparisons.
        self._memo: dict[str, tuple[datetime | None, datetime | None, Target]] = {}

    def take(self, rows: Iterable[dict[str, Any]], supervision: Container[object]) -> None:
        """Keep the registrations and assignments of the look-up's rows of this resolver's municipality."""
        for row in rows:
            device_id, other, lower, upper = row["device_id"], row["other"], row["lower"], row["upper"]
            if not row["registration"]:  # an assignment: `other` is its patient
                self.assignments.setdefault(device_id, []).append((other, row["home_id"], lower, upper))
                continue
            address = row["address"]
            self.registrations.setdefault(address, [])
            if row["profile_id"] in supervision:
                self.supervision.add(device_id)
            if other is not None:  # the registration's gateway
                self.registrations[address].append(_Registration(device_id, other, lower, upper))

    def resolve(self, reading: ValidReading) -> Target | Rejection:
        """Where a reading at its time goes, or the reason it cannot be stored."""
        t = reading.t
        hit = self._memo.get(reading.device)
        if hit is not None and (hit[0] is None or hit[0] <= t) and (hit[1] is None or t < hit[1]):
            return hit[2]
        registrations = self.registrations.get(reading.device)
        if registrations is None:
            return _reject(reading, "unknown_device", "no device with this address is registered in the municipality")
        registration = None
        foreign = False
        for r in registrations:
            if _within(t, r.lower, r.upper):
                if r.gateway_id == self.gateway_id:
                    registration = r
                    break
                foreign = True
        if registration is None:
            if foreign:
                return _reject(reading, "foreign_device", "the device is registered to another gateway at that time")
            return _reject(reading, "unknown_device", "the device is not registered to this gateway at that time")
        device_id = registration.device_id
        assignment = next((a for a in self.assignments.get(device_id, ()) if _within(t, a[2], a[3])), None)
        if assignment is None:
            return _reject(reading, "unassigned", "the device is assigned to no patient or home at that time")
        patient_id, home_id, lower, upper = assignment
        if device_id in self.supervision or patient_id is None:
            people = [patient_id] if patient_id is not None else self.residents.get(home_id or UUID(int=0), [])
            if device_id in self.supervision and not self.consents.covers(device_id, people, t):
                return _reject(
                    reading, "no_consent", "a supervision sensor needs a valid consent or assessment for everyone it "
                    "watches"
                )  # fmt: skip
            if patient_id is None:
                self.shared[reading.seq] = people
            return self._target(device_id, patient_id)
        target = self._target(device_id, patient_id)
        self._remember(reading.device, registration, lower, upper, target)
        return target

    def shared_touched(self, stored: Iterable[ValidReading]) -> set[tuple[UUID, str]]:
        """(resident, metric) to evaluate for stored readings of shared sensors."""
        return {(person, r.metric) for r in stored if r.seq in self.shared for person in self.shared[r.seq]}

    def _target(self, device_id: UUID, patient_id: UUID | None) -> Target:
        target = self._interned.get((device_id, patient_id))
        if target is None:
            key = self.device_keys.setdefault(device_id, len(self.device_keys))
            target = Target(len(self.targets), key, device_id, patient_id, device_id.bytes,
                            patient_id.bytes if patient_id else None)  # fmt: skip
            self.targets.append(target)
            self._interned[(device_id, patient_id)] = target
        return target

    def _remember(
        self, address: str, chosen: _Registration, lower: datetime | None, upper: datetime | None, target: Target
    ) -> None:
        """Memoize a plain patient device's answer over the intersection of its registration and assignment
        periods, unless another registration of the address overlaps it (then the answer depends on order)."""
        lo = chosen.lower if lower is None else lower if chosen.lower is None else max(lower, chosen.lower)
        hi = chosen.upper if upper is None else upper if chosen.upper is None else min(upper, chosen.upper)
        for other in self.registrations[address]:
            if other is not chosen and _overlap(lo, hi, other.lower, other.upper):
                return
        self._memo[address] = (lo, hi, target)


def _reject(reading: ValidReading, reason: Reason, detail: str) -> Rejection:
    return Rejection(reading.seq, reading.device, reason, detail, as_sent(reading), reading.received_at)
