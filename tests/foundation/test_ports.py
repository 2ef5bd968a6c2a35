"""Ports for the servers the demo and the tests start (common/ports.py): free, and never from the range the
kernel gives outgoing connections, which could take one before its server binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from common import ports


def test_free_ports_come_from_below_the_range_of_outgoing_connections_and_can_be_bound() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chosen = {ports.free_port() for _ in range(50)}
    assert all(ports.LOWEST <= port < first_ephemeral for port in chosen)
    assert len(chosen) > 40  # at random: parallel callers rarely meet
    for port in list(chosen)[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_a_port_in_use_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    other = ports.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", ports.free_port()))
        server.listen()
        taken = server.getsockname()[1]
        # The random choice falls on the listening port three times before it falls on a free one.
        choices = iter([taken, taken, taken, other])
        monkeypatch.setattr(ports.random, "randint", lambda low, high: next(choices))
        assert ports.free_port() == other
