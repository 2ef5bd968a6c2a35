"""Taking audit checkpoints on a schedule and storing them outside the database.

With a signing key configured, every replica runs an APScheduler 3 job (in-memory job store, one per process)
that takes checkpoints of all chains every `audit_checkpoint_s` seconds and at start-up (cloud/access/anchor.py)
and writes them to the configured sinks: a JSON-lines file opened for appending and fsync'd, and a webhook
(POST of the same lines, signed like the notification webhooks). A tick that finds another replica taking
checkpoints skips; replicas that tick one after the other each write a line per chain, which verify treats as
the same claim. A sink that fails is logged and the next tick writes again: a later checkpoint covers every
earlier row, so a lost one only widens the window in which tampering goes unnoticed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from cloud.access.anchor import AnchorKeyError, Checkpoint, key_id, load_private_key, take
from cloud.background import stop_background
from cloud.config import CloudSettings
from cloud.notify import DeliveryError
from cloud.notify.webhook import post_signed

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 10.0
CONTENT_TYPE = "application/x-ndjson"


class AnchorConfigError(Exception):
    """Anchoring is configured but cannot work; the message is one line naming the variable."""


@dataclass(frozen=True)
class AnchorConfig:
    """A usable anchoring configuration: the key and at least one sink."""

    key: Ed25519PrivateKey
    file: Path | None
    url: str | None
    secret: str | None
    every_s: float


def signing_key(settings: CloudSettings) -> Ed25519PrivateKey | None:
    """The configured signing key (from the variable or the key file), or None when neither is set."""
    if settings.audit_signing_key is not None and settings.audit_signing_key_file is not None:
        raise AnchorConfigError(
            "TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: TRYGGHEIM_AUDIT_SIGNING_KEY is set as well; keep one of them"
        )
    if settings.audit_signing_key is not None:
        return load_private_key(settings.audit_signing_key.get_secret_value())
    if settings.audit_signing_key_file is None:
        return None
    path = settings.audit_signing_key_file
    try:
        return load_private_key(path.read_text())
    except OSError as exc:
        raise AnchorConfigError(f"TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AnchorConfigError(f"TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: {path} is not a text key file") from None
    except AnchorKeyError as exc:
        raise AnchorConfigError(f"TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: {exc}") from None


def anchor_config(settings: CloudSettings) -> AnchorConfig | None:
    """The anchoring configuration, or None when no signing key is set (anchoring off). Raises
    AnchorConfigError when a key has no sink, a sink has no key, or the file sink cannot be appended to."""
    key = signing_key(settings)
    file, url = settings.audit_checkpoint_file, settings.audit_checkpoint_url
    if key is None:
        if file or url:
            variable = "TRYGGHEIM_AUDIT_CHECKPOINT_FILE" if file else "TRYGGHEIM_AUDIT_CHECKPOINT_URL"
            raise AnchorConfigError(f"{variable}: set, but no signing key (TRYGGHEIM_AUDIT_SIGNING_KEY or _FILE)")
        return None
    if not file and not url:
        raise AnchorConfigError(
            "TRYGGHEIM_AUDIT_SIGNING_KEY: set, but no sink for the checkpoints "
            "(TRYGGHEIM_AUDIT_CHECKPOINT_FILE and/or TRYGGHEIM_AUDIT_CHECKPOINT_URL)"
        )
    if url and settings.audit_checkpoint_secret is None:
        raise AnchorConfigError("TRYGGHEIM_AUDIT_CHECKPOINT_SECRET: needed to sign the POSTs to the checkpoint URL")
    if file:
        try:
            append(file, [])
        except OSError as exc:
            raise AnchorConfigError(
                f"TRYGGHEIM_AUDIT_CHECKPOINT_FILE: cannot append to {file}: {exc.strerror}"
            ) from None
    secret = settings.audit_checkpoint_secret
    return AnchorConfig(key, file, url, secret.get_secret_value() if secret else None, settings.audit_checkpoint_s)


def append(path: Path, lines: Sequence[str]) -> None:
    """Append the lines in one write on a descriptor opened with O_APPEND, and fsync before returning, so a
    checkpoint reported as written survives a crash and concurrent writers never overwrite each other."""
    data = "".join(f"{line}\n" for line in lines).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


async def emit(config: AnchorConfig, checkpoints: Sequence[Checkpoint], client: httpx.AsyncClient) -> list[str]:
    """Write signed checkpoints to every configured sink; returns one line per sink that failed."""
    if not checkpoints:
        return []
    lines = [cp.signed_line(config.key) for cp in checkpoints]
    errors: list[str] = []
    if config.file:
        try:
            await asyncio.to_thread(append, config.file, lines)
        except OSError as exc:
            errors.append(f"TRYGGHEIM_AUDIT_CHECKPOINT_FILE: {exc}")
    if config.url and config.secret:
        body = "".join(f"{line}\n" for line in lines).encode()
        idempotency_key = "audit-checkpoint-" + hashlib.sha256(body).hexdigest()[:32]
        try:
            await post_signed(client, config.url, config.secret, idempotency_key, body, CONTENT_TYPE)
        except DeliveryError as exc:
            errors.append(f"TRYGGHEIM_AUDIT_CHECKPOINT_URL: {exc}")
    return errors


async def checkpoint(
    conn: AsyncConnection[Any], config: AnchorConfig, client: httpx.AsyncClient, *, wait: bool = False
) -> tuple[list[Checkpoint] | None, list[str]]:
    """Take checkpoints of every chain and store them: (checkpoints, or None when another process is taking
    them right now and `wait` is false; one line per sink that failed)."""
    checkpoints = await take(conn, config.key, wait=wait)
    return checkpoints, await emit(config, checkpoints or [], client)


class AnchorRunner:
    """Start with `start()` inside the running event loop; `stop()` ends the schedule."""

    def __init__(self, pool: AsyncConnectionPool, config: AnchorConfig) -> None:
        self.pool = pool
        self.config = config
        self.written = 0  # checkpoints stored by this process (every sink that worked)
        self._http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S)
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Take checkpoints now and then every `every_s` seconds."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.config.every_s, next_run_time=datetime.now(UTC), coalesce=True,
            max_instances=1, misfire_grace_time=max(1, int(self.config.every_s)),
        )  # fmt: skip
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the schedule (a tick in flight finishes or is abandoned with the event loop)."""
        await stop_background(self._scheduler, [], "audit anchoring")
        await self._http.aclose()

    async def tick(self) -> None:
        """One scheduled checkpoint; failures are logged and the next tick tries again."""
        try:
            async with self.pool.connection() as conn:
                checkpoints, errors = await checkpoint(conn, self.config, self._http)
        except (psycopg.Error, OSError):
            log.exception("audit checkpoint failed; the next tick retries")
            return
        for error in errors:
            log.error("audit checkpoint not stored: %s", error)
        if checkpoints and not errors:
            self.written += len(checkpoints)


async def start_anchoring(pool: AsyncConnectionPool, settings: CloudSettings) -> AnchorRunner | None:
    """Start the checkpoint schedule when a signing key is configured; say in the log when it is not."""
    config = anchor_config(settings)
    if config is None:
        log.warning(
            "audit anchoring is off: TRYGGHEIM_AUDIT_SIGNING_KEY is not set, so the audit log is not checkpointed "
            "outside the database (docs/operations.md, Audit anchoring)"
        )
        return None
    runner = AnchorRunner(pool, config)
    await runner.start()
    log.info(
        "audit anchoring on",
        extra={"key_id": key_id(config.key.public_key()), "file": str(config.file or ""),
               "webhook": bool(config.url), "every_s": config.every_s},
    )  # fmt: skip
    return runner
