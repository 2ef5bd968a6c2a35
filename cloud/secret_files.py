"""Secrets from files: `TRYGGHEIM_<NAME>_FILE` names a file holding the value of `TRYGGHEIM_<NAME>`.

Compose `secrets:` and Kubernetes Secret volumes hand a process its secrets as files (`/run/secrets/...`), so a
password never sits in the environment, in `docker inspect` or in a manifest. Only the settings in
`SECRET_FILE_SETTINGS` take this form; keys that already had a path setting of their own
(`TRYGGHEIM_OIDC_CLIENT_KEY_FILE`, `TRYGGHEIM_CITIZEN_CLIENT_KEY_FILE`, `TRYGGHEIM_AUDIT_SIGNING_KEY_FILE`) keep it.

A file variable that is set must name a readable, non-empty file: a missing secret stops the process at start
with one line naming the variable and the path (`SecretFileError`), never a fallback to a default, which for
the database URL would quietly start the embedded database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

SECRET_FILE_SETTINGS: Final = (
    "database_url",
    "database_owner_url",
    "secrets_key",
    "metrics_token",
    "ops_webhook_secret",
    "audit_checkpoint_secret",
    "smtp_password",
)


class SecretFileError(ValueError):
    """A `TRYGGHEIM_<NAME>_FILE` variable names no usable file; the message is the one line to show."""


def read_secret_file(variable: str, path: str) -> str:
    """The secret in `path` without its trailing line break; SecretFileError naming `variable` otherwise."""
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise SecretFileError(f"{variable}: secret file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"{variable}: cannot read secret file {path} ({type(exc).__name__})") from None
    if not value.strip():
        raise SecretFileError(f"{variable}: secret file {path} is empty")
    return value


def secrets_from_files(prefix: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The values of the settings whose `<prefix><NAME>_FILE` variable is set, read from their files."""
    values: dict[str, str] = {}
    for name in SECRET_FILE_SETTINGS:
        variable = f"{prefix}{name.upper()}"
        path = environ.get(f"{variable}_FILE")
        if not path:
            continue
        if environ.get(variable):
            raise SecretFileError(f"{variable}_FILE: {variable} is set as well; set only one of them")
        values[name] = read_secret_file(f"{variable}_FILE", path)
    return values


class SecretFilesSource(PydanticBaseSettingsSource):
    """A pydantic-settings source reading `SECRET_FILE_SETTINGS` from the files their variables name."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str) -> None:
        super().__init__(settings_cls)
        self._prefix = prefix

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads every file at once (the interface requires the method)."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """The settings read from files, by field name."""
        return dict(secrets_from_files(self._prefix, os.environ))
