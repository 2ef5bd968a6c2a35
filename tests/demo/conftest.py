"""One real `tryggheim demo --fast --exit-when-ready` for the module: the browser walks the guided tour while it
runs, and the end-to-end test reads the milestones it prints and checks that it leaves nothing running."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.ports import free_port
from tests.support.proc import TRYGGHEIM, env_with

TIMEOUT_S = 110  # --timeout of the run: the milestones must be reached within it


@dataclass
class Demo:
    """The running demo: its process, address, state directory, when it started and what it printed so far."""

    process: subprocess.Popen[str]
    state: Path
    port: int
    started: float
    printed: list[str] = field(default_factory=list)
    url: str = ""

    def read_until(self, prefix: str, timeout: float = 90) -> str:
        """Read stdout (kept in `printed`) until a line starts with `prefix`."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                if self.process.poll() is not None:
                    break
                continue
            self.printed.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return line.strip()
        ended = "" if self.process.poll() is None else f"; exited {self.process.returncode}: {self._stderr()!r}"
        raise AssertionError(f"no line starting with {prefix!r}; printed: {self.printed}{ended}")

    def _stderr(self) -> str:
        """What an exited process wrote to stderr (its last 2,000 characters)."""
        assert self.process.stderr is not None
        return self.process.stderr.read()[-2000:]

    def rest(self, timeout: float) -> list[str]:
        """Everything printed until the process exits (within `timeout`)."""
        assert self.process.stdout is not None
        out, _ = self.process.communicate(timeout=timeout)
        self.printed += out.splitlines()
        return self.printed


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The demo in --fast --exit-when-ready mode on a free port and a fresh state directory (one the database's
    unprivileged user can reach), started once the URL is printed."""
    folder = Path(tempfile.mkdtemp(prefix="trgt-demo-story-", dir="/tmp"))
    folder.chmod(0o755)
    port = free_port()
    command = [TRYGGHEIM, "demo", "--fast", "--exit-when-ready", "--timeout", str(TIMEOUT_S)]
    env = env_with(TRYGGHEIM_STATE_DIR=str(folder / "state"), TRYGGHEIM_PORT=str(port))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = Demo(process, folder / "state", port, time.monotonic())
    try:
        running.url = running.read_until("http://")
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
