"""The agent's configuration and catalogues, validated by pydantic in a short-lived child process.

pydantic and the schemas it builds cost a small gateway about 10 MB resident, and the long-running agent only
needs the result of validating, not the validator (docs/benchmarks.md, the edge section). So the agent forks
before it loads anything else; the child reads and validates the configuration file and the device and metric
catalogues exactly as the tools do, sends the validated objects back through a pipe (pickled: both ends are
this program) and exits, taking pydantic's memory with it. Meanwhile the parent imports what the agent runs.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import ConfigError, read_config

if TYPE_CHECKING:
    from device_profiles.device_catalogue import DeviceCatalogue
    from device_profiles.metrics import Catalogue
    from edge.config import GatewayConfig


@dataclass(frozen=True, slots=True)
class Validated:
    """What the child validated: the configuration and both catalogues."""

    config: GatewayConfig
    metrics: Catalogue
    devices: DeviceCatalogue


class Pending:
    """A validating child started by `start`; `result` waits for it."""

    def __init__(self, pid: int, pipe: int) -> None:
        self._pid, self._pipe = pid, pipe

    def result(self) -> Validated:
        """The validated objects, installed as the process's catalogues; raises `ConfigError` with the child's
        reason, or naming its exit status when it failed without one (its traceback is then on stderr)."""
        with os.fdopen(self._pipe, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not payload:  # a child that died mid-write leaves part of a pickle: never read it
            raise ConfigError(f"validating the configuration failed (exit status {code})")
        outcome: Validated | str = pickle.loads(payload)  # noqa: S301 - written by our own child (module docstring)
        if isinstance(outcome, str):
            raise ConfigError(outcome)
        from device_profiles.device_catalogue import adopt_devices
        from device_profiles.metrics import adopt_catalogue

        adopt_catalogue(outcome.metrics)
        adopt_devices(outcome.devices)
        return outcome


def start(path: Path) -> Pending:
    """Fork the validating child for the configuration file at `path`; call before the process starts threads."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os._exit(_child(path, write_end))
    os.close(write_end)
    return Pending(pid, read_end)


def validate(path: Path) -> Validated | str:
    """The validated configuration and catalogues, or the one-line reason the configuration cannot be used."""
    from device_profiles.device_catalogue import load_devices
    from device_profiles.metrics import load_catalogue

    try:
        config = read_config(path)
    except ConfigError as exc:
        return str(exc)
    return Validated(config, load_catalogue(), load_devices())


def _child(path: Path, pipe: int) -> int:
    """Validate and write the outcome to `pipe`; the exit status for `os._exit` (no parent's clean-up runs)."""
    try:
        with os.fdopen(pipe, "wb") as out:
            pickle.dump(validate(path), out)
    except BaseException:  # the parent reports the exit status; the traceback says why
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    return 0
