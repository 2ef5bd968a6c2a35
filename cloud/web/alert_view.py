"""What the alert page shows, put together from the triage service's detail and context: the words for the
alert, its rule and limits, the chart's data address, the escalation timeline and the notes, in the
person's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from psycopg import AsyncConnection

from cloud.web.formats import unit_symbol
from cloud.web.forms import Checked
from cloud.web.templating import language_of, pages_of, render
from cloud.web.wording import alert_wording
from cloud.worklist.actions import OUTCOMES, ActionRefusedError
from cloud.worklist.context import alert_context
from cloud.worklist.models import AlertDetail
from cloud.worklist.triage import MARKS, READINGS_HOURS
from common.i18n import N_
from device_profiles.metrics import load_catalogue

OUTCOME_NAMES = {
    "resolved_by_phone": N_("Resolved by phone (closes the alert)"),
    "visit_dispatched": N_("Visit sent"),
    "on_site": N_("Arrived at the patient"),
    "done": N_("Done (closes the alert)"),
    "false_alarm": N_("False alarm (closes the alert)"),
}
CHANNEL_NAMES = {"in_app": N_("Worklist"), "email": N_("E-mail"), "webhook": N_("Webhook")}
TARGET_NAMES = {
    "care_team": N_("Care team"),
    "team_lead": N_("Team lead"),
    "response_centre": N_("Response centre"),
    "municipality_admin": N_("Municipality administrator"),
}
STATUS_NAMES = {
    "pending": N_("Waiting"),
    "sent": N_("Sent"),
    "dead": N_("Could not be delivered"),
    "cancelled": N_("Not needed"),
}
# How the gateway raised an alarm locally while its uplink was down (`raised_locally`, by path).
LOCAL_PATH_NAMES = {"siren": N_("the siren"), "light": N_("a light"), "sms": N_("SMS")}
MARK_NAMES = {
    "device_event_at": N_("Measured"),
    "gateway_received_at": N_("Received at home"),
    "cloud_committed_at": N_("Stored"),
    "opened_at": N_("Alert opened"),
    "first_notified_at": N_("First notification"),
    "acknowledged_at": N_("Acknowledged"),
    "on_site_at": N_("Arrived at the patient"),
    "resolved_at": N_("Resolved"),
}
DONE = {
    "acknowledged": N_("You have acknowledged the alert."),
    "commented": N_("Your comment is saved."),
    "outcome": N_("The outcome is recorded."),
    "resolved": N_("The alert is resolved."),
    "snoozed": N_("The alert is snoozed."),
}


# The triage service's refusals in words for the page; others are shown by their kind.
REFUSALS = {
    "The alert is already resolved.": N_("Someone has already resolved this alert."),
    "An outcome cannot be in the future.": N_("The time cannot be in the future."),
    "An outcome cannot be before the alert opened.": N_("The time cannot be before the alert opened."),
    "A snooze lasts from 1 minute to 7 days.": N_("A snooze can last at most 7 days."),
}


def refusal(exc: ActionRefusedError) -> str:
    """The message for a refused action on a page (a catalogue msgid)."""
    return REFUSALS.get(exc.message, N_("This could not be done."))


def _chart(detail: AlertDetail, metrics: tuple[str, ...], band: dict[str, Any]) -> dict[str, Any] | None:
    """The chart's metric, unit, data address and normal range, or None when the rule reads no measured
    quantity."""
    catalogue = load_catalogue()
    shown = [r.metric for r in detail.readings] + list(metrics)
    metric = next((m for m in shown if m in catalogue and catalogue[m].kind in {"vital", "ordinal"}), None)
    if metric is None:
        return None
    alert = detail.alert
    end = min(
        (alert.resolved_at or datetime.now(UTC)) + timedelta(minutes=30), datetime.now(UTC) + timedelta(minutes=1)
    )
    start = min(alert.opened_at, end) - timedelta(hours=READINGS_HOURS)
    query = urlencode({"from": start.isoformat(), "to": end.isoformat(), "limit": 1000})
    return {
        "metric": metric,
        "unit": unit_symbol(catalogue[metric].unit),
        "url": f"/api/v1/patients/{detail.patient_id}/series/{metric}?{query}",
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "low": band.get("green_low"),
        "high": band.get("green_high"),
    }


def _limits(detail: AlertDetail) -> dict[str, Any]:
    inner = detail.alert.explanation.get("explanation")
    thresholds = inner.get("thresholds") if isinstance(inner, dict) else None
    limits = thresholds.get("limits") if isinstance(thresholds, dict) else None
    return limits if isinstance(limits, dict) else {}


async def page(
    request: Request,
    conn: AsyncConnection[Any],
    detail: AlertDetail,
    *,
    status: int = 200,
    form: str = "",
    checked: Checked | None = None,
    done: str = "",
) -> Response:
    """The alert page; `form` and `checked` show a refused form again with its messages and values."""
    language = language_of(request)
    context = await alert_context(conn, detail)
    limits = _limits(detail)
    values = {
        "detail": detail,
        "alert": detail.alert,
        "wording": alert_wording(detail.alert, pages_of(request).translations(language), language),
        "context": context,
        "rule": context.rule,
        "limits": limits,
        "chart": _chart(detail, context.rule.metrics if context.rule else (), limits),
        "marks": [(MARK_NAMES[m], detail.timestamps[m]) for m in MARKS if detail.timestamps.get(m)],
        "outcomes": [(code, OUTCOME_NAMES[code]) for code in OUTCOMES],
        "names": {"channel": CHANNEL_NAMES, "target": TARGET_NAMES, "status": STATUS_NAMES, "local": LOCAL_PATH_NAMES},
        "outcome_names": OUTCOME_NAMES,
        "done": DONE.get(done, ""),
        "form": form,
        "errors": checked.errors if checked else {},
        "typed": checked.values if checked else {},
        "now": datetime.now(UTC),
    }
    return render(request, "alert.html", values, status=status)
