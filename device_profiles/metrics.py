"""The metric catalogue (`metrics.yaml`): what Tryggheim measures, in which unit, and how urgent it is.

`load_catalogue()` reads the packaged data file once and validates it; an invalid entry raises
`CatalogueError` naming the entry. `Catalogue.to_canonical()` converts a value to a metric's canonical unit
with the data-driven conversion table; the SIG codecs and the cloud ingest both use it. Facts derived from
the entries (`alarm_metrics`, `stored_metrics`) are properties of the `Catalogue`, computed once, so the
edge and the cloud cannot disagree on them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from functools import cache, cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from device_profiles.errors import CatalogueError, UnitError
from device_profiles.prepared import prepared, yaml_document

Kind = Literal["vital", "event", "state", "ordinal", "device-health"]
Urgency = Literal["alarm", "routine", "background"]

_KEY = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MdcCode(_Frozen):
    """An IEEE 11073-10101 nomenclature code: the 32-bit value and its reference id."""

    code: Annotated[int, Field(gt=0, lt=2**32)]
    ref: Annotated[str, Field(pattern=r"^MDC_[A-Z0-9_]+$")]


class Names(_Frozen):
    """Display names in bokmål and English."""

    nb: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]


class Metric(_Frozen):
    """One entry of the catalogue."""

    key: Annotated[str, Field(pattern=_KEY)]
    loinc: Annotated[str, Field(pattern=r"^\d{1,7}-\d$")] | None
    # Further LOINC codes of the same measurement that FHIR profiles add as extra codings (SpO2 by pulse oximetry).
    loinc_extra: tuple[Annotated[str, Field(pattern=r"^\d{1,7}-\d$")], ...] = ()
    mdc: MdcCode | None
    snomed: Annotated[str, Field(pattern=r"^\d{6,18}$")] | None
    unit: Annotated[str, Field(min_length=1)]
    names: Names
    kind: Kind
    urgency: Urgency
    range: tuple[float, float] | None = None
    levels: tuple[str, ...] | None = None
    transient: bool = False
    # Digitalt tilsyn: the metric watches how a person lives at home (door, bed, motion), so a sensor that
    # measures it needs a consent or documented assessment before it is activated (R-WT-7).
    digital_supervision: bool = False

    @model_validator(mode="after")
    def _range_or_levels(self) -> Metric:
        if (self.range is None) == (self.levels is None):
            raise ValueError("exactly one of `range` (numbers) and `levels` (labels) is required")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} is empty")
        if self.levels is not None and len(set(self.levels)) != len(self.levels):
            raise ValueError("levels repeat")
        if self.kind == "event" and self.unit != "1":
            raise ValueError("an event is counted: its unit is UCUM `1`")
        if self.kind == "vital" and self.loinc is None and not (self.transient or self.urgency == "background"):
            raise ValueError("a forwarded vital sign needs a LOINC code")
        return self

    def within_range(self, value: float) -> bool:
        """True when a numeric value is inside the plausible physical range (ends included)."""
        return self.range is not None and self.range[0] <= value <= self.range[1]


class Panel(_Frozen):
    """Metrics measured together and reported as one panel (blood pressure: systolic and diastolic), with the
    panel's own codes; the members are its components, in order."""

    key: Annotated[str, Field(pattern=_KEY)]
    loinc: Annotated[str, Field(pattern=r"^\d{1,7}-\d$")]
    snomed: Annotated[str, Field(pattern=r"^\d{6,18}$")] | None
    mdc: MdcCode | None
    names: Names
    members: Annotated[tuple[str, ...], Field(min_length=2)]


class Conversion(_Frozen):
    """canonical = (value + add) * multiply / divide, restricted to `only_for` metrics when given."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: Annotated[str, Field(alias="from", min_length=1)]
    target: Annotated[str, Field(alias="to", min_length=1)]
    add: Decimal = Decimal(0)
    multiply: Decimal = Decimal(1)
    divide: Decimal = Decimal(1)
    only_for: tuple[str, ...] | None = None

    def apply(self, value: Decimal) -> Decimal:
        """Convert one value from `source` to `target`."""
        return (value + self.add) * self.multiply / self.divide


class _CatalogueFile(_Frozen):
    metrics: tuple[Metric, ...]
    conversions: tuple[Conversion, ...]
    panels: tuple[Panel, ...] = ()


class Catalogue:
    """The validated catalogue: metrics by key plus the conversion table."""

    def __init__(
        self, metrics: tuple[Metric, ...], conversions: tuple[Conversion, ...], panels: tuple[Panel, ...] = ()
    ) -> None:
        self.metrics: Mapping[str, Metric] = {metric.key: metric for metric in metrics}
        if len(self.metrics) != len(metrics):
            counts = Counter(metric.key for metric in metrics)
            twice = sorted(key for key, count in counts.items() if count > 1)
            raise CatalogueError(f"metrics.yaml: keys appear twice: {', '.join(twice)}")
        units = {metric.unit for metric in metrics}
        for conversion in conversions:
            if conversion.target not in units:
                raise CatalogueError(f"conversions: {conversion.source} -> {conversion.target}: no metric uses it")
            unknown = set(conversion.only_for or ()) - set(self.metrics)
            if unknown:
                raise CatalogueError(f"conversions: only_for names unknown metrics {sorted(unknown)}")
        for panel in panels:
            if not set(panel.members) <= set(self.metrics):
                raise CatalogueError(f"panels: {panel.key} names unknown metrics")
        self.panels: Mapping[str, Panel] = {panel.key: panel for panel in panels}
        self._conversions = conversions

    def __getitem__(self, key: str) -> Metric:
        return self.metrics[key]

    def __contains__(self, key: object) -> bool:
        return key in self.metrics

    @cached_property
    def alarm_metrics(self) -> frozenset[str]:
        """Keys of the alarm-class metrics (a safety alarm press, a fall): they are never evicted on the
        gateway, go to the cloud first and alone, wake the evaluation at once, and shorten the heartbeat."""
        return frozenset(key for key, metric in self.metrics.items() if metric.urgency == "alarm")

    @cached_property
    def stored_metrics(self) -> frozenset[str]:
        """Keys of the metrics the cloud stores: all but the transient live values (cuff pressure while it
        inflates), which ingest refuses."""
        return frozenset(key for key, metric in self.metrics.items() if not metric.transient)

    def to_canonical(self, key: str, value: Decimal, unit: str) -> Decimal:
        """Convert `value` in `unit` to the canonical unit of metric `key`; raises `UnitError` when the
        catalogue has no conversion for that metric (KeyError for an unknown metric)."""
        metric = self.metrics[key]
        if unit == metric.unit:
            return value
        for conversion in self._conversions:
            if (
                conversion.source == unit
                and conversion.target == metric.unit
                and (conversion.only_for is None or key in conversion.only_for)
            ):
                return conversion.apply(value)
        raise UnitError(f"{key}: cannot convert {unit} to {metric.unit}")


def parse_catalogue(text: str, source: str = "metrics.yaml") -> Catalogue:
    """Validate catalogue YAML text; raises `CatalogueError` naming the first bad entry."""
    return catalogue_from_document(yaml_document(source, text), source)


def catalogue_from_document(document: object, source: str = "metrics.yaml") -> Catalogue:
    """Validate the parsed catalogue document; raises `CatalogueError` naming the first bad entry."""
    try:
        parsed = _CatalogueFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        entry = _entry_key(document, first["loc"])
        raise CatalogueError(f"{source}: {where}{entry}: {first['msg']}") from exc
    return Catalogue(parsed.metrics, parsed.conversions, parsed.panels)


def _entry_key(document: object, loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "metrics" and isinstance(loc[1], int) and isinstance(document, dict):
        entries = document.get("metrics")
        if isinstance(entries, list) and loc[1] < len(entries) and isinstance(entries[loc[1]], dict):
            return f" ({entries[loc[1]].get('key')})"
    return ""


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (prepared as JSON from metrics.yaml), validated on first use and
    cached."""
    return catalogue_from_document(prepared()["metrics"])
