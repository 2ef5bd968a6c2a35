"""TRYGGHEIM_EDGE_* variables over the gateway's configuration, read the way pydantic-settings read them.

The agent process does without pydantic-settings (about 3 MB resident with bytecode installed, 8 MB without;
edge/run.py): `GatewayConfig` overlays these variables on the values it is given and plain pydantic validates.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "TRYGGHEIM_EDGE_"


def with_environment(values: dict[str, Any], model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    """`values` overlaid with the TRYGGHEIM_EDGE_* variables, as pydantic-settings read them before (names in any
    case, `__` into a nested section, JSON text for a list, mapping or section); a variable naming no field is
    ignored."""
    merged = {**values}
    for name, text in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        target, fields = merged, model.model_fields
        for key in path[:-1]:
            inner = fields.get(key)
            section = inner.annotation if inner is not None else None
            if not (isinstance(section, type) and issubclass(section, BaseModel)):
                break
            current = target.get(key)
            current = current.model_dump() if isinstance(current, BaseModel) else current
            target[key] = target = dict(current) if isinstance(current, dict) else {}
            fields = section.model_fields
        else:
            if path[-1] in fields:
                target[path[-1]] = _env_value(text, fields[path[-1]].annotation)
    return merged


def _env_value(text: str, annotation: Any) -> Any:
    """JSON for a structured field (pydantic-settings' rule), the text itself otherwise."""
    kinds = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    structured = any(
        typing.get_origin(kind) in (list, dict, tuple) or (isinstance(kind, type) and issubclass(kind, BaseModel))
        for kind in kinds
    )
    if not structured:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # pydantic then names the field and what it expected
