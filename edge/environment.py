"""TRYGGHEIM_EDGE_* variables over the gateway's configuration, read the way pydantic-settings read them.

The agent does without pydantic-settings (edge/run.py): `config_from` overlays these variables on the file's
values and pydantic validates the result.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

ENV_PREFIX = "TRYGGHEIM_EDGE_"


def with_environment(values: dict[str, Any], model: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """`values` overlaid with the TRYGGHEIM_EDGE_* variables, as pydantic-settings read them before (names in any
    case, `__` into a nested section, JSON text for a list, mapping or section); a variable naming no field of
    the dataclass `model` is ignored."""
    merged = {**values}
    for name, text in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        target, fields = merged, typing.get_type_hints(model)
        for key in path[:-1]:
            section = fields.get(key)
            if not (isinstance(section, type) and dataclasses.is_dataclass(section)):
                break
            current = target.get(key)
            if dataclasses.is_dataclass(current) and not isinstance(current, type):
                current = dataclasses.asdict(current)
            target[key] = target = dict(current) if isinstance(current, dict) else {}
            fields = typing.get_type_hints(section)
        else:
            if path[-1] in fields:
                target[path[-1]] = _env_value(text, fields[path[-1]])
    return merged


def _env_value(text: str, annotation: Any) -> Any:
    """JSON for a structured field (pydantic-settings' rule), the text itself otherwise."""
    kinds = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    structured = any(
        typing.get_origin(kind) in (list, dict, tuple, Mapping) or dataclasses.is_dataclass(kind) for kind in kinds
    )
    if not structured:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # pydantic then names the field and what it expected
