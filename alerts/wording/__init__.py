"""Alert texts for people: a title and a sentence in the reader's language, from an alert's structured facts.

Detectors keep producing facts (alerts.explain); nothing they store is meant to be read by a nurse as it is,
and ids never are. `describe_alert` is the one place that turns an alert into words: the rule's title
through the gettext catalogue, a sentence per kind of rule naming the patient, the device and the
measurement, with values, limits and times formatted the reader's way by Babel. Pure and fully typed: the
catalogue and the names come in as arguments, nothing is read from a database.

    reader = Reader("nb", common.i18n.translations("nb"))
    text = describe_alert(AlertFacts.of(alert_row), Names(patient="Kari Nordmann"), reader)
    text.title     # "Trygghetsalarm utløst"
    text.sentence  # "Kari Nordmann trykket på trygghetsalarmen (03.12.2026, 15:05)."
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from alerts.aggregates import GLUCOSE_RULE, HOME_BP_RULE
from alerts.delta import RISE_RULE
from alerts.events import BED_RULE, EVENT_RULE, NIGHT_EVENT_RULE, NO_ACTIVITY_RULE
from alerts.liveness import BATTERY_RULE, HEARTBEAT_RULE, PLANNED_RULE, SILENT_RULE
from alerts.news2.score import RULE as NEWS2_RULE
from alerts.thresholds import RULE as THRESHOLD_RULE
from alerts.wording import sentences, vitals
from alerts.wording.facts import DELIVERY_FAILED, AlertFacts, Names
from alerts.wording.formats import Reader
from common.i18n import N_

__all__ = ["AlertFacts", "AlertText", "Names", "Reader", "describe_alert"]

Sentence = Callable[[AlertFacts, Names, Reader], str]


@dataclass(frozen=True)
class AlertText:
    """An alert in words: a short title and one sentence."""

    title: str
    sentence: str


def _delivery_failed(facts: AlertFacts, names: Names, reader: Reader) -> str:
    return reader._("A notification about {patient} could not be delivered.").format(patient=names.patient)


def _unknown(facts: AlertFacts, names: Names, reader: Reader) -> str:
    return reader._("{patient}: open the alert for its details.").format(patient=names.patient)


# The detector's explanation rule -> its sentence; trends and changes by prefix (`trend.zscore`, `delta.up`).
SENTENCES: Final[Mapping[str, Sentence]] = {
    EVENT_RULE: sentences.event,
    NIGHT_EVENT_RULE: sentences.event,
    BED_RULE: sentences.bed_not_back,
    NO_ACTIVITY_RULE: sentences.no_activity,
    SILENT_RULE: sentences.silent,
    BATTERY_RULE: sentences.low_battery,
    HEARTBEAT_RULE: sentences.gateway_heartbeat,
    PLANNED_RULE: sentences.planned_measurement,
    THRESHOLD_RULE: vitals.threshold,
    RISE_RULE: vitals.above_baseline,
    HOME_BP_RULE: vitals.home_bp,
    GLUCOSE_RULE: vitals.glucose,
    NEWS2_RULE: vitals.news2,
    DELIVERY_FAILED: _delivery_failed,
    "delta": vitals.delta,
    "trend": vitals.trend,
    "episode": sentences.episode,
}

# Titles of alerts stored without their rule's title (older alerts, the platform's own alerts).
TITLES: Final[Mapping[str, str]] = {
    BED_RULE: N_("Out of bed at night and not back"),
    NO_ACTIVITY_RULE: N_("No activity in the daytime"),
    SILENT_RULE: N_("Sensor silent"),
    BATTERY_RULE: N_("Device battery low"),
    HEARTBEAT_RULE: N_("Gateway not heard from"),
    PLANNED_RULE: N_("Planned measurement not taken"),
    THRESHOLD_RULE: N_("Measurement outside limits"),
    RISE_RULE: N_("Above the person's normal"),
    HOME_BP_RULE: N_("Home blood pressure elevated (protocol week mean)"),
    GLUCOSE_RULE: N_("Blood glucose outside target"),
    NEWS2_RULE: N_("NEWS2 raised"),
    DELIVERY_FAILED: N_("Notification not delivered"),
    "delta": N_("Measurement changed"),
    "trend": N_("Outside the person's own normal"),
    "episode": N_("Worsening episode"),
}


def _title(facts: AlertFacts, reader: Reader) -> str:
    if facts.title is not None:
        return reader._(facts.title)
    if facts.kind in (EVENT_RULE, NIGHT_EVENT_RULE):
        return sentences.measurement(facts.metric, reader)
    found = TITLES.get(facts.kind) or TITLES.get(facts.kind.partition(".")[0])
    return reader._(found) if found is not None else reader._("Alert")


def describe_alert(facts: AlertFacts, names: Names, reader: Reader) -> AlertText:
    """The alert's title and sentence for `reader`, naming the patient, devices and measurements from `names`
    and the metric catalogue. Never raises on odd facts: what is missing is said in words ("?", "a device").

    For the worklist and alert JSON: build `facts` with `AlertFacts.of(row)` from the alert row (rule,
    severity, explanation), `names` from the patient's display name and the names of the devices and gateways
    the alert's facts mention (cloud/worklist/names.py loads them), and `reader` from the request's language.
    """
    sentence = (SENTENCES.get(facts.kind) or SENTENCES.get(facts.kind.partition(".")[0]) or _unknown)(
        facts, names, reader
    )
    # A sentence may start with a fallback word ("en måling"): it still starts with a capital.
    return AlertText(title=_title(facts, reader), sentence=sentence[:1].upper() + sentence[1:])
