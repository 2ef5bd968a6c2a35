"""Reproducible installs: the lock matches pyproject.toml; the edge extra stays small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
SERVER_PACKAGES = {
    "fastapi",
    "psycopg",
    "psycopg-binary",
    "numpy",
    "scipy",
    "sqlalchemy",
    "uvicorn",
    "alembic",
}


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NATIVE_TLS": "true",
        },
    )


@pytest.mark.slow
def test_lock_agrees_with_pyproject() -> None:
    result = _uv("lock", "--check", "--python", sys.executable)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_edge_extra_installs_no_server_packages(tmp_path: Path) -> None:
    requirements = tmp_path / "edge.txt"
    exported = _uv("export", "--frozen", "--extra", "edge", "--no-dev", "--no-emit-project", "-o", str(requirements))
    assert exported.returncode == 0, exported.stderr
    venv = tmp_path / "venv"
    assert _uv("venv", str(venv), "--python", sys.executable).returncode == 0
    python = str(venv / "bin" / "python")
    installed = _uv("pip", "install", "--python", python, "-r", str(requirements), f"{ROOT}[edge]")
    assert installed.returncode == 0, installed.stderr
    names = {
        line.split("==")[0].strip().lower()
        for line in _uv("pip", "freeze", "--python", python).stdout.splitlines()
        if "==" in line
    }
    assert "bleak" in names and "paho-mqtt" in names
    assert names.isdisjoint(SERVER_PACKAGES), names & SERVER_PACKAGES
    # The CLI still starts there, and lists no group that needs the cloud extra.
    help_text = subprocess.run(
        [str(venv / "bin" / "tryggheim"), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "cloud" not in help_text.stdout
    assert "edge" in help_text.stdout
    # The gateway commands work there: help, and status on a config whose agent has not run yet.
    tryggheim = str(venv / "bin" / "tryggheim")
    edge_help = subprocess.run([tryggheim, "edge", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert edge_help.returncode == 0, edge_help.stderr
    assert all(command in edge_help.stdout for command in ("run", "enrol", "status"))
    config = tmp_path / "gateway.toml"
    config.write_text(
        'cloud_url = "https://cloud.example"\ngateway_id = "00000000-0000-0000-0000-000000000001"\n'
        'credential_file = "credential"\noutbox_path = "outbox.db"\n'
    )
    status = subprocess.run([tryggheim, "edge", "status", "--config", str(config)], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert "not created yet" in status.stdout
    purity = subprocess.run(
        [python, "-c", "import device_profiles, sys; assert 'bleak' not in sys.modules"],
        check=False,
        timeout=60,
    )
    assert purity.returncode == 0
