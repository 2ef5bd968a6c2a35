"""How the alert store reads an `alerts` row back into the pure lifecycle's `OpenAlert`, and who acted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from alerts.explain import Level
from alerts.lifecycle import AlertState, OpenAlert

# The columns `OpenAlert` is built from; every reader of open alerts selects these.
OPEN_COLUMNS = (
    "id, patient_id, rule, alert_class, severity, opened_at, auto_resolve, state, repeats, last_value, "
    "last_input_at, updated_at, snoozed_until"
)


@dataclass(frozen=True)
class Actor:
    """The person behind a manual transition, and the audit record that allowed it (None from the CLI or a
    registry change, which audit themselves)."""

    by: UUID
    audit_id: int | None = None

    def detail(self) -> dict[str, Any]:
        """The `alert_transitions.detail` keys naming the actor."""
        return {"by": str(self.by), "audit_id": self.audit_id}


def at(seconds: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime (None stays None)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def seconds(moment: datetime | None) -> float | None:
    """An aware datetime as Unix seconds (None stays None)."""
    return None if moment is None else moment.timestamp()


def open_alert(row: dict[str, Any]) -> OpenAlert:
    """The lifecycle's view of an open `alerts` row (selected with `OPEN_COLUMNS`, as a dict row)."""
    return OpenAlert(
        rule=row["rule"],
        alert_class=row["alert_class"],
        severity=Level(row["severity"]),
        opened_at=row["opened_at"].timestamp(),
        auto_resolve=row["auto_resolve"],
        state=AlertState(row["state"]),
        repeats=row["repeats"],
        last_value=row["last_value"],
        last_input_at=seconds(row["last_input_at"]),
        updated_at=seconds(row["updated_at"]),
        snoozed_until=seconds(row["snoozed_until"]),
    )
