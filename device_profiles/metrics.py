"""The metric catalogue (`metrics.yaml`): what Tryggheim measures, in which unit, and how urgent it is.

`load_catalogue()` reads the packaged data file once and validates it; an invalid entry raises
`CatalogueError` naming the entry. `Catalogue.to_canonical()` converts a value to a metric's canonical unit
with the data-driven conversion table; the SIG codecs and the cloud ingest both use it. Facts derived from
the entries (`alarm_metrics`, `stored_metrics`) are properties of the `Catalogue`, computed once, so the
edge and the cloud cannot disagree on them.

The entries are standard-library dataclasses that pydantic validates, imported only while it validates: the
gateway agent holds a catalogue validated in a short-lived child process (`adopt_catalogue`) and never loads
pydantic (about 10 MB resident on a small gateway).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property
from typing import TYPE_CHECKING, Annotated, Literal

from annotated_types import Gt, Lt, MinLen

from device_profiles.constraints import FORBID_UNKNOWN_KEYS, Pattern
from device_profiles.errors import CatalogueError, UnitError
from device_profiles.prepared import prepared, yaml_document

if TYPE_CHECKING:
    from pydantic import TypeAdapter

Kind = Literal["vital", "event", "state", "ordinal", "device-health"]
Urgency = Literal["alarm", "routine", "background"]

_KEY = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
_LOINC = r"^\d{1,7}-\d$"
_SNOMED = r"^\d{6,18}$"


@dataclass(frozen=True, slots=True, kw_only=True)
class MdcCode:
    """An IEEE 11073-10101 nomenclature code: the 32-bit value and its reference id."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    code: Annotated[int, Gt(0), Lt(2**32)]
    ref: Annotated[str, Pattern(r"^MDC_[A-Z0-9_]+$")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    """Display names in bokmål and English."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    nb: Annotated[str, MinLen(1)]
    en: Annotated[str, MinLen(1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """One entry of the catalogue."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    key: Annotated[str, Pattern(_KEY)]
    loinc: Annotated[str, Pattern(_LOINC)] | None
    # Further LOINC codes of the same measurement that FHIR profiles add as extra codings (SpO2 by pulse oximetry).
    loinc_extra: tuple[Annotated[str, Pattern(_LOINC)], ...] = ()
    mdc: MdcCode | None
    snomed: Annotated[str, Pattern(_SNOMED)] | None
    unit: Annotated[str, MinLen(1)]
    names: Names
    kind: Kind
    urgency: Urgency
    range: tuple[float, float] | None = None
    levels: tuple[str, ...] | None = None
    transient: bool = False
    # Digitalt tilsyn: the metric watches how a person lives at home (door, bed, motion), so a sensor that
    # measures it needs a consent or documented assessment before it is activated (R-WT-7).
    digital_supervision: bool = False

    def __post_init__(self) -> None:
        # Checks across fields, after pydantic checked each field (it reports a ValueError at the entry).
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

    def within_range(self, value: float) -> bool:
        """True when a numeric value is inside the plausible physical range (ends included)."""
        return self.range is not None and self.range[0] <= value <= self.range[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """Metrics measured together and reported as one panel (blood pressure: systolic and diastolic), with the
    panel's own codes; the members are its components, in order."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    key: Annotated[str, Pattern(_KEY)]
    loinc: Annotated[str, Pattern(_LOINC)]
    snomed: Annotated[str, Pattern(_SNOMED)] | None
    mdc: MdcCode | None
    names: Names
    members: Annotated[tuple[str, ...], MinLen(2)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    """canonical = (value + add) * multiply / divide, restricted to `only_for` metrics when given."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    source: Annotated[str, MinLen(1)]
    target: Annotated[str, MinLen(1)]
    add: Decimal = Decimal(0)
    multiply: Decimal = Decimal(1)
    divide: Decimal = Decimal(1)
    only_for: tuple[str, ...] | None = None

    def apply(self, value: Decimal) -> Decimal:
        """Convert one value from `source` to `target`."""
        return (value + self.add) * self.multiply / self.divide


@dataclass(frozen=True, slots=True, kw_only=True)
class _CatalogueFile:
    __pydantic_config__ = FORBID_UNKNOWN_KEYS

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
    from pydantic import ValidationError  # validating loads pydantic; holding a catalogue does not (module doc)

    try:
        parsed = _file_adapter().validate_python(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        entry = _entry_key(document, first["loc"])
        raise CatalogueError(f"{source}: {where}{entry}: {first['msg']}") from exc
    return Catalogue(parsed.metrics, parsed.conversions, parsed.panels)


@cache
def _file_adapter() -> TypeAdapter[_CatalogueFile]:
    from pydantic import TypeAdapter

    return TypeAdapter(_CatalogueFile)


def _entry_key(document: object, loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "metrics" and isinstance(loc[1], int) and isinstance(document, dict):
        entries = document.get("metrics")
        if isinstance(entries, list) and loc[1] < len(entries) and isinstance(entries[loc[1]], dict):
            return f" ({entries[loc[1]].get('key')})"
    return ""


# The catalogue `load_catalogue` returns once it has one: validated on first use, or adopted (`adopt_catalogue`).
# A holder rather than `functools.cache`, so the gateway agent can be given one validated elsewhere.
_held: dict[str, Catalogue] = {}


def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (prepared as JSON from metrics.yaml), validated on first use and
    kept; or the one given to `adopt_catalogue`."""
    held = _held.get("catalogue")
    if held is None:
        held = _held.setdefault("catalogue", catalogue_from_document(prepared()["metrics"]))
    return held


def adopt_catalogue(catalogue: Catalogue) -> None:
    """Make `catalogue` the one `load_catalogue` returns, without validating it again. For the gateway agent:
    edge/run.py validates the packaged catalogue in a short-lived child process (validation loads pydantic,
    about 10 MB the agent would keep for its whole life) and passes the result to the agent by pickle."""
    _held["catalogue"] = catalogue
