"""Enrolment: exchange the installer's one-time code for this gateway's credential and write the config.

The credential is written to its own file created with mode 0600 (never world-readable, not even briefly),
and the config file names it; the code is useless afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from edge.config import toml_text
from edge.http import check_url, tls_context


class EnrolmentError(RuntimeError):
    """The cloud refused the code, or could not be reached."""


# The cloud's answer while the code waits for the installer to confirm the home on the enrolment page.
WAITING = 409


def _exchange(base: str, code: str, ca_file: Path | None, wait_s: float, every_s: float,
              on_wait: Callable[[str], None]) -> httpx.Response:  # fmt: skip
    """POST the code; while the cloud answers "waiting for the installer's confirmation", ask again every
    `every_s` seconds for at most `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            response = httpx.post(f"{base}/api/v1/gateways/enrol", json={"code": code},
                                  verify=tls_context(ca_file), timeout=30)  # fmt: skip
        except httpx.HTTPError as exc:
            raise EnrolmentError(f"cannot reach {base}: {exc}") from exc
        if response.status_code != WAITING or time.monotonic() + every_s > deadline:
            return response
        if not told:
            on_wait("waiting for the installer to confirm the home on the enrolment page ...")
            told = True
        time.sleep(every_s)


def write_secret(path: Path, text: str) -> None:
    """Write `text` to a file readable only by its owner (created 0600, then replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def enrol(cloud_url: str, code: str, config_path: Path, *, insecure_dev: bool = False,
          ca_file: Path | None = None, wait_s: float = 0, every_s: float = 3,
          on_wait: Callable[[str], None] = lambda _: None) -> str:  # fmt: skip
    """Enrol and write `config_path` (plus `credential` and the outbox location beside it); returns the id.
    While the code waits for the installer's confirmation, ask again for up to `wait_s` seconds."""
    base = check_url(cloud_url, insecure_dev)
    response = _exchange(base, code, ca_file, wait_s, every_s, on_wait)
    if response.status_code != 201:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise EnrolmentError(f"the cloud refused the code ({response.status_code}): {str(detail)[:200]}")
    body = response.json()
    directory = config_path.parent
    credential_file = directory / "credential"
    write_secret(credential_file, body["credential"])
    values: dict[str, object] = {
        "cloud_url": base,
        "gateway_id": body["gateway_id"],
        "credential_file": str(credential_file),
        "outbox_path": str(directory / "outbox.db"),
        "insecure_dev": insecure_dev,
    }
    if ca_file is not None:
        values["ca_file"] = str(ca_file.resolve())
    config_path.write_text(toml_text(values), encoding="utf-8")
    return str(body["gateway_id"])
