"""Paths of the deployment files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = {"cloud": DEPLOY / "docker" / "cloud.Dockerfile", "gateway": DEPLOY / "docker" / "gateway.Dockerfile"}
