"""`tryggheim admin audit ...`: verify the hash chains against the signed checkpoints, take a checkpoint, and
make or show the checkpoint signing key (cloud/access/anchor.py, docs/operations.md "Audit anchoring").

Output is one JSON object; `verify` exits 1 when a chain breaks or the log no longer matches a checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import psycopg
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud.access import anchor, anchor_runner, audit
from cloud.config import CloudSettings
from tryggheim.commands._startup import fail, load_settings

audit_app = typer.Typer(no_args_is_help=True, help="The audit log: its hash chains and their signed checkpoints.")
Run = Callable[[Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]], Any]


def _signing_key(settings: CloudSettings) -> Ed25519PrivateKey | None:
    try:
        return anchor_runner.signing_key(settings)
    except anchor_runner.AnchorConfigError as exc:
        fail(str(exc))


def _public_keys(given: list[str], settings: CloudSettings) -> list[Ed25519PublicKey]:
    try:
        keys = [anchor.load_public_key(text) for text in given]
    except anchor.AnchorKeyError as exc:
        fail(f"--public-key: {exc}")
    if not keys and (own := _signing_key(settings)) is not None:
        keys.append(own.public_key())
    return keys


def _key_json(key: Ed25519PublicKey) -> dict[str, str]:
    return {"public_key": anchor.encode_public_key(key), "key_id": anchor.key_id(key)}


def register(run: Run) -> list[tuple[typer.Typer, str]]:
    """The `audit` sub-command group, with `run` executing a unit of work on the service's database."""
    _verify_command(run)
    _checkpoint_commands(run)
    return [(audit_app, "audit")]


def _verify_command(run: Run) -> None:
    @audit_app.command("verify")
    def verify(
        checkpoints: Annotated[
            list[Path] | None,
            typer.Option(
                help="Checkpoint file (JSON lines) to check the log against; repeat for several. "
                "Default: TRYGGHEIM_AUDIT_CHECKPOINT_FILE."
            ),
        ] = None,
        public_key: Annotated[
            list[str] | None,
            typer.Option(
                help="Public key the checkpoints are signed with (base64 or PEM); repeat for rotated "
                "keys. Default: the configured signing key's."
            ),
        ] = None,
    ) -> None:
        """Recompute every municipality's hash chain and check it against the signed checkpoints; exit 1 and name
        each broken row, truncation, rewrite and bad checkpoint line."""
        settings = load_settings(CloudSettings)
        files = checkpoints or ([settings.audit_checkpoint_file] if settings.audit_checkpoint_file else [])
        keys = _public_keys(public_key or [], settings) if files else []
        if files and not keys:
            fail("--public-key: needed to check the checkpoints' signatures (or TRYGGHEIM_AUDIT_SIGNING_KEY)")
        try:
            loaded = anchor.read_checkpoints(files, keys)
        except OSError as exc:
            fail(f"checkpoints: cannot read {exc.filename}: {exc.strerror}")
        heads = {(cp.chain, cp.head_id) for cp in loaded.checkpoints}
        found: audit.Verification = run(lambda c: audit.verify(c, heads))
        findings = loaded.bad + anchor.compare(loaded.checkpoints, found.heads, found.ends)
        summary = None
        if files:
            summary = {"files": [str(f) for f in files], "lines": loaded.verified + len(loaded.bad),
                       "verified": loaded.verified, "distinct": len(loaded.checkpoints),
                       "key_ids": sorted({anchor.key_id(k) for k in keys})}  # fmt: skip
        print(
            json.dumps(
                {
                    "checked": found.checked,
                    "intact": not found.breaks and not findings,
                    "breaks": [
                        {
                            "id": b.id,
                            "municipality_id": str(b.municipality_id) if b.municipality_id else None,
                            "problem": b.problem,
                        }
                        for b in found.breaks
                    ],
                    "checkpoints": summary,
                    "findings": [f.as_json() for f in findings],
                }
            )
        )
        if found.breaks or findings:
            raise typer.Exit(1)


def _checkpoint_commands(run: Run) -> None:
    @audit_app.command("checkpoint")
    def checkpoint() -> None:
        """Take a signed checkpoint of every chain now and store it in the configured sinks, as the service does
        every TRYGGHEIM_AUDIT_CHECKPOINT_S seconds (for example from a host that alone holds the key)."""
        settings = load_settings(CloudSettings)
        try:
            config = anchor_runner.anchor_config(settings)
        except anchor_runner.AnchorConfigError as exc:
            fail(str(exc))
        if config is None:
            fail("TRYGGHEIM_AUDIT_SIGNING_KEY: not set (nor TRYGGHEIM_AUDIT_SIGNING_KEY_FILE)")

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[list[anchor.Checkpoint] | None, list[str]]:
            async with httpx.AsyncClient(timeout=anchor_runner.WEBHOOK_TIMEOUT_S) as client:
                return await anchor_runner.checkpoint(conn, config, client, wait=True)

        taken, errors = run(work)
        print(json.dumps({
            "checkpoints": [{"chain": cp.fields()["chain"], "head_id": cp.head_id, "count": cp.count}
                            for cp in taken or []],
            "key_id": anchor.key_id(config.key.public_key()), "errors": errors,
        }))  # fmt: skip
        if errors:
            raise typer.Exit(1)

    @audit_app.command("keygen")
    def keygen(
        out: Annotated[
            Path | None, typer.Option(help="Write the private key to this new file (mode 0600) instead of stdout.")
        ] = None,
    ) -> None:
        """Make a checkpoint signing key (Ed25519). Keep it off the database host; give the public key to
        whoever runs `verify`."""
        key = Ed25519PrivateKey.generate()
        public = _key_json(key.public_key())
        if out is None:
            print(json.dumps({"private_key": anchor.encode_private_key(key), **public}))
            return
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            fail(f"--out: {out} exists; a key is never overwritten")
        except OSError as exc:
            fail(f"--out: cannot create {out}: {exc.strerror}")
        with os.fdopen(fd, "w") as file:
            file.write(anchor.encode_private_key(key) + "\n")
        print(json.dumps({"key_file": str(out), **public}))

    @audit_app.command("public-key")
    def public_key() -> None:
        """The public key of the configured signing key (TRYGGHEIM_AUDIT_SIGNING_KEY or _FILE)."""
        key = _signing_key(load_settings(CloudSettings))
        if key is None:
            fail("TRYGGHEIM_AUDIT_SIGNING_KEY: not set (nor TRYGGHEIM_AUDIT_SIGNING_KEY_FILE)")
        print(json.dumps(_key_json(key.public_key())))
