"""Test accounts are hashed cheaply, and only they: the service keeps argon2-cffi's default parameters, and a
cheap hash verifies with the service's own verifier because an argon2 hash carries its parameters."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, extract_parameters

from cloud.access.secrets import PasswordPool, verify_password
from tests.support.tenants import PASSWORD, TEST_PASSWORDS


def test_the_service_hashes_with_the_librarys_default_parameters() -> None:
    stored = asyncio.run(PasswordPool(threads=1, queue=1).hash(PASSWORD))
    assert extract_parameters(stored) == extract_parameters(PasswordHasher().hash(PASSWORD))
    assert extract_parameters(stored).memory_cost >= 65536


def test_a_cheap_test_hash_verifies_with_the_service_verifier() -> None:
    stored = asyncio.run(TEST_PASSWORDS.hash(PASSWORD))
    assert extract_parameters(stored).time_cost == 1
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
