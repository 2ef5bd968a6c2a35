"""At most one upload in flight per gateway in this process.

The edge agent sends one batch at a time, so a second concurrent upload with the same credential is a
retry racing a dead connection or someone else holding the credential. Refusing it at once (429) bounds what
one credential can hold however many sockets it opens: one body being read, then one database connection.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from fastapi import HTTPException


class UploadSlots:
    """The gateways with an upload in flight, each with the loop time its body must have arrived by."""

    def __init__(self) -> None:
        self._reading_until: dict[UUID, float] = {}

    @contextmanager
    def hold(self, gateway_id: UUID, now: float, body_deadline: float) -> Iterator[None]:
        """Hold the gateway's slot for the block, or raise 429 with Retry-After: the time the upload in flight
        still has for its body (1 s once it has it and is being stored)."""
        until = self._reading_until.get(gateway_id)
        if until is not None:
            wait = max(1, math.ceil(until - now))
            detail = "This gateway already has an upload in flight; retry when it has finished."
            raise HTTPException(429, detail, {"Retry-After": str(wait)})
        self._reading_until[gateway_id] = body_deadline
        try:
            yield
        finally:
            del self._reading_until[gateway_id]

    def body_read(self, gateway_id: UUID, now: float) -> None:
        """The upload in flight has its whole body; what is left is quick."""
        self._reading_until[gateway_id] = now
