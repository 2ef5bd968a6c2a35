"""A cloud process told to stop (SIGTERM: a rolling update, a scale-down, the demo's Ctrl-C) while nurses have
their worklists open: each live event stream ends at once, so the browser reconnects to a replica that runs,
and the process exits without waiting out uvicorn's graceful-shutdown timeout for streams that never end."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.access.live_server import SERVER_SETTINGS, Stream, new_staff, session_of
from tests.support.proc import cloud_process
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow
PROMPT_S = 3.0  # uvicorn's graceful-shutdown timeout is 10 s: a stream left open costs all of it


def test_sigterm_ends_open_worklist_streams_and_the_process_at_once(access_db: TestDatabase,
                                                                     tenants: Tenants) -> None:  # fmt: skip
    with cloud_process(access_db.runtime_url, **SERVER_SETTINGS) as (process, url):
        _, nurse = new_staff(access_db.runtime_url, tenants.a)
        with httpx.Client(base_url=url, timeout=30) as client:
            session = session_of(client, nurse)
        streams = [Stream(url, {"Cookie": f"trygg_session={session.cookie}"}) for _ in range(2)]  # two tabs
        assert [stream.status for stream in streams] == [200, 200]
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for stream in streams:
            assert stream.ends_within(PROMPT_S, asked) < PROMPT_S
            assert "ended" not in stream.events  # not an end of access: the browser reconnects
        assert process.wait(PROMPT_S + 10) == 0
        assert time.monotonic() - asked < PROMPT_S
