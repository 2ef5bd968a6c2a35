"""The real cloud for edge tests: the FastAPI app under uvicorn (TLS from a `trustme` CA, or plain HTTP) in a
thread, or as a `tryggheim cloud serve` process; plus homes, codes and device registrations made through the
cloud's own functions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import trustme
import uvicorn

from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import connect, make_pool
from cloud.gateways import credentials, devices
from cloud.registry import consent
from common.ports import free_port
from tests.support.kits import home_with_code


@contextmanager
def tls_cloud(runtime_url: str, workdir: Path) -> Iterator[tuple[str, Path]]:
    """The cloud app over HTTPS on a free port; yields (base URL, CA certificate file)."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    workdir.mkdir(parents=True, exist_ok=True)
    ca_file, key_file, cert_file = workdir / "ca.pem", workdir / "key.pem", workdir / "cert.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    settings = CloudSettings(database_url=runtime_url, auth_mode="local", cookie_secure=False)
    app = create_app(make_pool(runtime_url, min_size=1, max_size=4, timeout_s=5), settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            ssl_keyfile=str(key_file), ssl_certfile=str(cert_file))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"https://localhost:{port}", ca_file
    finally:
        server.should_exit = True
        thread.join(15)


def new_code(runtime_url: str, municipality_id: UUID) -> str:
    """A home and a single-use enrolment code for it."""

    return asyncio.run(home_with_code(runtime_url, municipality_id, "Edgeveien 8"))[1]


def register_devices(runtime_url: str, gateway_id: UUID, patient_id: UUID, found: dict[str, str],
                     since_days: int = 400) -> None:  # fmt: skip
    """Register and assign devices (address -> catalogue profile) as an installer would."""

    async def make() -> None:
        since = datetime.now(UTC) - timedelta(days=since_days)
        async with await connect(runtime_url) as conn:
            for address, profile in found.items():
                device = await devices.register(
                    conn, gateway_id=gateway_id, address=address, profile_id=profile, valid_from=since
                )
                await devices.assign(conn, device_id=device, patient_id=patient_id, valid_from=since)
                if profile in consent.supervision_profiles():  # digitalt tilsyn: activated only with consent
                    row = await (
                        await conn.execute("SELECT municipality_id FROM patients WHERE id = %s", (patient_id,))
                    ).fetchone()
                    assert row is not None
                    await consent.record(
                        conn, municipality_id=row[0], patient_id=patient_id, device_id=device, basis="consent",
                        note="test kit", review_by=date(2100, 1, 1), valid_from=since, by=patient_id,
                    )  # fmt: skip

    asyncio.run(make())


def revoke(runtime_url: str, gateway_id: UUID) -> None:
    """Revoke the gateway's credentials."""

    async def make() -> None:
        async with await connect(runtime_url) as conn:
            assert await credentials.revoke(conn, gateway_id)

    asyncio.run(make())
