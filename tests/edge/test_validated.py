"""The agent validates its configuration and catalogues in a forked child and holds only the result
(edge/validated.py): each way the configuration can be wrong is one line and exit status 2, and a child that
dies is reported, never taken for a valid configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.config import toml_text


def _agent(config: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m edge.run` on `config`, with `prelude` run first in the same interpreter."""
    code = prelude + f"from edge.run import main\nmain(['--config', {str(config)!r}])\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    values = {"cloud_url": "http://127.0.0.1:9", "gateway_id": "g-1", "credential_file": "credential",
              "outbox_path": "outbox.db", "insecure_dev": True}  # fmt: skip
    path.write_text(toml_text(values) + extra, encoding="utf-8")
    return path


def test_a_misspelt_setting_stops_the_start_with_its_name(tmp_path: Path) -> None:
    config = _config(tmp_path, "[ble]\nenabled = true\nwatchdog = 30\n")  # the setting is `watchdog_s`
    done = _agent(config)
    assert done.returncode == 2
    assert done.stderr.strip() == f"tryggheim: {config}: ble.watchdog: unknown setting"


def test_a_bound_and_a_broken_file_are_named(tmp_path: Path) -> None:
    bound = _agent(_config(tmp_path, "[local_alarm]\nmax_attempts = 0\n"))
    assert bound.returncode == 2
    assert bound.stderr.strip().endswith("local_alarm.max_attempts: Input should be greater than or equal to 1")
    broken = tmp_path / "broken.toml"
    broken.write_text('cloud_url = "http://x"\ngateway_id\n', encoding="utf-8")
    done = _agent(broken)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"tryggheim: {broken}: not TOML: ") and "line 2" in done.stderr


def test_a_child_that_dies_is_reported_with_its_traceback(tmp_path: Path) -> None:
    prelude = (
        "import edge.validated\n"
        "def broken(path):\n"
        "    raise RuntimeError('catalogue unreadable')\n"
        "edge.validated.validate = broken\n"
    )
    done = _agent(_config(tmp_path), prelude)
    assert done.returncode == 2
    assert "RuntimeError: catalogue unreadable" in done.stderr  # the child's traceback
    assert done.stderr.strip().splitlines()[-1] == "tryggheim: validating the configuration failed (exit status 1)"


def test_part_of_an_answer_from_a_child_that_failed_is_never_read(tmp_path: Path) -> None:
    prelude = (
        "import os, edge.validated\n"
        "def half(path, pipe):\n"
        "    os.write(pipe, b'\\x80\\x05\\x95partial')\n"
        "    return 3\n"
        "edge.validated._child = half\n"
    )
    done = _agent(_config(tmp_path), prelude)
    assert done.returncode == 2
    assert done.stderr.strip() == "tryggheim: validating the configuration failed (exit status 3)"
