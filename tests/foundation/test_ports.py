"""Ports for the servers the demo and the tests start (common/ports.py): free, never handed to two callers within
the hold, and never from the range the kernel gives outgoing connections."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import ports


@pytest.fixture(autouse=True)
def own_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own note of ports handed out, so that the machine's other callers neither see nor change it."""
    notes = tmp_path / "ports.json"
    monkeypatch.setattr(ports, "_NOTED", notes)
    yield notes


def _choices(monkeypatch: pytest.MonkeyPatch, *choices: int) -> None:
    """Make the random choices fall on these ports, in order."""
    falling = iter(choices)
    monkeypatch.setattr(ports.random, "randint", lambda low, high: next(falling))


def _spare(*besides: int) -> int:
    """A port in the range that nothing is bound to, other than `besides`."""
    port = ports.LOWEST
    while port in besides or not ports._free(port):
        port += 1
    return port


def test_free_ports_come_from_below_the_range_of_outgoing_connections_and_can_be_bound() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chosen = [ports.free_port() for _ in range(50)]
    assert all(ports.LOWEST <= port < first_ephemeral for port in chosen)
    assert len(set(chosen)) == 50  # none handed out twice
    for port in chosen[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_a_port_in_use_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", _spare()))
        server.listen()
        taken = server.getsockname()[1]
        other = _spare(taken)
        _choices(monkeypatch, taken, taken, taken, other)
        assert ports.free_port() == other


def test_a_port_handed_out_is_not_handed_out_again_within_the_hold_even_unbound(
    monkeypatch: pytest.MonkeyPatch, own_notes: Path
) -> None:
    first = _spare()
    second = _spare(first)
    _choices(monkeypatch, first, first, second)
    assert ports.free_port() == first
    assert ports.free_port() == second  # `first` is free, but another caller may be about to bind it
    # Past the hold, the note is forgotten.
    own_notes.write_text(json.dumps({str(first): time.time() - ports.HOLD_S - 1}))
    _choices(monkeypatch, first)
    assert ports.free_port() == first


@pytest.mark.parametrize("content", ["[1, 2]", '{"21000": "soon"}', "{not json", "null"])
def test_a_garbled_note_is_started_afresh(own_notes: Path, content: str) -> None:
    """The note is a shared file any process may have left half-written or replaced: it never stops a caller."""
    own_notes.write_text(content)
    port = ports.free_port()
    assert port >= ports.LOWEST and json.loads(own_notes.read_text()).keys() == {str(port)}
