"""Field constraints that pydantic enforces when it validates a dataclass, written without importing pydantic.

The catalogues' and the gateway configuration's types are standard-library dataclasses, so the gateway agent can
hold them without loading pydantic (about 10 MB resident; edge/run.py validates in a short-lived child process).
Numeric and length bounds are `annotated_types` markers, which pydantic reads; a text pattern has no such marker,
so `Pattern` adds one to the schema pydantic builds for the field, through pydantic's documented hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# pydantic reads a dataclass's settings from `__pydantic_config__` (a class attribute without an annotation, so
# not a field). Every catalogue and configuration type refuses a key it does not know: a misspelt optional key
# would otherwise be ignored without a word.
FORBID_UNKNOWN_KEYS: Any = {"extra": "forbid"}


@dataclass(frozen=True, slots=True)
class Pattern:
    """`Annotated[str, Pattern(r"^...$")]`: the text must match the regular expression."""

    regex: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        """The string schema pydantic would build for the field, with the pattern added."""
        return {**handler(source), "pattern": self.regex}
