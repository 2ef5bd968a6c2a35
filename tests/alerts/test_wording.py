"""Alert texts for people: each kind of rule, raised by the real detectors from readings, worded in bokmål and
English with names instead of ids and values the reader's way (37,8 °C / 37.8 °C)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from alerts.evaluate import LivenessFacts, PatientState, evaluate_patient
from alerts.inputs import DeviceFacts, GatewayFacts
from alerts.protocols.load import load_protocol
from alerts.wording import AlertFacts, AlertText, Names, Reader, describe_alert
from common.i18n import translations
from tests.alerts.helpers import oslo

NOW = oslo(2026, 12, 3, 15, 5)
NAMES = Names(
    patient="Kari Nordmann",
    devices={"button-1": "Shelly BLU Button1", "oximeter-1": "Nonin 3230"},
    gateways={"gateway-1": "Storgata 1"},
)


@dataclass(frozen=True)
class Case:
    """One rule of a shipped protocol, the readings and device facts that raise it, and when."""

    protocol: str
    rule: str
    readings: Mapping[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    facts: LivenessFacts = field(default_factory=LivenessFacts)
    now: float = NOW


def raised(case: Case) -> AlertFacts:
    """The alert the real evaluation opens for the case, as its row would hold it."""
    protocol = load_protocol(case.protocol)
    result = evaluate_patient(protocol, PatientState(), case.readings, case.facts, case.now, rules={case.rule})
    [opened] = [t for t in result.transitions if t.alert is not None and t.rule == case.rule]
    return AlertFacts.of({"rule": opened.rule, "severity": opened.severity.value, "explanation": opened.explanation})


def worded(facts: AlertFacts, language: str, names: Names = NAMES) -> AlertText:
    return describe_alert(facts, names, Reader(language, translations(language)))


def _daily(values: list[float], hour: int = 8) -> tuple[list[float], list[float]]:
    """One reading a day at `hour` local time, the last one on the day of NOW."""
    last = dt.date(2026, 12, 3)
    days = [last - dt.timedelta(days=len(values) - 1 - i) for i in range(len(values))]
    return [oslo(d.year, d.month, d.day, hour) for d in days], values


BUTTON = DeviceFacts("button-1", ("alarm.button",), last_seen=NOW - 30 * 3600, battery_pct=8, gateway_id="gateway-1")
OXIMETER = DeviceFacts("oximeter-1", ("spo2", "heart_rate"), last_seen=NOW - 60, battery_pct=15, gateway_id="gateway-1")
NEWS2_SET = {
    "resp.rate": 22, "spo2": 95, "oxygen.supplemental": 0, "bp.systolic": 132, "heart_rate": 95, "consciousness": 0,
    "body.temperature": 37.4,
}  # fmt: skip

NIGHT = oslo(2026, 12, 3, 2, 10)
LIVE = LivenessFacts(devices=(BUTTON, OXIMETER), gateways=(GatewayFacts("gateway-1", NOW - 60),))
DOWN = LivenessFacts(devices=(OXIMETER,), gateways=(GatewayFacts("gateway-1", NOW - 40 * 60),))
RISING_PULSE = [66, 68, 64, 67, 65, 66, 69, 63, 66, 67, 65, 64, 68, 66, 67, 65, 66, 64, 92, 95, 96]

# kind -> (the case, (bokmål title, sentence), (English title, sentence))
CASES: dict[str, tuple[Case, tuple[str, str], tuple[str, str]]] = {
    "alarm button": (
        Case("welfare", "wf.alarm_button", {"alarm.button": ([NOW - 60], [1])}),
        ("Trygghetsalarm utløst", "Kari Nordmann trykket på trygghetsalarmen (03.12.2026, 15:04)."),
        ("Alarm button pressed", "Kari Nordmann pressed the alarm button (03/12/2026, 15:04)."),
    ),
    "alarm button twice": (
        Case("welfare", "wf.alarm_button", {"alarm.button": ([NOW - 600, NOW - 60], [1, 1])}),
        ("Trygghetsalarm utløst", "Kari Nordmann trykket på trygghetsalarmen 2 ganger, sist 03.12.2026, 15:04."),
        ("Alarm button pressed", "Kari Nordmann pressed the alarm button 2 times, most recently 03/12/2026, 15:04."),
    ),
    "fall": (
        Case("welfare", "wf.fall", {"fall.detected": ([NOW - 120], [1])}),
        ("Fall oppdaget", "Fall oppdaget hos Kari Nordmann (03.12.2026, 15:03)."),
        ("Fall detected", "A fall was detected for Kari Nordmann (03/12/2026, 15:03)."),
    ),
    "door at night": (
        Case("welfare", "wf.door_at_night", {"door.open": ([NIGHT], [1])}, now=NIGHT + 300),
        ("Dør åpnet om natten", "Døren hjemme hos Kari Nordmann ble åpnet om natten (03.12.2026, 02:10)."),
        ("Door opened at night", "The door at Kari Nordmann's home was opened at night (03/12/2026, 02:10)."),
    ),
    "bed not back": (
        Case("welfare", "wf.bed_not_back", {"bed.occupied": ([NIGHT - 3600, NIGHT], [1, 0])}, now=NIGHT + 75 * 60),
        (
            "Stått opp om natten og ikke tilbake",
            "Kari Nordmann sto opp (03.12.2026, 02:10) og har ikke vært tilbake i sengen på 75 minutter.",
        ),
        (
            "Out of bed at night and not back",
            "Kari Nordmann got out of bed (03/12/2026, 02:10) and has not been back for 75 minutes.",
        ),
    ),
    "no activity": (
        Case("welfare", "wf.no_activity", {"motion": ([oslo(2026, 12, 3, 9, 30)], [1])}),
        (
            "Ingen aktivitet på dagtid",
            "Ingen aktivitet hjemme hos Kari Nordmann på 5,6 timer (siden 03.12.2026, 09:30).",
        ),
        ("No activity in the daytime", "No activity at Kari Nordmann's home for 5.6 hours (since 03/12/2026, 09:30)."),
    ),
    "silent sensor": (
        Case("welfare", "live.alarm_button_silent", facts=LIVE),
        (
            "Trygghetsalarmen er taus (ikke engang batterimelding)",
            "Ingen signal fra Shelly BLU Button1 hjemme hos Kari Nordmann på mer enn 24 timer.",
        ),
        (
            "Alarm button silent (not even a battery report)",
            "No signal from Shelly BLU Button1 at Kari Nordmann's home for more than 24 hours.",
        ),
    ),
    "gateway down": (
        Case("welfare", "live.gateway_heartbeat", facts=DOWN),
        (
            "Ingen kontakt med gatewayen",
            "Gatewayen i Storgata 1 har ikke gitt lyd fra seg på mer enn 30 minutter.",
        ),
        ("Gateway not heard from", "The gateway at Storgata 1 has not been heard from for more than 30 minutes."),
    ),
    "low battery": (
        Case("welfare", "live.low_battery", facts=LIVE),
        ("Lavt batteri i enhet", "Lavt batteri hjemme hos Kari Nordmann: Shelly BLU Button1 (8 %)."),
        ("Device battery low", "Low battery at Kari Nordmann's home: Shelly BLU Button1 (8 %)."),
    ),
    "missed measurement": (
        Case("heart_failure", "hf.missed_weight", {"body.weight": ([oslo(2026, 12, 2, 7)], [80.0])}),
        ("Morgenvekt ikke tatt", "Kroppsvekt for Kari Nordmann ble ikke målt innen 03.12.2026, 11:00."),
        ("Morning weight not taken", "Body weight for Kari Nordmann was not measured by 03/12/2026, 11:00."),
    ),
    "threshold above": (
        # One reading in NEWS2's 1-point band is not an alert by itself: the second within two days confirms it.
        Case("general_elderly", "ge.temperature", {"body.temperature": ([NOW - 36_000, NOW - 300], [38.2, 38.4])}),
        (
            "Temperatur utenfor grensene",
            "Kroppstemperatur for Kari Nordmann var 38,4 °C (03.12.2026, 15:00), over grensen på 37,8 °C.",
        ),
        (
            "Temperature outside limits",
            "Body temperature for Kari Nordmann was 38.4 °C (03/12/2026, 15:00), above the limit of 37.8 °C.",
        ),
    ),
    "threshold below": (
        Case("heart_failure", "hf.spo2", {"spo2": ([NOW - 900, NOW - 300], [91, 90])}),
        (
            "Lav oksygenmetning",
            "Oksygenmetning for Kari Nordmann var 90 % (03.12.2026, 15:00), under grensen på 92 %.",
        ),
        (
            "Oxygen saturation low",
            "Oxygen saturation for Kari Nordmann was 90 % (03/12/2026, 15:00), below the limit of 92 %.",
        ),
    ),
    "change over days": (
        Case("heart_failure", "hf.weight_gain_3d", {"body.weight": _daily([80.0, 80.4, 81.1, 82.6], hour=7)}),
        (
            "Vekten har økt mer enn 2 kg på 3 dager",
            "Kroppsvekt for Kari Nordmann har steget med 2,6 kg på 3 dager (grense 2 kg).",
        ),
        (
            "Weight up more than 2 kg in 3 days",
            "Body weight for Kari Nordmann has risen by 2.6 kg in 3 days (limit 2 kg).",
        ),
    ),
    "above the person's normal": (
        Case("general_elderly", "ge.fever_over_baseline", {"body.temperature": _daily([36.5, 36.4, 36.6, 36.5, 37.9])}),
        (
            "Temperatur mer enn 1,1 °C over personens normale",
            "Kroppstemperatur for Kari Nordmann er 37,9 °C, 1,4 °C over personens normale 36,5 °C.",
        ),
        (
            "Temperature more than 1.1 °C over the person's normal",
            "Body temperature for Kari Nordmann is 37.9 °C, 1.4 °C above the person's normal of 36.5 °C.",
        ),
    ),
    "trend": (
        Case("heart_failure", "hf.heart_rate_baseline", {"heart_rate": _daily(RISING_PULSE)}),
        (
            "Puls over personens egen normal",
            "Puls for Kari Nordmann har vært over personens egen normal 3 dager på rad.",
        ),
        (
            "Pulse above the person's own normal",
            "Heart rate for Kari Nordmann has been above the person's own normal for 3 days in a row.",
        ),
    ),
    "home blood pressure": (
        Case("hypertension", "htn.home_bp", {"bp.systolic": _daily([150] * 7), "bp.diastolic": _daily([95] * 7)}),
        (
            "Forhøyet hjemmeblodtrykk (snitt for protokolluken)",
            "Hjemmeblodtrykket for Kari Nordmann er i snitt 150/95 mmHg over protokolluken (grense 135/85 mmHg).",
        ),
        (
            "Home blood pressure elevated (protocol week mean)",
            "Home blood pressure for Kari Nordmann averages 150/95 mmHg over the protocol week (limit 135/85 mmHg).",
        ),
    ),
    "glucose": (
        Case("diabetes", "dm.glucose", {"blood.glucose": ([NOW - 300], [2.8])}),
        (
            "Blodsukker utenfor målområdet",
            "Blodsukkeret for Kari Nordmann var 2,8 mmol/L (03.12.2026, 15:00): svært lavt (hypoglykemi nivå 2).",
        ),
        (
            "Blood glucose outside target",
            "Blood glucose for Kari Nordmann was 2.8 mmol/L (03/12/2026, 15:00): very low (level 2 hypoglycaemia).",
        ),
    ),
    "news2": (
        Case("general_elderly", "ge.news2", {key: ([NOW - 300], [value]) for key, value in NEWS2_SET.items()}),
        ("Forhøyet NEWS2", "NEWS2 for Kari Nordmann er 4: lav klinisk risiko."),
        ("NEWS2 raised", "NEWS2 for Kari Nordmann is 4: low clinical risk."),
    ),
    "news2 partial": (
        Case("general_elderly", "ge.news2", {"spo2": ([NOW - 300], [91]), "heart_rate": ([NOW - 300], [112])}),
        (
            "Forhøyet NEWS2",
            "NEWS2 for Kari Nordmann er 5: middels klinisk risiko. Delvis skår: respirasjonsfrekvens, ekstra oksygen, "
            "systolisk blodtrykk, bevissthetsnivå (ACVPU) og kroppstemperatur er ikke målt.",
        ),
        (
            "NEWS2 raised",
            "NEWS2 for Kari Nordmann is 5: medium clinical risk. Partial score: respiratory rate, supplemental "
            "oxygen, systolic blood pressure, level of consciousness (ACVPU) and body temperature not measured.",
        ),
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_of_alert_in_bokmal_and_english(kind: str) -> None:
    case, bokmal, english = CASES[kind]
    facts = raised(case)
    assert worded(facts, "nb") == AlertText(*bokmal)
    assert worded(facts, "en") == AlertText(*english)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_ids_never_reach_the_text_even_without_names(kind: str) -> None:
    """A device or gateway the caller could not name is "a device" or the patient's home, never its id."""
    facts = raised(CASES[kind][0])
    for language in ("nb", "en"):
        text = worded(facts, language, Names(patient="Kari Nordmann"))
        for identifier in ("button-1", "oximeter-1", "gateway-1"):
            assert identifier not in f"{text.title} {text.sentence}"


def test_unnamed_devices_and_gateways_are_said_in_words() -> None:
    silent = worded(raised(CASES["silent sensor"][0]), "nb", Names(patient="Kari Nordmann"))
    assert silent.sentence == "Ingen signal fra en enhet hjemme hos Kari Nordmann på mer enn 24 timer."
    down = worded(raised(CASES["gateway down"][0]), "en", Names(patient="Kari Nordmann"))
    assert down.sentence == "The gateway at Kari Nordmann's home has not been heard from for more than 30 minutes."


def test_an_alert_stored_without_its_title_is_titled_by_its_kind() -> None:
    facts = raised(CASES["threshold above"][0])
    older = AlertFacts(facts.rule, facts.severity, {k: v for k, v in facts.explanation.items() if k != "title"})
    assert worded(older, "nb").title == "Måling utenfor grensene"
    assert worded(older, "en").title == "Measurement outside limits"
    alarm = raised(CASES["alarm button"][0])
    untitled = AlertFacts(alarm.rule, alarm.severity, {k: v for k, v in alarm.explanation.items() if k != "title"})
    assert worded(untitled, "nb").title == "Trygghetsalarm utløst"  # the metric's name in the catalogue


@pytest.mark.parametrize(
    "row",
    [
        {"rule": "notify.delivery_failed", "severity": "red", "explanation": {"dead": 7}},
        {"rule": "xx.unknown", "severity": "yellow", "explanation": {}},
        {
            "rule": "ge.temperature",
            "explanation": {"explanation": {"rule": "threshold", "inputs": {"newest_value": "nan"}}},
        },
        {"rule": "wf.alarm_button", "explanation": {"explanation": {"rule": "event", "values": "garbage"}}},
        {
            "rule": "live.low_battery",
            "explanation": {"explanation": {"rule": "liveness.low_battery", "values": {"low": 3}}},
        },
        {},
    ],
)
def test_odd_facts_are_worded_without_raising(row: dict[str, object]) -> None:
    for language in ("nb", "en"):
        text = worded(AlertFacts.of(row), language)
        assert text.title and text.sentence
        assert "Kari Nordmann" in text.sentence
        assert text.sentence[0].isupper()


def test_the_platforms_own_alert_names_the_patient() -> None:
    facts = AlertFacts.of({"rule": "notify.delivery_failed", "severity": "red", "explanation": {}})
    assert worded(facts, "nb") == AlertText("Varsel ikke levert", "Et varsel om Kari Nordmann kunne ikke leveres.")
