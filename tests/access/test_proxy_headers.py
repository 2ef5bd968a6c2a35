"""X-Forwarded-For is believed only from configured proxies (issue 17, finding 5), against a real service.

The probe rotated `X-Forwarded-For` from loopback, which uvicorn trusted by default, and the sign-in and
enrolment-code throttles, which count per client address, never engaged.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator

import httpx
import pytest

from cloud.access.throttle import ThrottleRules
from cloud.gateways import credentials
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase

_ADDRESSES = (f"198.51.100.{n}" for n in itertools.count(1))


def _forged() -> dict[str, str]:
    """A new forged client address on every call."""
    return {"X-Forwarded-For": next(_ADDRESSES)}


def _wrong_codes(client: httpx.Client, attempts: int) -> list[int]:
    return [
        client.post("/api/v1/gateways/enrol", json={"code": "AAAA-BBBB-CCCC"}, headers=_forged()).status_code
        for _ in range(attempts)
    ]


@pytest.fixture(scope="module")
def untrusting(access_db: TestDatabase) -> Iterator[httpx.Client]:
    """A service with the default: no trusted proxies."""
    with cloud_serve(access_db.runtime_url, TRYGGHEIM_AUTH_MODE="local") as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.mark.slow
def test_a_forged_address_does_not_escape_the_sign_in_throttle(untrusting: httpx.Client) -> None:
    # One user from one (real) address: after the free failures the pair waits. Were each forged address
    # believed, every attempt would be a new pair and none would be throttled.
    free = ThrottleRules().free_failures
    user = f"nobody.{secrets.token_hex(3)}"
    statuses = [
        untrusting.post("/auth/login", json={"username": user, "password": "wrong"}, headers=_forged()).status_code
        for _ in range(free + 1)
    ]
    assert statuses == [401] * free + [429], statuses


@pytest.mark.slow
def test_a_forged_address_does_not_escape_the_enrolment_throttle(untrusting: httpx.Client) -> None:
    statuses = _wrong_codes(untrusting, credentials.MAX_FAILURES_PER_CLIENT + 1)
    assert statuses == [400] * credentials.MAX_FAILURES_PER_CLIENT + [429], statuses


@pytest.mark.slow
def test_a_configured_proxy_is_believed(access_db: TestDatabase) -> None:
    with (
        cloud_serve(access_db.runtime_url, TRYGGHEIM_TRUSTED_PROXIES="127.0.0.0/8, ::1") as url,
        httpx.Client(base_url=url) as client,
    ):
        # Every attempt comes from another client as the proxy reports it, so none is throttled.
        assert _wrong_codes(client, credentials.MAX_FAILURES_PER_CLIENT + 1) == [400] * (
            credentials.MAX_FAILURES_PER_CLIENT + 1
        )
