"""Only the alert store writes the alert tables: a scan of the SQL text of every module under `cloud/`.

import-linter cannot see SQL, so this test reads it: any `INSERT INTO`, `UPDATE` or `DELETE FROM` naming an
alert table outside `cloud/alert_store/` (migrations excepted: they create the tables) fails. SQL assembled
from pieces at run time would escape a text scan; the code base writes table names literally.
"""

from __future__ import annotations

import re
from pathlib import Path

import cloud

CLOUD = Path(cloud.__file__).parent
STORE = CLOUD / "alert_store"
TABLES = (
    "alerts",
    "alert_transitions",
    "alert_handled",
    "alert_comments",
    "alert_outcomes",
    "patient_pauses",
    "alert_silences",
)
WRITE = re.compile(rf"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+({'|'.join(TABLES)})\b", re.IGNORECASE)


def writes(path: Path) -> set[str]:
    """The alert tables a module's text writes to."""
    return {match.group(1).lower() for match in WRITE.finditer(path.read_text(encoding="utf-8"))}


def test_no_module_outside_the_alert_store_writes_an_alert_table() -> None:
    offenders = {
        str(path.relative_to(CLOUD.parent)): sorted(found)
        for path in sorted(CLOUD.rglob("*.py"))
        if not path.is_relative_to(STORE) and not path.is_relative_to(CLOUD / "migrations")
        if (found := writes(path))
    }
    assert offenders == {}


def test_the_scan_sees_the_store_write_every_table() -> None:
    # The positive control: were the pattern wrong, the test above would pass for nothing.
    assert set().union(*(writes(path) for path in STORE.rglob("*.py"))) == set(TABLES)
