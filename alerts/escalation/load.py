"""Reading policy documents: the packaged default and a municipality's stored JSON, validated alike."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.escalation.schema import PolicyDocument


class PolicyError(ValueError):
    """A policy document is invalid; the message names the field (`policies[1].steps[0].channel: ...`).
    `where` is that field's path alone and `problem` the validator's words, for a form that shows the message
    next to the field."""

    def __init__(self, message: str, where: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.problem = problem or message


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def parse_policies(document: Any, source: str = "policy") -> PolicyDocument:
    """Validate a parsed document (a dict from YAML or stored JSON)."""
    try:
        return PolicyDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        text = f"{source}: {where}: {message}" if where else f"{source}: {message}"
        raise PolicyError(text, where, message) from exc


@cache
def default_policies() -> PolicyDocument:
    """The shipped default (`alerts/escalation/default.yaml`), validated once."""
    text = files("alerts.escalation").joinpath("default.yaml").read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"default.yaml: not YAML: {exc}") from exc
    return parse_policies(document, "default.yaml")
