"""Structured JSON logs with national identity numbers masked.

Norwegian fødselsnummer and D-numbers are 11 digits. They must never reach a log line (Normen), whatever
code path formatted the message, so the mask sits in the formatter and applies to the rendered message,
the arguments and every extra field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# 11 digits not embedded in a longer run of digits; a space may separate the date part (6) from the
# personal number (5), as people often write it.
_NIN = re.compile(r"(?<!\d)(\d{6})\s?(\d{5})(?!\d)")
MASK = "***********"

# Attributes every LogRecord has; anything else was passed as `extra=` and is emitted as a field.
# uvicorn adds `color_message`, an ANSI-coloured duplicate of the message.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def mask_identity_numbers(text: str) -> str:
    """Replace anything shaped like an 11-digit national identity number with a fixed mask."""
    return _NIN.sub(MASK, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_identity_numbers(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # As an int, a number born on day 01-09 has lost its leading zero and has 10 digits.
        return MASK if len(str(abs(value))) in (10, 11) else value
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_identity_numbers(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = _mask_value(value)
        if record.exc_info:
            entry["exception"] = mask_identity_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


# Libraries whose INFO lines are routine chatter: APScheduler writes two lines per job run ("Running job",
# "executed successfully"), every few seconds per worker, which would bury a replica's real events; its missed
# runs and failures are warnings and errors, and still come through. (Found by running the service's image.)
QUIET_LOGGERS = {"apscheduler": logging.WARNING}


def configure_logging(level: str = "INFO") -> None:
    """Route all logging to stderr as JSON lines (routine library chatter left out: `QUIET_LOGGERS`); idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tryggheim", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._tryggheim = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # At DEBUG everything comes through, the chatter included.
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else max(floor, root.level))
