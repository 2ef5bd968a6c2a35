"""Anchoring the audit chains outside the database: signed checkpoints of each chain's head.

The hash chain (cloud/access/audit.py) shows an edit or a gap inside the log, but whoever owns the database
can delete the newest rows, or edit a row and recompute every hash after it, and the chain still holds. A
checkpoint records, per chain, the newest row (id and hash) and the number of rows up to it, signed with an
Ed25519 key the database never holds, and goes to sinks outside the database (cloud/access/anchor_runner.py).
`tryggheim admin audit verify --checkpoints FILE` then compares the log with every checkpoint: a head row
that is gone or fewer rows up to it is a truncation, a different hash at the head (or extra rows before it)
is a rewrite. Tampering after the last checkpoint, before the next one, stays invisible: docs/operations.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access.audit import ChainPosition

FORMAT = 1
# Domain separation: a signature over a checkpoint can never be mistaken for one over anything else.
_SIGNED_PREFIX = b"tryggheim-audit-checkpoint\n"
_FIELDS = {"v", "chain", "head_id", "head_hash", "count", "at", "key_id"}
_LOCK = "audit:checkpoint"
FindingKind = Literal["bad_signature", "truncated", "rewritten"]


class AnchorKeyError(ValueError):
    """A key that cannot be read; the message says why in one line."""


def load_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from base64 of its 32 raw bytes (`tryggheim admin audit keygen`) or PEM
    (`openssl genpkey -algorithm ed25519`)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise AnchorKeyError(f"not a readable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AnchorKeyError(f"a PEM {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw32(text, "private"))


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64 of its 32 raw bytes (`tryggheim admin audit public-key`) or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise AnchorKeyError(f"not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise AnchorKeyError("a PEM public key, but not an Ed25519 one")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw32(text, "public"))


def _raw32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise AnchorKeyError(f"not an Ed25519 {what} key: expected base64 of 32 bytes or PEM")
    return raw


def encode_private_key(key: Ed25519PrivateKey) -> str:
    """The key as `load_private_key` reads it (base64 of the 32 raw bytes)."""
    return base64.b64encode(key.private_bytes_raw()).decode()


def encode_public_key(key: Ed25519PublicKey) -> str:
    """The key as `load_public_key` reads it (base64 of the 32 raw bytes)."""
    return base64.b64encode(key.public_bytes_raw()).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key in each checkpoint, so a verifier with several keys picks the right one."""
    return hashlib.sha256(key.public_bytes_raw()).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """One chain's state at one moment: its newest row and the number of rows up to it."""

    chain: UUID | None
    head_id: int
    head_hash: bytes
    count: int
    at: datetime
    key_id: str
    source: str = ""  # where it was read from (`file:line`), for reports

    def fields(self) -> dict[str, Any]:
        """The signed content, JSON-safe."""
        return {
            "v": FORMAT,
            "chain": str(self.chain) if self.chain else None,
            "head_id": self.head_id,
            "head_hash": self.head_hash.hex(),
            "count": self.count,
            "at": self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "key_id": self.key_id,
        }

    def signed_line(self, key: Ed25519PrivateKey) -> str:
        """The JSON line the sinks store: the fields plus `signature` (base64 Ed25519 over them)."""
        fields = self.fields()
        return json.dumps({**fields, "signature": base64.b64encode(key.sign(_signed(fields))).decode()})


def _signed(fields: Mapping[str, Any]) -> bytes:
    return _SIGNED_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Finding:
    """Something a checkpoint says that the log no longer matches, or a checkpoint that cannot be trusted."""

    kind: FindingKind
    source: str
    problem: str
    chain: UUID | None = None
    head_id: int | None = None
    at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """For `tryggheim admin audit verify`."""
        return {
            "kind": self.kind,
            "chain": str(self.chain) if self.chain else None,
            "head_id": self.head_id,
            "checkpoint_at": self.at.isoformat() if self.at else None,
            "source": self.source,
            "problem": self.problem,
        }


async def take(conn: AsyncConnection[Any], key: Ed25519PrivateKey, *, wait: bool = False) -> list[Checkpoint] | None:
    """Checkpoints of every chain from one snapshot, or None when another replica is taking them right now
    and `wait` is false (its checkpoints serve; duplicates from replicas that tick one after the other are
    harmless)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        if wait:
            await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_LOCK,))
        else:
            await cur.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS mine", (_LOCK,))
            locked = await cur.fetchone()
            if not (locked and locked["mine"]):
                return None
        # One statement, one snapshot: each chain's count and head belong together. Appends to a chain are
        # serialised and take their id under its lock, so a row still being written has a higher id than
        # any head seen here.
        await cur.execute(
            "SELECT c.municipality_id, c.head_id, c.rows, a.hash FROM ("
            "  SELECT municipality_id, max(id) AS head_id, count(*) AS rows FROM audit_log GROUP BY municipality_id"
            ") c JOIN audit_log a ON a.id = c.head_id ORDER BY c.municipality_id NULLS FIRST"
        )
        heads = await cur.fetchall()
    at = datetime.now(UTC)
    kid = key_id(key.public_key())
    return [Checkpoint(h["municipality_id"], h["head_id"], bytes(h["hash"]), h["rows"], at, kid) for h in heads]


@dataclass
class Loaded:
    """What the checkpoint files hold: each distinct signed claim once (its first line), the number of lines
    whose signature verified, and a finding for every line that did not."""

    checkpoints: list[Checkpoint]
    verified: int
    bad: list[Finding]


def read_checkpoints(paths: Sequence[Path], keys: Iterable[Ed25519PublicKey]) -> Loaded:
    """Read and check every line of the checkpoint files. The same state checkpointed again (by another
    replica, or with nothing new in the chain) is kept once, so memory follows the chains' activity, not
    the number of ticks."""
    by_id = {key_id(k): k for k in keys}
    claims: dict[tuple[UUID | None, int, bytes, int], Checkpoint] = {}
    loaded = Loaded([], 0, [])
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                source = f"{path}:{number}"
                try:
                    cp = _parse(line, by_id, source)
                except ValueError as exc:
                    loaded.bad.append(Finding("bad_signature", source, str(exc)))
                    continue
                loaded.verified += 1
                claims.setdefault((cp.chain, cp.head_id, cp.head_hash, cp.count), cp)
    loaded.checkpoints = list(claims.values())
    return loaded


def _parse(line: str, keys: Mapping[str, Ed25519PublicKey], source: str) -> Checkpoint:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError("not a checkpoint: the line is not JSON") from None
    if not isinstance(data, dict) or set(data) != _FIELDS | {"signature"}:
        raise ValueError("not a checkpoint: unexpected fields")
    signature = data.pop("signature")
    key = keys.get(data["key_id"]) if isinstance(data["key_id"], str) else None
    if key is None:
        raise ValueError(f"signed with key {data['key_id']!r}, not one of the public keys given")
    try:
        key.verify(base64.b64decode(str(signature), validate=True), _signed(data))
    except (InvalidSignature, binascii.Error):
        raise ValueError("the signature does not verify: the line was altered or forged") from None
    # Signed by us, so the shape is ours; a failure here means a format this version does not know.
    if data["v"] != FORMAT:
        raise ValueError(f"checkpoint format {data['v']!r}, this version reads {FORMAT}")
    return Checkpoint(
        chain=UUID(data["chain"]) if data["chain"] else None,
        head_id=int(data["head_id"]),
        head_hash=bytes.fromhex(data["head_hash"]),
        count=int(data["count"]),
        at=datetime.fromisoformat(data["at"]),
        key_id=data["key_id"],
        source=source,
    )


def compare(
    checkpoints: Iterable[Checkpoint], heads: Mapping[tuple[UUID | None, int], ChainPosition],
    chains: Mapping[UUID | None, ChainPosition],
) -> list[Finding]:  # fmt: skip
    """Check each checkpoint against the log as `audit.verify` found it (`heads`: where each checkpointed
    head row now stands in its chain; `chains`: each chain's current end)."""
    findings: list[Finding] = []
    for cp in checkpoints:

        def found(kind: FindingKind, problem: str, cp: Checkpoint = cp) -> None:
            findings.append(Finding(kind, cp.source, problem, cp.chain, cp.head_id, cp.at))

        now = heads.get((cp.chain, cp.head_id))
        if now is None:
            end = chains.get(cp.chain)
            tail = f"the chain now ends at row {end.id} with {end.position} rows" if end else "the chain is empty"
            found("truncated", f"row {cp.head_id}, the chain's head with {cp.count} rows at the checkpoint, "
                  f"is gone; {tail}")  # fmt: skip
            continue
        if now.position < cp.count:
            found("truncated", f"{cp.count - now.position} rows up to row {cp.head_id} are gone "
                  f"({now.position} now, {cp.count} at the checkpoint)")  # fmt: skip
        elif now.position > cp.count:
            found("rewritten", f"{now.position - cp.count} rows were inserted before row {cp.head_id} "
                  f"({now.position} now, {cp.count} at the checkpoint)")  # fmt: skip
        if now.hash != cp.head_hash:
            found("rewritten", f"row {cp.head_id} has hash {now.hash.hex()[:16]}..., the checkpoint "
                  f"{cp.head_hash.hex()[:16]}...: the chain up to it was recomputed")  # fmt: skip
    return findings
