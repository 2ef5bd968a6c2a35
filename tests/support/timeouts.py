"""pytest-timeout, with the place a test hung in its one-line failure message.

CI shows only the tail of the output: the short summary line must say where the time went (phase, the
innermost frames of the main thread, and what the other threads were doing), not only that it ran out.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

FRAMES = 4


def _where(frame: FrameType | None) -> str:
    stack = traceback.extract_stack(frame)[-FRAMES:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))


def _others() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    return "; ".join(
        f"[{names.get(ident, ident)}] {_where(frame)}"
        for ident, frame in sys._current_frames().items()
        if ident != threading.main_thread().ident
    )


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Replace the signal method's handler; leave every other method to pytest-timeout."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        pytest.fail(
            f"Timeout >{settings.timeout}s; main thread at {_where(frame)}; other threads: {_others()}", pytrace=True
        )

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True
