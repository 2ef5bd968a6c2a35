"""Child processes that must not outlive their parent, even when the parent is killed with SIGKILL."""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to send `sig` to the child when its parent dies.

    Python runs `preexec_fn` after `user=`/`group=` take effect, which matters: a credential change clears
    the parent-death signal.
    """

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return arm
