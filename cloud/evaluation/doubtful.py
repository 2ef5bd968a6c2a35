"""device_profiles.quality in SQL: whether a stored reading is doubtful, computed where the window is read.

The flags live in `observations.context` under each status field, as a list of flag names (pulse oximeter)
or as an object holding that list under `flags` (blood pressure); the expression reads both shapes exactly
as `quality.doubtful_reasons` does, so the windows carry the same mask a replay of the readings would.
"""

from __future__ import annotations

from typing import Any

from device_profiles.quality import DOUBTFUL_FLAGS, IRREGULAR_PULSE_METRIC


def _doubtful_sql() -> tuple[str, dict[str, Any]]:
    tests: list[str] = []
    params: dict[str, Any] = {"doubtful_irregular": IRREGULAR_PULSE_METRIC}
    for index, (field, flags) in enumerate(sorted(DOUBTFUL_FLAGS.items())):
        name = f"doubtful_field{index}"
        status = f"o.context -> %({name})s"
        # An object's `flags`, else the field itself; `->` on a list gives null. `?|` also matches a bare string
        # or an object's keys, which quality does not count, so a match is checked to be a list; the check runs
        # only on the few rows that match (CASE is evaluated lazily), which halves the cost per row.
        listed = f"coalesce({status} -> 'flags', {status})"
        tests.append(
            f"coalesce(CASE WHEN {listed} ?| %(doubtful_flags{index})s THEN jsonb_typeof({listed}) = 'array' END, "
            "false)"
        )
        params |= {name: field, f"doubtful_flags{index}": sorted(flags)}
    # The irregular-pulse reading is a finding of its own and never doubtful, whatever else its status says.
    return f"(o.metric <> %(doubtful_irregular)s AND ({' OR '.join(tests)}))", params


# A boolean expression over the observation aliased `o`, with its named parameters (add them to the query's).
DOUBTFUL_SQL, DOUBTFUL_PARAMS = _doubtful_sql()
