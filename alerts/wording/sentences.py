"""One sentence per kind of alert, from its structured facts: who, what, which value against which limit, when.

Source strings are English and go through the reader's catalogue; values go through Babel (formats.py).
Each function takes the facts, the names and the reader and returns the sentence (the table that picks one is
in `alerts.wording`; the vital-sign rules are in `alerts.wording.vitals`). Ids are never put in a sentence.
"""

from __future__ import annotations

from alerts.wording.facts import AlertFacts, Names, instant, items, mapping, number
from alerts.wording.formats import Reader
from device_profiles.metrics import load_catalogue


def measurement(metric: str | None, reader: Reader, inline: bool = False) -> str:
    """A metric's name from the catalogue in the reader's language; `inline` lowers its first letter for the
    middle of a sentence ("Puls" -> "puls"), unless it starts an abbreviation."""
    catalogue = load_catalogue()
    if metric is None or metric not in catalogue:
        return reader._("a measurement")
    names = catalogue[metric].names
    name = names.en if reader.language == "en" else names.nb
    return name[0].lower() + name[1:] if inline and name[1:2].islower() else name


def value_of(facts: AlertFacts, reader: Reader, value: float | None) -> str:
    """A value of the alert's metric with the metric's unit ("?" when the alert did not store it)."""
    metric = load_catalogue().metrics.get(facts.metric or "")
    unit = metric.unit if metric is not None else ""
    return "?" if value is None else reader.quantity(value, unit)


def when(value: object, reader: Reader) -> str:
    """A stored time (Unix seconds or ISO text) the reader's way."""
    moment = instant(value)
    return reader._("at an unknown time") if moment is None else reader.moment(moment)


def _device(entry: object, names: Names, reader: Reader) -> str:
    """The name of the device an entry of the facts names (`{"device": id, ...}`), never its id."""
    return names.devices.get(str(mapping(entry).get("device")), reader._("a device"))


def event(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """An alarm press, a fall, a door opened at night (how many, and the newest)."""
    count = int(number(facts.values.get("new_events")) or 1)
    at = when(facts.values.get("newest_event_time"), reader)
    if facts.metric == "alarm.button":
        template = reader.n_(
            "{patient} pressed the alarm button ({time}).",
            "{patient} pressed the alarm button {count} times, most recently {time}.",
            count,
        )
    elif facts.metric == "fall.detected":
        template = reader.n_(
            "A fall was detected for {patient} ({time}).",
            "{count} falls were detected for {patient}, most recently {time}.",
            count,
        )
    elif facts.metric == "door.open" and facts.thresholds.get("night_start") is not None:
        template = reader.n_(
            "The door at {patient}'s home was opened at night ({time}).",
            "The door at {patient}'s home was opened {count} times at night, most recently {time}.",
            count,
        )
    else:
        template = reader.n_(
            "{measurement} for {patient} ({time}).",
            "{measurement} for {patient}, {count} times, most recently {time}.",
            count,
        )
    return template.format(patient=names.patient, time=at, count=count, measurement=measurement(facts.metric, reader))


def bed_not_back(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """Out of bed at night and not back."""
    minutes = reader.number(number(facts.values.get("out_of_bed_min")) or 0, 0)
    return reader._("{patient} got out of bed ({time}) and has not been back for {minutes} minutes.").format(
        patient=names.patient, time=when(facts.values.get("left_at"), reader), minutes=minutes
    )


def no_activity(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """No activity in the daytime."""
    hours = reader.number(number(facts.values.get("quiet_hours")) or 0)
    return reader._("No activity at {patient}'s home for {hours} hours (since {time}).").format(
        patient=names.patient, hours=hours, time=when(facts.values.get("quiet_since"), reader)
    )


def silent(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A sensor that has sent nothing, not even a battery report."""
    return reader._("No signal from {devices} at {patient}'s home for more than {hours} hours.").format(
        devices=reader.listing([_device(entry, names, reader) for entry in items(facts.values.get("silent"))]),
        patient=names.patient,
        hours=reader.number(number(facts.thresholds.get("hours")) or 0),
    )


def low_battery(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """Devices with a low battery, lowest first."""
    shown = [
        f"{_device(entry, names, reader)} ({reader.quantity(number(mapping(entry).get('battery_pct')) or 0, '%', 0)})"
        for entry in items(facts.values.get("low"))
    ]
    return reader._("Low battery at {patient}'s home: {devices}.").format(
        patient=names.patient, devices=reader.listing(shown)
    )


def gateway_heartbeat(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A home gateway that stopped sending heartbeats."""
    home = reader._("{patient}'s home").format(patient=names.patient)
    places = [names.gateways.get(str(gateway), home) for gateway in items(facts.values.get("down"))]
    return reader._("The gateway at {place} has not been heard from for more than {minutes} minutes.").format(
        place=reader.listing(sorted(set(places)) or [home]),
        minutes=reader.number(number(facts.thresholds.get("minutes")) or 0, 0),
    )


def planned_measurement(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A planned measurement not taken by its time."""
    return reader._("{measurement} for {patient} was not measured by {time}.").format(
        measurement=measurement(facts.metric, reader),
        patient=names.patient,
        time=when(facts.values.get("due"), reader),
    )


def episode(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A worsening episode: the rules whose triggers it collected, in the order they fired."""
    titles: list[str] = []
    for entry in items(facts.explanation.get("evidence")):
        title = reader._(str(mapping(entry).get("title") or "")) if mapping(entry).get("title") else None
        if title and title not in titles:
            titles.append(title)
    return reader.messages.ngettext(
        "Worsening at {patient}: {count} sign: {signs}.", "Worsening at {patient}: {count} signs: {signs}.", len(titles)
    ).format(patient=names.patient, count=len(titles), signs=reader.listing(titles) or "?")
