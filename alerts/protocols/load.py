"""Loading protocol files from the package, and applying municipality and patient overrides.

Every error names the file and the field (`heart_failure.yaml: rules[2].severities.red.change: ...`),
because the people who edit protocols are clinical leads, not programmers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.detectors import DETECTORS
from alerts.explain import Level
from alerts.protocols.model import Protocol, Rule
from alerts.protocols.principles import check_threshold
from alerts.protocols.schema import PatientSettings, ProtocolFile, RuleOverride, RuleSpec
from alerts.thresholds import ThresholdRule
from device_profiles.metrics import load_catalogue


class ProtocolError(ValueError):
    """A protocol file or an override is invalid; the message names the file (or override) and field."""


_PACKAGE = "alerts.protocols"


def _where(loc: Iterable[int | str]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    first = exc.errors()[0]
    where = ".".join(part for part in (prefix, _where(first["loc"])) if part)
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def compile_rule(spec: RuleSpec, where: str) -> Rule:
    """Build a rule's detectors and check its metrics; ProtocolError naming `where` and the field."""
    kind = DETECTORS.get(spec.detector)
    if kind is None:
        raise ProtocolError(f"{where}.detector: unknown detector {spec.detector!r} (known: {', '.join(DETECTORS)})")
    slots = []
    for name in ("red", "yellow"):
        if name not in spec.severities:
            continue
        field = f"{where}.severities.{name}"
        try:
            slots.append((Level(name), kind.build({**spec.params, **spec.severities[name]}, Level(name))))
        except ValidationError as exc:
            raise ProtocolError(_first_error(exc, field)) from exc
        except ValueError as exc:
            raise ProtocolError(f"{field}: {exc}") from exc
    for name, detector in slots:
        if isinstance(detector, ThresholdRule):
            try:
                check_threshold(detector)
            except ValueError as exc:
                raise ProtocolError(f"{where}.severities.{name.value}: {exc}") from exc
    catalogue = load_catalogue()
    metrics = kind.metrics(slots[0][1])
    unknown = [metric for metric in metrics if metric not in catalogue]
    if unknown:
        raise ProtocolError(f"{where}.params: unknown metric {unknown[0]!r}")
    # An alarm rule is a clinical rule on a safety-critical metric; supervising the alarm button's battery
    # and silence is liveness, which may resolve by itself.
    alarm = spec.alert_class == "clinical" and any(metric in catalogue.alarm_metrics for metric in metrics)
    if alarm and spec.auto_resolve:
        raise ProtocolError(f"{where}.auto_resolve: alarm-class events are closed by a person, never automatically")
    if alarm and spec.during_pause == "suspend":
        raise ProtocolError(f"{where}.during_pause: alarm-class events keep running during a pause")
    return Rule(spec=spec, slots=tuple(slots), metrics=metrics, alarm=alarm)


def _read(name: str) -> tuple[ProtocolFile, str]:
    source = f"{name}.yaml"
    resource = files(_PACKAGE).joinpath(source)
    if not resource.is_file():
        raise ProtocolError(f"{source}: no such protocol (known: {', '.join(protocol_names())})")
    return parse_file(resource.read_text(encoding="utf-8"), source), source


def parse_file(text: str, source: str) -> ProtocolFile:
    """Validate the YAML text of one protocol file (without compiling its rules)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{source}: not YAML: {exc}") from exc
    try:
        return ProtocolFile.model_validate(document)
    except ValidationError as exc:
        raise ProtocolError(f"{source}: {_first_error(exc)}") from exc


def compile_protocol(parsed: ProtocolFile, source: str, fragments: Mapping[str, ProtocolFile]) -> Protocol:
    """Compile a parsed protocol with its included fragments into rules."""
    rules: list[Rule] = []
    located = [(parsed, source, i, spec) for i, spec in enumerate(parsed.rules)]
    for include in parsed.includes:
        fragment = fragments.get(include)
        if fragment is None:
            raise ProtocolError(f"{source}: includes: unknown fragment {include!r}")
        located += [(fragment, f"{include}.yaml", i, spec) for i, spec in enumerate(fragment.rules)]
    seen: set[str] = set()
    for _file, file_source, i, spec in located:
        where = f"{file_source}: rules[{i}]"
        if spec.id in seen:
            raise ProtocolError(f"{where}.id: {spec.id!r} appears twice in protocol {parsed.name!r}")
        seen.add(spec.id)
        rules.append(compile_rule(spec, where))
    return Protocol(name=parsed.name, title=parsed.title, rules=tuple(rules))


def protocol_names() -> tuple[str, ...]:
    """The protocols shipped with the package (fragments, whose names start with `_`, are not listed)."""
    names = (entry.name.removesuffix(".yaml") for entry in files(_PACKAGE).iterdir() if entry.name.endswith(".yaml"))
    return tuple(sorted(name for name in names if not name.startswith("_")))


@cache
def load_protocol(name: str) -> Protocol:
    """A packaged protocol with municipality defaults only (no overrides), validated and cached."""
    parsed, source = _read(name)
    fragments = {include: _read(include)[0] for include in parsed.includes if include.startswith("_")}
    return compile_protocol(parsed, source, fragments)


def _override(rule: Rule, override: RuleOverride, where: str) -> Rule | None:
    if not override.enabled:
        if rule.alarm:
            raise ProtocolError(f"{where}.enabled: alarm rule {rule.id!r} cannot be switched off")
        return None
    severities: dict[Any, dict[str, Any]] = {name: dict(extra) for name, extra in rule.spec.severities.items()}
    for name, extra in override.severities.items():
        severities[name] = {**severities.get(name, {}), **extra}
    spec = rule.spec.model_copy(update={"params": {**rule.spec.params, **override.params}, "severities": severities})
    return compile_rule(spec, where)


def apply_overrides(
    protocol: Protocol,
    municipality: Sequence[RuleOverride] = (),
    patient: PatientSettings | None = None,
) -> Protocol:
    """The protocol for one patient: municipality overrides first, then the patient's, then the SpO2 scale.

    An override naming a rule the protocol lacks, or setting a parameter the detector does not take, raises
    ProtocolError naming the override.
    """
    settings = patient or PatientSettings()
    rules: dict[str, Rule | None] = dict(protocol.by_id())
    layers = [("municipality", municipality), ("patient", settings.overrides)]
    for layer, overrides in layers:
        for i, override in enumerate(overrides):
            where = f"{layer} override[{i}] ({override.rule})"
            current = rules.get(override.rule)
            if override.rule not in rules:
                raise ProtocolError(f"{where}.rule: protocol {protocol.name!r} has no such rule")
            if current is not None:
                rules[override.rule] = _override(current, override, where)
    kept = tuple(rule for rule in rules.values() if rule is not None)
    return Protocol(name=protocol.name, title=protocol.title, rules=kept, spo2_scale=settings.spo2_scale)
