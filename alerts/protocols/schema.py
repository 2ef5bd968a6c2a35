"""The shape of a protocol file and of per-patient overrides, checked by pydantic at load.

A protocol file names a condition's rules; each rule names a detector from `alerts.detectors` with its
parameters, one parameter set per severity it can raise, and a `source:` anchor in docs/detection.md where
the reference for its numbers is cited. Overrides change parameters for a municipality or a patient and
always carry who set them, why, and when they must be reviewed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AlertClassName = Literal["clinical", "liveness", "data_quality"]
SeverityName = Literal["yellow", "red"]
PauseBehaviour = Literal["suspend", "keep"]

RULE_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
ANCHOR = r"^[a-z0-9][a-z0-9-]*$"
NAME = r"^_?[a-z][a-z0-9_]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RuleSpec(_Frozen):
    """One rule as written in a protocol file."""

    id: Annotated[str, Field(pattern=RULE_ID)]
    title: Annotated[str, Field(min_length=3)]
    alert_class: AlertClassName = Field(alias="class")
    detector: str
    params: dict[str, Any] = Field(default_factory=dict)
    severities: Annotated[dict[SeverityName, dict[str, Any]], Field(min_length=1)]
    auto_resolve: bool
    during_pause: PauseBehaviour | None = None
    source: Annotated[str, Field(pattern=ANCHOR)]
    window_days: Annotated[int, Field(ge=1, le=400)] = 35


class ProtocolFile(_Frozen):
    """A protocol file (or a fragment such as the shared liveness rules, whose name starts with `_`)."""

    name: Annotated[str, Field(pattern=NAME)]
    title: Annotated[str, Field(min_length=3)]
    description: str = ""
    includes: tuple[Annotated[str, Field(pattern=NAME)], ...] = ()
    rules: tuple[RuleSpec, ...] = ()


class RuleOverride(_Frozen):
    """A change to one rule for a municipality or one patient. The storage and the audit trail live in the
    cloud; this object is what they store. `params` apply to every severity; `severities` per severity."""

    rule: Annotated[str, Field(pattern=RULE_ID)]
    params: dict[str, Any] = Field(default_factory=dict)
    severities: dict[SeverityName, dict[str, Any]] = Field(default_factory=dict)
    enabled: bool = True
    reason: Annotated[str, Field(min_length=3)]
    set_by: Annotated[str, Field(min_length=1)]
    review_by: dt.date

    def overdue(self, today: dt.date) -> bool:
        """Whether the review date has passed (the override still applies; the worklist should say so)."""
        return today > self.review_by


class PatientSettings(_Frozen):
    """Per-patient detection settings: the NEWS2 SpO2 scale and rule overrides.

    Scale 2 is for confirmed hypercapnic respiratory failure only and must be set by a named clinician
    with a reason (RCP 2017; using it wrongly under-scores low oxygen), so those fields are then required.
    """

    spo2_scale: Literal[1, 2] = 1
    spo2_scale_set_by: str | None = None
    spo2_scale_reason: str | None = None
    overrides: tuple[RuleOverride, ...] = ()

    @model_validator(mode="after")
    def _scale_2_is_prescribed(self) -> PatientSettings:
        if self.spo2_scale == 2 and not (self.spo2_scale_set_by and self.spo2_scale_reason):
            raise ValueError("SpO2 scale 2 needs spo2_scale_set_by (a clinician) and spo2_scale_reason")
        return self
