"""Passwords (argon2id) and opaque tokens (stored only as SHA-256)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_T = TypeVar("_T")
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that a wrong user name costs as much time as a wrong
    password (no user enumeration by timing). Made on first use: at import it cost every CLI process 0.1 s."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash with the library's current parameters."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one argon2 verification."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class PasswordCheckBusy(Exception):  # noqa: N818 - reads as a state, not an error
    """More sign-ins are under way than the pool admits; the caller answers 503 at once."""


class PasswordPool:
    """argon2 off the event loop: one check costs a noticeable slice of CPU, and on the loop parallel sign-ins
    stalled `/healthz` (docs/benchmarks.md). argon2-cffi releases the GIL, so a few threads hash while the loop
    keeps serving. At most `threads + queue` sign-ins are under way at once (`admitted`); the next is refused at
    once instead of queueing without bound.

    `hasher` sets the parameters of new hashes (the library's current ones unless given); verification reads
    the parameters from the stored hash, so hashes made with other parameters still verify. Only the test
    fixtures pass cheap parameters, explicitly, so production has no switch that could weaken them."""

    def __init__(self, threads: int, queue: int, hasher: PasswordHasher = _HASHER) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._hasher = hasher
        self._capacity = threads + queue
        self._admitted = 0

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Hold one of the places for the whole of a sign-in; raise `PasswordCheckBusy` when none is free."""
        if self._admitted >= self._capacity:
            raise PasswordCheckBusy
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """`verify_password` in a pool thread (call while `admitted`)."""
        return await self._run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        """An argon2id hash with the pool's parameters, in a pool thread."""
        async with self.admitted():
            return await self._run(self._hasher.hash, password)

    async def _run(self, function: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


def new_token() -> str:
    """A fresh opaque secret for a session cookie, CSRF token or API token."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the database stores instead of the token."""
    return hashlib.sha256(token.encode()).digest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
