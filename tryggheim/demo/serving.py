"""What the demo's stand-in servers share: a standard-library HTTP server served in a daemon thread, started
and stopped as one (`with` or `start()`/`stop()`)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class ThreadedServer:
    """Base of a stand-in: subclasses set `self._server` in their `__init__` and name their thread."""

    _server: ThreadingHTTPServer
    thread_name = "stand-in"

    def start(self) -> Self:
        """Serve in a daemon thread; returns self."""
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
