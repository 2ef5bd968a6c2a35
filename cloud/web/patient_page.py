"""What the patient page shows, put together from the patient overview (cloud/worklist/patient_view.py): the
words for traffic lights, states, NEWS2 bands and lifecycles, the limits as ranges people read, and each
chart's data addresses for the four periods (raw readings for 24 hours, the series API's buckets beyond)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Request
from fastapi.responses import Response
from psycopg import AsyncConnection

from alerts.news2.chart import Param
from alerts.news2.window import METRIC_KEYS
from alerts.thresholds import Limits
from alerts.wording import Reader
from cloud.access.policy import PatientGrant
from cloud.access.roles import Role
from cloud.ingest.manual import FIELDS
from cloud.query.series import Bucket
from cloud.web.formats import measure, number, unit_symbol
from cloud.web.patient_forms import ACVPU, NUMBERS, SCORE_UNIT
from cloud.web.templating import gettext_of, language_of, pages_of, render
from cloud.worklist.patient_view import LatestValue, PatientOverview, overview
from common.i18n import N_
from device_profiles.metrics import load_catalogue

DEFAULT_RANGE: Final = "24h"
# Each period of the charts: how far back, and the bucket beyond raw readings (None: every reading).
RANGES: Final[dict[str, tuple[timedelta, Bucket | None]]] = {
    "24h": (timedelta(hours=24), None),
    "7d": (timedelta(days=7), Bucket.H1),
    "30d": (timedelta(days=30), Bucket.H6),
    "90d": (timedelta(days=90), Bucket.DAY),
}
RANGE_NAMES: Final = {"24h": N_("24 hours"), "7d": N_("7 days"), "30d": N_("30 days"), "90d": N_("90 days")}
RAW_LIMIT: Final = 10_000
LIGHT_NAMES: Final = {"green": N_("Green"), "yellow": N_("Yellow"), "red": N_("Red")}
STATE_NAMES: Final = {
    "consciousness": {"A": N_("Alert and awake"), "C": N_("New confusion"), "V": N_("Responds to voice"),
                      "P": N_("Responds to pain"), "U": N_("Unresponsive")},
    "oxygen.supplemental": {"air": N_("Room air"), "oxygen": N_("Supplemental oxygen")},
}  # fmt: skip
BAND_NAMES: Final = {
    "low": N_("Low clinical risk"),
    "low-medium": N_("Low–medium clinical risk (one parameter scores 3)"),
    "medium": N_("Medium clinical risk"),
    "high": N_("High clinical risk"),
}
LIFECYCLE_NAMES: Final = {
    "referral": N_("Referred"), "trial": N_("Trial period"), "active": N_("Followed up"), "paused": N_("Paused"),
    "discharged": N_("Discharged"), "deceased": N_("Deceased"),
}  # fmt: skip
SUPPRESSION_NAMES: Final = {
    "paused": N_("alerts paused"), "silenced": N_("rule silenced"), "inhibited": N_("the home's gateway was down"),
    "snoozed": N_("snoozed"),
}  # fmt: skip
EVENT_NAMES: Final = {
    "triggered": N_("Alert opened"), "repeated": N_("Alert repeated"), "severity_changed": N_("Alert raised"),
    "suppressed": N_("Not notified"),
}  # fmt: skip
DONE: Final = {
    "vitals": N_("The measurements are saved."),
    "paused": N_("Alerts other than safety alarms are paused."),
    "resumed": N_("All alerts are running again."),
    "approved": N_("The personal limits are approved and in force."),
    "rejected": N_("The proposal is rejected."),
}
CHARTED_KINDS: Final = frozenset({"vital", "ordinal"})
# Who may enter vitals at a visit (as `POST /api/v1/patients/{id}/vitals`): others do not see the form.
ENTERING: Final = (Role.NURSE, Role.TEAM_LEAD)


@dataclass(frozen=True)
class Chart:
    """One metric's chart: its name and unit, the limits drawn as bands, and per period its data address."""

    metric: str
    unit: str
    limits: Limits | None
    ranges: dict[str, dict[str, Any]]


def chosen_range(typed: str | None) -> str:
    """The period the charts open with (`?range=`): one of `RANGES`, else 24 hours."""
    return typed if typed in RANGES else DEFAULT_RANGE


def _addresses(patient_id: UUID, metric: str, now: datetime) -> dict[str, dict[str, Any]]:
    end = now + timedelta(minutes=1)
    found = {}
    for key, (span, bucket) in RANGES.items():
        start = end - span
        query: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
        path = f"/api/v1/patients/{patient_id}/series/{metric}"
        if bucket is None:
            url = f"{path}?{urlencode(query | {'limit': RAW_LIMIT})}"
        else:
            url = f"{path}/buckets?{urlencode(query | {'bucket': bucket.value})}"
        found[key] = {"url": url, "start": int(start.timestamp()), "end": int(end.timestamp()),
                      "kind": "raw" if bucket is None else "buckets"}  # fmt: skip
    return found


def charts(patient_id: UUID, latest: list[LatestValue], now: datetime) -> list[Chart]:
    """A chart for each measured quantity with a reading (labelled states have none)."""
    catalogue = load_catalogue()
    found = []
    for value in latest:
        metric = catalogue[value.metric]
        if metric.kind in CHARTED_KINDS and metric.levels is None:
            addresses = _addresses(patient_id, value.metric, now)
            found.append(Chart(value.metric, unit_symbol(metric.unit), value.bands, addresses))
    return found


def span(low: float | None, high: float | None, unit: str, language: str, _: Callable[[str], str]) -> str:
    """A range as people read it: `36,1–37,8 °C`, `from 96 %`, `up to 24 /min` ("" when open on both sides)."""
    if low is not None and high is not None:
        return f"{number(low, language)}–{measure(high, unit, language)}"
    if low is not None:
        return _("from {low}").format(low=measure(low, unit, language))
    if high is not None:
        return _("up to {high}").format(high=measure(high, unit, language))
    return ""


def shown_value(value: LatestValue, language: str, _: Callable[[str], str]) -> str:
    """The newest value in words: a measurement with its unit, or a labelled state's name."""
    reading = value.reading
    if reading.label is not None:
        name = STATE_NAMES.get(value.metric, {}).get(reading.label)
        return _(name) if name else reading.label
    return measure(reading.value, reading.unit, language)


def news2_value(param: str, used: Any, language: str, _: Callable[[str], str]) -> str:
    """A value NEWS2 scored, as people read it."""
    metric = METRIC_KEYS[Param(param)]
    if param == Param.OXYGEN:
        level = "oxygen" if used else "air"
        return _(STATE_NAMES[metric][level])
    if param == Param.CONSCIOUSNESS:
        return _(STATE_NAMES[metric].get(str(used), str(used)))
    return measure(used, load_catalogue()[metric].unit, language) if isinstance(used, int | float) else str(used)


def _helpers(language: str, _: Callable[[str], str]) -> dict[str, Any]:
    return {
        "span": lambda low, high, unit: span(low, high, unit, language, _),
        "shown_value": lambda value: shown_value(value, language, _),
        "news2_value": lambda param, used: news2_value(param, used, language, _),
        "news2_metric": lambda param: METRIC_KEYS[Param(param)],
        "unit_of": lambda metric: load_catalogue()[metric].unit,
        "visit_fields": [(name, FIELDS[name], _unit(FIELDS[name])) for name in NUMBERS],
    }


def _unit(metric: str) -> str:
    unit = load_catalogue()[metric].unit
    return "" if unit == SCORE_UNIT else unit_symbol(unit)


def page_reader(request: Request) -> Reader:
    """Who reads the page: its language and the catalogue its templates use, for texts the services word."""
    language = language_of(request)
    return Reader(language, pages_of(request).translations(language))


@dataclass(frozen=True)
class Refused:
    """A refused form, shown again: which form, a message per field at fault (in the reader's words) and what
    was typed, answered with `status`."""

    form: str
    errors: dict[str, str]
    typed: dict[str, str]
    status: int = 422


async def page(
    request: Request, conn: AsyncConnection[Any], grant: PatientGrant, refused: Refused | None = None
) -> Response:
    """The patient page, with a refused form's messages and values when there is one."""
    reader = page_reader(request)
    found: PatientOverview = await overview(conn, grant.principal.municipality_id, grant.patient_id, reader)
    now = datetime.now(UTC)
    shown = refused or Refused("", {}, {}, 200)
    names = {"light": LIGHT_NAMES, "band": BAND_NAMES, "lifecycle": LIFECYCLE_NAMES, "suppression": SUPPRESSION_NAMES,
             "event": EVENT_NAMES, "acvpu": STATE_NAMES["consciousness"]}  # fmt: skip
    values = {
        "patient_id": grant.patient_id, "o": found, "rules_by_id": found.protocol.by_id(), "names": names,
        "charts": charts(grant.patient_id, found.latest, now), "range": chosen_range(request.query_params.get("range")),
        "ranges": RANGE_NAMES, "acvpu": ACVPU, "params": [param.value for param in Param],
        "done": DONE.get(request.query_params.get("done", ""), ""), "form": shown.form, "errors": shown.errors,
        "typed": shown.typed, "now": now, "may_enter": grant.principal.role in ENTERING,
        **_helpers(reader.language, gettext_of(request)),
    }  # fmt: skip
    return render(request, "patient.html", values, status=shown.status)
