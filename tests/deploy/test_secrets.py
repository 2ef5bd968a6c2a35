"""Secrets as files (`TRYGGHEIM_<NAME>_FILE`, cloud/secret_files.py) and the compose secrets script."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cloud.config import CloudSettings
from cloud.secret_files import SecretFileError
from tests.deploy.conftest import DEPLOY
from tests.support.proc import env_with, run_cli


def test_a_missing_secret_file_stops_the_service_with_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "database_url"
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_DATABASE_URL_FILE=str(missing)), timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"tryggheim: TRYGGHEIM_DATABASE_URL_FILE: secret file {missing} does not exist"
    ]
    assert result.stdout == ""


def test_an_empty_secret_file_is_refused_too(tmp_path: Path) -> None:
    empty = tmp_path / "metrics_token"
    empty.write_text("\n")
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_METRICS_TOKEN_FILE=str(empty)), timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"tryggheim: TRYGGHEIM_METRICS_TOKEN_FILE: secret file {empty} is empty"]


def test_values_are_read_from_files_without_the_line_break(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, token = tmp_path / "url", tmp_path / "token"
    url.write_text("postgresql://app:s3cret@db.example:5432/tryggheim\n")
    token.write_text("abc def\r\n")
    for name in list(os.environ):
        if name.startswith("TRYGGHEIM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRYGGHEIM_DATABASE_URL_FILE", str(url))
    monkeypatch.setenv("TRYGGHEIM_METRICS_TOKEN_FILE", str(token))
    settings = CloudSettings()
    assert settings.database_url == "postgresql://app:s3cret@db.example:5432/tryggheim"
    assert settings.metrics_token is not None and settings.metrics_token.get_secret_value() == "abc def"
    # A value from a file is validated like one from the environment.
    url.write_text("mysql://app:s3cret@db.example/tryggheim")
    with pytest.raises(ValueError, match="scheme must be postgresql"):
        CloudSettings()
    # Both forms at once: refused, naming both.
    url.write_text("postgresql://app:s3cret@db.example:5432/tryggheim")
    monkeypatch.setenv("TRYGGHEIM_DATABASE_URL", "postgresql://other@db.example/x")
    with pytest.raises(SecretFileError, match="TRYGGHEIM_DATABASE_URL is set as well"):
        CloudSettings()


def test_the_compose_secrets_script_writes_usable_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "make-secrets.sh"
    shutil.copy(DEPLOY / "compose" / "make-secrets.sh", script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=60, env=env_with())
    secrets = tmp_path / "secrets"
    owner = (secrets / "db_owner_password").read_text()
    assert (secrets / "database_owner_url").read_text() == f"postgresql://tryggheim_owner:{owner}@db:5432/tryggheim"
    Fernet((secrets / "secrets_key").read_text())
    assert (secrets / "tls_certificate.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(secrets.stat().st_mode & 0o777) == "0o700"
    for name in list(os.environ):
        if name.startswith("TRYGGHEIM_"):
            monkeypatch.delenv(name)
    for name in ("database_url", "database_owner_url", "secrets_key", "metrics_token"):
        monkeypatch.setenv(f"TRYGGHEIM_{name.upper()}_FILE", str(secrets / name))
    settings = CloudSettings()
    assert settings.database_owner_url is not None and owner in settings.database_owner_url
    again = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 1 and "exists" in again.stderr
