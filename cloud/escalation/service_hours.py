"""A municipality's service settings (hours, rota, out-of-hours service): stored, read, and used to route.

The document is validated (`alerts.escalation.service.parse_service`) before it is stored; holiday dates come
from the `holidays` package (Norway, Sundays not counted: the weekly hours say what Sundays are) and are handed
to the pure core as data. Without a stored document alerts route as before: the worklist at once.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any
from uuid import UUID

import holidays
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.escalation.hours import local_day
from alerts.escalation.routing import Route, rota_role, route
from alerts.escalation.service import ServiceSettings, on_duty, parse_service


@cache
def holiday_dates(year: int) -> frozenset[date]:
    """Norway's public holidays of a year."""
    return frozenset(holidays.country_holidays("NO", years=year, include_sundays=False))


def holidays_around(t: float) -> frozenset[date]:
    """The public holidays of t's year and the next (enough for next_opening's horizon)."""
    year = local_day(t).year
    return holiday_dates(year - 1) | holiday_dates(year) | holiday_dates(year + 1) | holiday_dates(year + 2)


async def set_service(conn: AsyncConnection[Any], municipality_id: UUID, document: Any, by: UUID) -> ServiceSettings:
    """Validate and store the municipality's service settings (PolicyError says what is wrong; nothing is
    written then)."""
    parsed = parse_service(document)
    await conn.execute(
        "INSERT INTO service_settings (municipality_id, document, updated_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (municipality_id) DO UPDATE SET document = EXCLUDED.document, "
        "updated_by = EXCLUDED.updated_by, updated_at = now()",
        (municipality_id, Jsonb(parsed.model_dump(mode="json")), by),
    )
    return parsed


async def reset_service(conn: AsyncConnection[Any], municipality_id: UUID) -> bool:
    """Drop the municipality's service settings (alerts route to the worklist at once); False if none."""
    result = await conn.execute("DELETE FROM service_settings WHERE municipality_id = %s", (municipality_id,))
    return result.rowcount == 1


async def service_in_effect(conn: AsyncConnection[Any], municipality_id: UUID) -> ServiceSettings | None:
    """The municipality's stored service settings, or None."""
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute("SELECT document FROM service_settings WHERE municipality_id = %s", (municipality_id,))
    ).fetchone()
    return None if row is None else parse_service(row["document"], f"municipality {municipality_id}")


async def route_at(
    conn: AsyncConnection[Any], municipality_id: UUID, *, event_class: str, severity: str, detector: str | None,
    team: str | None, t: float,
) -> Route | None:  # fmt: skip
    """The route of an alert of this class at t (None: the municipality has no service settings)."""
    settings = await service_in_effect(conn, municipality_id)
    if settings is None:
        return None
    return route(settings, holidays_around(t), event_class=event_class, severity=severity, detector=detector,
                 team=team, t=t)  # fmt: skip


async def on_duty_now(conn: AsyncConnection[Any], patient_id: UUID, target: str, t: float) -> list[str]:
    """The staff the rota puts on duty at t for a step's target and the patient's care team: read when the
    step runs, so a rota changed after the alert opened counts (empty without a rota or a team)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT p.municipality_id, t.name AS team, s.document FROM patients p "
        "JOIN service_settings s ON s.municipality_id = p.municipality_id "
        "LEFT JOIN care_teams t ON t.id = p.care_team_id WHERE p.id = %s",
        (patient_id,),
    )
    row = await cur.fetchone()
    if row is None or row["team"] is None:
        return []
    settings = parse_service(row["document"], f"municipality {row['municipality_id']}")
    return list(on_duty(settings, row["team"], rota_role(target), t))
