"""Webhook signing secrets at rest: sealed with Fernet (cryptography) under `TRYGGHEIM_SECRETS_KEY`.

The outbox needs the secret itself to sign, so it cannot be hashed. Sealed, a copy of the database (a backup,
a dump handed to support) does not let anyone forge alerts to a response centre. The key is a comma-separated
list: new secrets are sealed with the first key, and any listed key opens, so a key is rotated by putting the
new one first and setting the endpoints again before the old one is dropped. Without a key, secrets are
stored as given (the demo and tests), and values stored that way keep working after a key is set.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"


class SealError(ValueError):
    """A sealed secret that cannot be opened; the message says why."""


def check_keys(keys: str) -> None:
    """Raise ValueError naming the first malformed key (for the settings' start-up check)."""
    for number, key in enumerate(keys.split(","), start=1):
        try:
            Fernet(key.strip())
        except ValueError:
            raise ValueError(
                f"key {number} is not a Fernet key (32 url-safe base64 bytes; make one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
            ) from None


class SecretBox:
    """Seals and opens secrets with the configured keys (or passes them through when there are none)."""

    def __init__(self, keys: str | None) -> None:
        self._fernet = MultiFernet([Fernet(key.strip()) for key in keys.split(",")]) if keys else None

    def seal(self, secret: str) -> str:
        """What to store for `secret`."""
        if self._fernet is None:
            return secret
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str | None) -> str | None:
        """The secret behind a stored value (unsealed values are returned as they are)."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise SealError("the endpoint's secret is sealed, and TRYGGHEIM_SECRETS_KEY is not set on this process")
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SealError("the endpoint's secret was sealed with a key TRYGGHEIM_SECRETS_KEY does not list") from None
