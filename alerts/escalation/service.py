"""A municipality's service settings as data: team hours, the weekly rota and the out-of-hours service.

The rota is deliberately small: weekly entries naming the staff on duty in a role for a team on a weekday
between two times. It is resolved when a step runs (`on_duty`), never when the policy was written. A document
is refused at save when two entries of one team and role overlap, or when a required role is uncovered during
the team's weekly service hours (the message names the uncovered periods).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from alerts.escalation.hours import NAME, OSLO, WEEKDAYS, Interval, TeamHours, Weekday, _Frozen
from alerts.escalation.load import PolicyError, _where

OutOfHours = Literal["legevakt", "response_centre"]


class RotaEntry(_Frozen):
    """`staff` are on duty as `role` for `team` on `weekday` from `starts` to `ends` (00:00: midnight)."""

    team: Annotated[str, Field(min_length=1, max_length=120)]
    role: Annotated[str, Field(pattern=NAME)]
    weekday: Weekday
    starts: time
    ends: time
    staff: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=200)], ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> RotaEntry:
        Interval(opens=self.starts, closes=self.ends)
        return self

    def end(self) -> time:
        """The end, with midnight as the end of the day."""
        return time.max if self.ends == time(0) else self.ends


def _hhmm(at: time) -> str:
    return "24:00" if at == time.max else f"{at:%H:%M}"


def uncovered(hours: TeamHours, rota: tuple[RotaEntry, ...], role: str) -> list[str]:
    """The weekly service periods of a team when nobody is on duty in `role` ("monday 08:00-09:00")."""
    gaps = []
    for day in WEEKDAYS:
        entries = sorted((e for e in rota if e.team == hours.team and e.role == role and e.weekday == day),
                         key=lambda e: e.starts)  # fmt: skip
        for interval in hours.weekly.get(day, ()):
            at, end = interval.opens, interval.end()
            for entry in entries:
                if entry.end() <= at or entry.starts >= end:
                    continue
                if entry.starts > at:
                    gaps.append(f"{day} {_hhmm(at)}-{_hhmm(entry.starts)}")
                at = max(at, entry.end())
            if at < end:
                gaps.append(f"{day} {_hhmm(at)}-{_hhmm(end)}")
    return gaps


class ServiceSettings(_Frozen):
    """A municipality's service hours per team, its rota, the roles that must be covered during service
    hours, and who takes clinical red alerts outside them."""

    teams: Annotated[tuple[TeamHours, ...], Field(min_length=1)]
    rota: tuple[RotaEntry, ...] = ()
    required_roles: tuple[Annotated[str, Field(pattern=NAME)], ...] = ()
    out_of_hours: OutOfHours = "legevakt"

    @model_validator(mode="after")
    def _valid(self) -> ServiceSettings:
        names = [t.team for t in self.teams]
        if len(set(names)) != len(names):
            raise ValueError("team names must be unique")
        for entry in self.rota:
            if entry.team not in names:
                raise ValueError(f"rota entry for unknown team {entry.team!r}")
        self._no_overlapping_entries()
        for hours in self.teams:
            for role in self.required_roles:
                if gaps := uncovered(hours, self.rota, role):
                    raise ValueError(f"team {hours.team!r}: nobody is {role} on {', '.join(gaps)}")
        return self

    def _no_overlapping_entries(self) -> None:
        for i, a in enumerate(self.rota):
            for b in self.rota[i + 1 :]:
                same = (a.team, a.role, a.weekday) == (b.team, b.role, b.weekday)
                if same and a.starts < b.end() and b.starts < a.end():
                    raise ValueError(
                        f"rota entries overlap: {a.team!r} {a.role} on {a.weekday} "
                        f"{_hhmm(a.starts)}-{_hhmm(a.end())} and {_hhmm(b.starts)}-{_hhmm(b.end())}"
                    )

    def hours_for(self, team: str | None) -> TeamHours:
        """The team's hours, or the first entry (the municipality's) when the team has none of its own."""
        return next((t for t in self.teams if t.team == team), self.teams[0])


def on_duty(settings: ServiceSettings, team: str, role: str, t: float) -> tuple[str, ...]:
    """The staff on duty as `role` for `team` at instant t (read from the rota when a step runs)."""
    local = datetime.fromtimestamp(t, OSLO)
    day, now = WEEKDAYS[local.weekday()], local.time()
    return tuple(
        person
        for e in settings.rota
        if e.team == team and e.role == role and e.weekday == day and e.starts <= now < e.end()
        for person in e.staff
    )


def parse_service(document: Any, source: str = "service") -> ServiceSettings:
    """Validate a parsed service document; PolicyError names the failing field."""
    try:
        return ServiceSettings.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        raise PolicyError(f"{source}: {where}: {message}" if where else f"{source}: {message}", where, message) from exc
