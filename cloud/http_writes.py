"""One system call per response: uvicorn's HTTP protocol with its writes joined.

uvicorn writes a response's status line and headers, then its body, as two writes to the transport, and
uvloop sends each at once: two system calls and two wake-ups of the client per response. On the development VM
the response's writes were 13-19 % of an ingest replica's samples (docs/benchmarks.md, issue 25). This protocol
hands uvicorn a transport that holds what is written during one turn of the event loop and sends it together
at the end of that turn, so a response written in one go (every JSON answer) leaves in one system call. A
response that waits between its parts (a stream) sends each part at the end of the turn that wrote it, as
before; closing or aborting the connection sends or drops what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `_JoinedWrites` transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport."""
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]


class _JoinedWrites:
    """A transport that sends what one turn of the event loop wrote in one write to the real transport; all else
    goes to the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold `data` (copied: the caller may reuse its buffer) until the end of this turn."""
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(bytes(data))

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        """`write` each chunk (in order with what is held)."""
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        """Send what is held, then the end of the stream."""
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        """Send what is held, then close."""
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is held and close at once."""
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """What is held plus what the real transport has not sent."""
        return sum(map(len, self._held)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
