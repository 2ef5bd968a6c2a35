"""The worklist page (`/`): the open alerts of my teams, grouped per patient, most urgent first.

It reads through the same service and access policy as `GET /api/v1/worklist` (`patient_search`, one audit
record per view, the caller's scope as the filter). The filter form is a plain GET form that htmx enhances:
with htmx the page asks for the list alone (`HX-Request`) and swaps it in; worklist.js refreshes the list
the same way when the live event stream reports a change, and announces new alerts to screen readers once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from cloud.access import directory
from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.requests import Conn
from cloud.web.formats import measure, metric_name
from cloud.web.navigation import PAGES_TAG
from cloud.web.sparkline import sparkline
from cloud.web.templating import gettext_of, language_of, pages_of, reader_of_page, render
from cloud.web.wording import AlertWording, alert_wording
from cloud.worklist import triage
from cloud.worklist.models import PatientGroup, WorklistAlert
from cloud.worklist.recent import Recent, recent_readings
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
CHOICES: dict[str, dict[str, str]] = {
    "severity": {"red": N_("Red"), "yellow": N_("Yellow")},
    "event_class": {
        "alarm": N_("Safety alarm"),
        "clinical": N_("Clinical"),
        "liveness": N_("Equipment"),
        "data_quality": N_("Data quality"),
        "internal": N_("Tryggheim itself"),
    },
    "state": {"triggered": N_("Not acknowledged"), "acknowledged": N_("Acknowledged")},
}
NOT_A_CHOICE = N_("Choose one of the listed values.")


@dataclass
class AlertView:
    """One alert as a row shows it."""

    alert: WorklistAlert
    wording: AlertWording
    spark: Markup
    announce: str


@dataclass
class PatientView:
    """One patient's group of rows."""

    group: PatientGroup
    alerts: list[AlertView] = field(default_factory=list)


def _spark(recent: Recent | None, alert: WorklistAlert, request: Request) -> Markup:
    if recent is None or not recent.points:
        return Markup("")
    language = language_of(request)
    values = [value for _t, value in recent.points]
    shown = ", ".join(measure(v, recent.unit, language) for v in values)
    _ = gettext_of(request)
    label = _("Last readings of {metric}: {values}").format(metric=metric_name(recent.metric, language), values=shown)
    inner = alert.explanation.get("explanation")
    limits = (inner.get("thresholds") or {}).get("limits") if isinstance(inner, dict) else None
    band = (limits.get("green_low"), limits.get("green_high")) if isinstance(limits, dict) else (None, None)
    return sparkline(values, label, band)


def _views(request: Request, groups: list[PatientGroup], recent: dict[int, Recent]) -> list[PatientView]:
    language = language_of(request)
    translations = pages_of(request).translations(language)
    _ = translations.gettext
    views = []
    for group in groups:
        view = PatientView(group)
        for alert in group.alerts:
            wording = alert_wording(alert, translations, language)
            severity_name = CHOICES["severity"].get(alert.severity, alert.severity)
            severity = _(severity_name)
            announce = _("New alert, {severity}: {title}. {patient}").format(
                severity=severity, title=alert.title, patient=group.display_name
            )
            view.alerts.append(AlertView(alert, wording, _spark(recent.get(alert.id), alert, request), announce))
        views.append(view)
    return views


def _chosen(params: dict[str, str], teams: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The filter values that are valid choices, and a message per field that is not."""
    valid: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in params.items():
        options = teams if name == "team" else CHOICES[name]
        if value and value in options:
            valid[name] = value
        elif value:
            errors[name] = NOT_A_CHOICE
    return valid, errors


@router.get("/")
async def worklist_page(
    request: Request,
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("worklist.read")],
    severity: str = "",
    event_class: str = "",
    team: str = "",
    state: str = "",
) -> Response:
    """The worklist, filtered by the GET form; with `HX-Request` the list alone (for htmx to swap in)."""
    teams = {
        str(t.id): t.name
        for t in await directory.list_teams(conn, scope.municipality_id)
        if scope.team_ids is None or t.id in scope.team_ids
    }
    chosen, errors = _chosen({"severity": severity, "event_class": event_class, "team": team, "state": state}, teams)
    only = triage.WorklistFilter(
        severity=chosen.get("severity"), event_class=chosen.get("event_class"), state=chosen.get("state"),
        team_id=UUID(chosen["team"]) if "team" in chosen else None,
    )  # fmt: skip
    found = await triage.worklist(conn, scope, only, reader_of_page(request))
    context: dict[str, Any] = {
        "worklist": found,
        "patients": _views(request, found.patients, await recent_readings(conn, found.patients)),
        "chosen": chosen,
        "errors": errors,
        "choices": CHOICES,
        "teams": teams,
        "filtered": bool(chosen),
    }
    fragment = (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"
    )
    return render(request, "_worklist.html" if fragment else "worklist.html", context, status=422 if errors else 200)
