"""Running the real `tryggheim` command in tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.ports import free_port

TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


def env_with(**values: str | None) -> dict[str, str]:
    """The current environment without any TRYGGHEIM_* settings, plus `values` (None removes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYGGHEIM_")}
    for key, value in values.items():
        if value is not None:
            env[key] = value
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `tryggheim ARGS` to completion and capture its output."""
    return subprocess.run(
        [TRYGGHEIM, *args],
        env=env or env_with(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    """Read the process's stdout until a line starts with `prefix`; fail with what it printed."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s; output: {''.join(seen)}")


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (to prove nothing was left running)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(proc.name))
    return found


@contextmanager
def cloud_process(database_url: str, **settings: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`tryggheim cloud serve` as a real process on `database_url` and a free port, quiet, with further
    `TRYGGHEIM_*` settings; yields the process and its base URL once it listens, and stops it afterwards (SIGTERM;
    SIGKILL if it is still there 30 s later)."""
    settings.setdefault("TRYGGHEIM_PORT", str(free_port()))  # a test that must know the port first names it
    settings.setdefault("TRYGGHEIM_LOG_LEVEL", "ERROR")
    env = env_with(TRYGGHEIM_DATABASE_URL=database_url, **settings)
    process = subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        yield process, wait_for_line(process, "http://", timeout=60)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def cloud_serve(database_url: str, **settings: str) -> Iterator[str]:
    """`cloud_process`, yielding only the base URL."""
    with cloud_process(database_url, **settings) as (_process, url):
        yield url


@contextmanager
def reachable_state_dir(prefix: str) -> Iterator[Path]:
    """A state directory (not yet created) under a fresh folder in /tmp that the unprivileged database and
    broker users can reach, so a demo's data stays inside it and is removed with it (pytest's own temporary
    directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path / "state"
    finally:
        shutil.rmtree(path, ignore_errors=True)
