"""A demo home's uplink that can be cut: a TCP relay between the home's agent and the cloud, switched down and
up by a flag file in the home's state directory (`tryggheim demo uplink --home <home> down|up`).

While the flag file exists the relay takes each new connection and closes it at once, and cuts the
connections it carries, so the agent sees its network gone (connection refused or reset), as when a mobile
link drops; the cloud itself keeps running for the other homes. Removing the flag lets connections through
again. The agent's `cloud_url` points at the relay (`url`); the relay runs in the demo process, in threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from common.ports import free_port

DOWN_FLAG = "uplink-down"
POLL_S = 0.2


def set_uplink(home_dir: Path, up: bool) -> None:
    """Switch the home's uplink: create (down) or remove (up) its flag file."""
    flag = home_dir / DOWN_FLAG
    if up:
        flag.unlink(missing_ok=True)
    else:
        flag.write_text("the demo's uplink relay refuses this home's connections while this file exists\n")


def uplink_is_up(home_dir: Path) -> bool:
    """Whether the home's uplink is up (no flag file)."""
    return not (home_dir / DOWN_FLAG).exists()


class UplinkRelay:
    """Relays 127.0.0.1:<port> to the cloud's host and port while the home's uplink is up."""

    def __init__(self, home_dir: Path, target_host: str, target_port: int, port: int | None = None) -> None:
        self.home_dir = home_dir
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(POLL_S)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> UplinkRelay:
        """Accept and relay in daemon threads; returns self."""
        threading.Thread(target=self._accept, name="uplink-relay", daemon=True).start()
        threading.Thread(target=self._watch, name="uplink-relay-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut every relayed connection."""
        self._stopped.set()
        self._listener.close()
        self._cut()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by stop()
            if not uplink_is_up(self.home_dir):
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the cloud itself is down: the agent sees the same
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until either side closes; then close both."""
        with contextlib.suppress(OSError):
            source.settimeout(None)
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _watch(self) -> None:
        """Cut the carried connections as soon as the uplink is switched down."""
        while not self._stopped.wait(POLL_S):
            if not uplink_is_up(self.home_dir):
                self._cut()

    def _cut(self) -> None:
        with self._lock:
            carried, self._open = self._open, set()
        for sock in carried:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
