"""Registry errors carry the HTTP status they map to, so the API and the CLI report the same message."""

from __future__ import annotations


class RegistryError(ValueError):
    """A change the registry refuses as invalid input (422); the message says why."""

    status = 422


class NotFoundError(RegistryError):
    """The named record does not exist in the caller's municipality (404: existence elsewhere never leaks)."""

    status = 404


class ConflictError(RegistryError):
    """The change contradicts what is recorded (409), e.g. overlapping validity periods."""

    status = 409
