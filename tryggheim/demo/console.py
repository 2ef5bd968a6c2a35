"""What the person running the demo reads: human lines in one language per run (bokmål unless `--lang en` or
TRYGGHEIM_LANG says otherwise), numbered steps while it starts, and everything else (the service's structured JSON
logs, the mail sink's SMTP chatter) in a log file under the state directory.

The language is kept in TRYGGHEIM_LANG for the run, so every part of the demo that prints (the SMS stand-in, the
route watcher) speaks the same one as the command's own lines.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import NoReturn, TextIO

from common.i18n import DEFAULT_LANGUAGE, LANGUAGES, translations

LANG_VARIABLE = "TRYGGHEIM_LANG"
STEPS = 9  # the numbered steps of the start, "[3/9] ..."
_LOCK = threading.Lock()  # lines from several threads never interleave


def language() -> str:
    """This run's language (TRYGGHEIM_LANG; bokmål when unset or unknown)."""
    chosen = os.environ.get(LANG_VARIABLE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def choose_language(lang: str | None) -> str:
    """Fix the run's language (the option wins over the environment) and return it."""
    chosen = lang or os.environ.get(LANG_VARIABLE) or DEFAULT_LANGUAGE
    os.environ[LANG_VARIABLE] = chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
    return language()


def gettext(message: str) -> str:
    """`message` in this run's language."""
    return translations(language()).gettext(message)


def say(line: str) -> None:
    """Print one human line to the console, whole."""
    with _LOCK:
        print(line, file=sys.stdout, flush=True)


def step(number: int, message: str, **fields: object) -> None:
    """Print a numbered start-up step: `[3/9] ...` (message is an msgid, filled with `fields`)."""
    say(f"[{number}/{STEPS}] " + gettext(message).format(**fields))


def tell(message: str, **fields: object) -> None:
    """Print an msgid in this run's language, filled with `fields`."""
    say(gettext(message).format(**fields))


def fail(message: str) -> NoReturn:
    """One line for the person on the real stderr (not the log file), and exit status 2."""
    print(f"tryggheim: {message}", file=sys.__stderr__, flush=True)
    raise SystemExit(2)


class LogFile:
    """Send Python's stderr (where the service's JSON log lines and the SMTP server's chatter go) to a file
    under the state directory while the demo runs; `console` keeps the real stderr for errors meant for people."""

    def __init__(self, state_dir: Path) -> None:
        self.path = (state_dir / "logs" / "demo.log").resolve()
        self.console: TextIO = sys.stderr
        self._file: TextIO | None = None

    def __enter__(self) -> LogFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        sys.stderr = self._file
        return self

    def __exit__(self, *_exc: object) -> None:
        sys.stderr = self.console
        if self._file is not None:
            # Left open: the service's log handler holds it until the process ends.
            self._file.flush()
