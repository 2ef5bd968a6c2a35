"""The one HTTPS client the agent uses: certificates verified, `http://` only with `--insecure-dev`."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx


class InsecureURLError(ValueError):
    """The cloud URL is plain http and insecure development mode is off."""


def check_url(url: str, insecure_dev: bool) -> str:
    """The URL without a trailing slash; refuses anything but https unless `insecure_dev`."""
    scheme = httpx.URL(url).scheme
    if scheme == "http" and not insecure_dev:
        raise InsecureURLError(f"{url} is not HTTPS; readings about people are only sent encrypted "
                               "(use --insecure-dev on a development machine)")  # fmt: skip
    if scheme not in ("http", "https"):
        raise InsecureURLError(f"{url}: the cloud URL must start with https://")
    return url.rstrip("/")


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system trust store, plus `ca_file` when a municipality runs its own PKI (and in tests)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def make_client(base_url: str, *, insecure_dev: bool, ca_file: Path | None, credential: str | None,
                timeout_s: float = 30.0) -> httpx.AsyncClient:  # fmt: skip
    """An async client bound to the cloud; carries the gateway's bearer credential when given."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return httpx.AsyncClient(
        base_url=check_url(base_url, insecure_dev),
        verify=tls_context(ca_file),
        headers=headers,
        timeout=timeout_s,
    )
