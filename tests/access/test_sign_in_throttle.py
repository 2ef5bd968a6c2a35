"""Finding 4 of issue 17: the sign-in throttle is no lever to lock the real user out, counts exactly under
parallel attempts, and password checks do not stall the event loop. Against a real `tryggheim cloud serve`,
with clients bound to distinct loopback addresses (tests/access/live_server.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher

from cloud.access.roles import STAFF_ROLES
from tests.access.live_server import SERVER_SETTINGS, client_from, new_staff, servers, sign_in
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants

pytestmark = pytest.mark.slow
FREE_FAILURES = 5  # TRYGGHEIM_LOGIN_FREE_FAILURES default
ACCOUNT_FAILURES = int(SERVER_SETTINGS["TRYGGHEIM_LOGIN_ACCOUNT_FAILURES"])
CLIENT_FAILURES = int(SERVER_SETTINGS["TRYGGHEIM_LOGIN_CLIENT_FAILURES"])
# The probe found 1.4 s stalls with argon2 on the event loop. Latency bounds alone cannot tell the two designs
# apart on every machine (on an idle one, hashing on the loop gave a p99 of 0.23 s; with the hashing in threads,
# a busy test machine gave 0.29 s), so the test also compares the median probe with the cost of one check.
HEALTHZ_P99_S = 1.0


# Sign-ins under way at once: two password threads and 14 waiting (the default 64 would make the healthz test
# wait for 60 password checks on a busy test machine; fewer places also show the refusal of the excess).
ADMITTED = 16


@pytest.fixture(scope="module")
def server(access_db: TestDatabase, tenants: Tenants) -> Iterator[str]:
    with servers(access_db.runtime_url, 1, TRYGGHEIM_LOGIN_HASH_QUEUE=str(ADMITTED - 2)) as (url,):
        yield url


def _statuses(client: httpx.Client, username: str, password: str, attempts: int) -> Counter[int]:
    with ThreadPoolExecutor(attempts) as pool:
        return Counter(pool.map(lambda _: sign_in(client, username, password).status_code, range(attempts)))


def _timed_sign_in(client: httpx.Client, username: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = sign_in(client, username).status_code
    return status, time.perf_counter() - started


def _throttle_rows(url: str, username: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT client, failures FROM login_throttle WHERE username = %s", (username,))
        return {client: failures for client, failures in rows}


def _lockouts(url: str, action: str, needle: str) -> list[tuple[object, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT municipality_id, resource FROM audit_log WHERE action = %s AND resource LIKE %s",
            (action, f"%{needle}%"),
        )
        return list(rows)


def test_the_real_password_works_during_an_attack(server: str, access_db: TestDatabase, tenants: Tenants) -> None:
    url = access_db.runtime_url
    _, victim = new_staff(url, tenants.a)
    with client_from("127.0.0.2", server) as attacker, client_from("127.0.0.3", server) as victims_pc:
        # 40 parallel guesses: exactly the free attempts reach a password check; of the rest, those admitted at
        # once are throttled unchecked and the others refused as excess (503) before they count at all.
        statuses = _statuses(attacker, victim, "guess", 40)
        assert statuses[401] == FREE_FAILURES and statuses[429] + statuses[503] == 40 - FREE_FAILURES, statuses
        assert statuses[401] + statuses[429] >= ADMITTED
        assert _throttle_rows(url, victim) == {"127.0.0.2": FREE_FAILURES}
        refused = sign_in(attacker, victim, "guess")
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 30
        # Even the right password waits on the attacker's address, but the real user elsewhere signs in at once.
        assert sign_in(attacker, victim).status_code == 429
        assert sign_in(victims_pc, victim).status_code == 200
        assert _lockouts(url, "auth.throttle.pair", f"user {victim} from 127.0.0.2") == [
            (tenants.a.municipality_id, f"user {victim} from 127.0.0.2: 5 failures, waits 0:00:30")
        ]

        # Guessing from more addresses reaches the account's limit: addresses that failed for this user and
        # never signed in as them are refused; the real user's known address and a fresh one are not.
        more = [client_from(f"127.0.0.{n}", server) for n in (4, 5)]
        try:
            for _ in range(ACCOUNT_FAILURES - FREE_FAILURES):  # 5 + 3 = the account's limit
                assert sign_in(more[0], victim, "guess").status_code == 401
            assert sign_in(more[0], victim, "guess").status_code == 429
            # A new address gets one attempt, even sent in parallel, and then waits.
            assert _statuses(more[1], victim, "guess", 3) == Counter({401: 1, 429: 2})
            assert sign_in(more[1], victim, "guess").status_code == 429
            assert sign_in(victims_pc, victim).status_code == 200
            with client_from("127.0.0.7", server) as new_device:
                assert sign_in(new_device, victim).status_code == 200
        finally:
            for client in more:
                client.close()
    assert sum(_throttle_rows(url, victim).values()) == ACCOUNT_FAILURES + 1
    assert len(_lockouts(url, "auth.throttle.account", f"user {victim}:")) == 1


def test_a_shared_address_stays_open_to_its_known_users(server: str, access_db: TestDatabase, tenants: Tenants) -> None:
    """A care home's address, with someone guessing at many accounts from it: the staff who sign in there keep
    signing in; only accounts never used from there are refused until the window passes."""
    url = access_db.runtime_url
    _, regular = new_staff(url, tenants.b)
    _, newcomer = new_staff(url, tenants.b)
    with client_from("127.0.0.9", server) as shared:
        assert sign_in(shared, regular).status_code == 200
        with ThreadPoolExecutor(CLIENT_FAILURES) as pool:
            sprayed = list(
                pool.map(lambda n: sign_in(shared, f"nobody.{n}", "guess").status_code, range(CLIENT_FAILURES))
            )
        assert sprayed == [401] * CLIENT_FAILURES
        assert sign_in(shared, "nobody.else", "guess").status_code == 429
        assert sign_in(shared, newcomer).status_code == 429
        assert sign_in(shared, regular).status_code == 200
    assert len(_lockouts(url, "auth.throttle.client", "client 127.0.0.9:")) == 1


def _production_cost_passwords(url: str, usernames: list[str]) -> float:
    """Give these accounts a hash with the service's own argon2 parameters (the test accounts are hashed cheaply,
    and a sign-in must cost here what it costs in production); return the median seconds of one check."""
    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE staff SET password_hash = %s WHERE username = ANY(%s)", (stored, usernames))
    costs = []
    for _ in range(3):
        started = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        costs.append(time.perf_counter() - started)
    return sorted(costs)[1]


def test_healthz_stays_fast_during_60_parallel_sign_ins(server: str, access_db: TestDatabase, tenants: Tenants) -> None:
    users = [tenant.usernames[role] for tenant, role in product((tenants.a, tenants.b), sorted(STAFF_ROLES))]
    check_s = _production_cost_passwords(access_db.owner_url, users)
    clients = [client_from(f"127.0.1.{n}", server) for n in range(1, 6)]
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server, timeout=10) as prober:
            while not done.is_set():
                started = time.perf_counter()
                assert prober.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        with ThreadPoolExecutor(60) as pool:
            answers = list(pool.map(lambda pair: _timed_sign_in(*pair), product(clients, users)))
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        prober.join()
        for client in clients:
            client.close()
    statuses = Counter(status for status, _ in answers)
    slowest_refusal = max((seconds for status, seconds in answers if status == 503), default=0.0)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    p50 = latencies[len(latencies) // 2]
    print(f"\n60 sign-ins ({dict(statuses)}) in {elapsed:.2f} s, slowest 503 {slowest_refusal * 1000:.0f} ms; "
          f"/healthz p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
          f"over {len(latencies)} probes")  # fmt: skip
    assert set(statuses) <= {200, 503} and statuses[200] >= ADMITTED, statuses
    assert p99 < HEALTHZ_P99_S
    # With the checks on the loop, a probe mostly waits behind one (the median was 105 ms for a 100 ms check);
    # in threads it waits for none (4 ms).
    assert p50 < check_s / 2, (p50, check_s)
    # The excess is told to come back at once rather than queueing behind 44 more password checks (several
    # seconds); the bound leaves room for a loaded test machine.
    assert slowest_refusal < 2.0
