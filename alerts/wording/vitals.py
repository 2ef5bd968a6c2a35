"""Sentences for the vital-sign rules: limits, changes, the person's own normal, home blood pressure,
glucose levels and NEWS2. Each names the measurement, the value and what it was compared with."""

from __future__ import annotations

from typing import Final

from alerts.news2.chart import Param
from alerts.news2.window import METRIC_KEYS
from alerts.wording.facts import AlertFacts, Names, mapping, number, text
from alerts.wording.formats import Reader
from alerts.wording.sentences import measurement, value_of, when
from common.i18n import N_

NEWS2_BANDS: Final = {"low": N_("low"), "low-medium": N_("low-medium"), "medium": N_("medium"), "high": N_("high")}
GLUCOSE_LEVELS: Final = {
    "level_2_hypoglycaemia": N_("very low (level 2 hypoglycaemia)"),
    "level_1_hypoglycaemia": N_("low (level 1 hypoglycaemia)"),
    "level_2_hyperglycaemia": N_("very high (level 2 hyperglycaemia)"),
}


def _crossed(facts: AlertFacts, value: float) -> tuple[str, float] | None:
    """Which side was crossed ("above"/"below") and the limit: the green limit for a yellow reading, the
    yellow one for a red reading (alerts.thresholds.Limits)."""
    limits = mapping(facts.thresholds.get("limits"))
    level = text(facts.values.get("newest_level"))
    band = "yellow" if (level if level in {"yellow", "red"} else facts.severity) == "red" else "green"
    low, high = number(limits.get(f"{band}_low")), number(limits.get(f"{band}_high"))
    if low is not None and value < low:
        return "below", low
    if high is not None and value > high:
        return "above", high
    return None


def threshold(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A reading beyond an absolute limit."""
    value = number(facts.inputs.get("newest_value"))
    crossed = None if value is None else _crossed(facts, value)
    shown = {
        "measurement": measurement(facts.metric, reader),
        "patient": names.patient,
        "value": value_of(facts, reader, value),
        "time": when(facts.inputs.get("newest_time"), reader),
    }
    if crossed is None:
        return reader._("{measurement} for {patient} was {value} ({time}), outside its limits.").format(**shown)
    side, limit = crossed
    template = (
        reader._("{measurement} for {patient} was {value} ({time}), above the limit of {limit}.")
        if side == "above"
        else reader._("{measurement} for {patient} was {value} ({time}), below the limit of {limit}.")
    )
    return template.format(**shown, limit=value_of(facts, reader, limit))


def delta(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """A change over a few days (weight up 2 kg in 3 days)."""
    days = int(number(facts.thresholds.get("days")) or 1)
    change = abs(number(facts.values.get("change_latest_day")) or 0)
    if facts.kind.endswith(".down"):
        template = reader.n_(
            "{measurement} for {patient} has fallen by {change} in {days} day (limit {limit}).",
            "{measurement} for {patient} has fallen by {change} in {days} days (limit {limit}).",
            days,
        )
    else:
        template = reader.n_(
            "{measurement} for {patient} has risen by {change} in {days} day (limit {limit}).",
            "{measurement} for {patient} has risen by {change} in {days} days (limit {limit}).",
            days,
        )
    return template.format(
        measurement=measurement(facts.metric, reader),
        patient=names.patient,
        change=value_of(facts, reader, change),
        days=days,
        limit=value_of(facts, reader, number(facts.thresholds.get("change"))),
    )


def above_baseline(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """The newest reading above the person's own baseline (fever over the usual temperature)."""
    return reader._("{measurement} for {patient} is {value}, {rise} above the person's normal of {baseline}.").format(
        measurement=measurement(facts.metric, reader),
        patient=names.patient,
        value=value_of(facts, reader, number(facts.inputs.get("newest_value"))),
        rise=value_of(facts, reader, number(facts.values.get("rise"))),
        baseline=value_of(facts, reader, number(facts.values.get("baseline"))),
    )


def trend(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """Days in a row outside the person's own normal (z-score, CUSUM, EWMA, MACD)."""
    days = int(number(facts.values.get("flagged_days_in_a_row")) or 1)
    if facts.thresholds.get("direction") == "down":
        template = reader.n_(
            "{measurement} for {patient} has been below the person's own normal for {days} day.",
            "{measurement} for {patient} has been below the person's own normal for {days} days in a row.",
            days,
        )
    else:
        template = reader.n_(
            "{measurement} for {patient} has been above the person's own normal for {days} day.",
            "{measurement} for {patient} has been above the person's own normal for {days} days in a row.",
            days,
        )
    return template.format(measurement=measurement(facts.metric, reader), patient=names.patient, days=days)


def home_bp(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """The protocol week's mean home blood pressure."""

    def pair(systolic: object, diastolic: object) -> str:
        return f"{reader.number(number(systolic) or 0, 0)}/{reader.quantity(number(diastolic) or 0, 'mm[Hg]', 0)}"

    values, limits = facts.values, facts.thresholds
    template = reader._("Home blood pressure for {patient} averages {mean} over the protocol week (limit {limit}).")
    return template.format(
        patient=names.patient,
        mean=pair(values.get("mean_systolic"), values.get("mean_diastolic")),
        limit=pair(limits.get("systolic_limit"), limits.get("diastolic_limit")),
    )


def glucose(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """The newest glucose reading's consensus level."""
    level = GLUCOSE_LEVELS.get(str(facts.values.get("newest_level")), N_("outside the target range"))
    return reader._("Blood glucose for {patient} was {value} ({time}): {level}.").format(
        patient=names.patient,
        value=reader.quantity(number(facts.inputs.get("newest_value")) or 0, "mmol/L"),
        time=when(facts.inputs.get("newest_time"), reader),
        level=reader._(level),
    )


def news2(facts: AlertFacts, names: Names, reader: Reader) -> str:
    """The NEWS2 score and band, and what was not measured when it is partial."""
    score = int(number(facts.values.get("score")) or 0)
    band = NEWS2_BANDS.get(str(facts.values.get("band")), N_("unknown"))
    sentence = reader._("NEWS2 for {patient} is {score}: {band} clinical risk.").format(
        patient=names.patient, score=score, band=reader._(band)
    )
    scored = mapping(facts.values.get("subscores"))
    missing = [measurement(METRIC_KEYS[p], reader, inline=True) for p in Param if p in METRIC_KEYS and p not in scored]
    if not missing:
        return sentence
    partial = reader._("Partial score: {missing} not measured.").format(missing=reader.listing(missing))
    return f"{sentence} {partial}"
