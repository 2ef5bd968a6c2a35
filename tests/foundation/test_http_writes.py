"""uvicorn with joined writes (cloud/http_writes.py), on a real socket: every kind of response arrives whole and
in order on a keep-alive connection, a response written in one go reaches the socket in one write, a stream
still goes out part by part as it is written, and a closing response is sent before the connection closes."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from cloud.http_writes import JoinedWritesProtocol
from common.ports import free_port

WRITES: list[bytes] = []


class _Counted:
    """The real transport, with each write to it recorded."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _CountedProtocol(JoinedWritesProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Counted(transport))  # type: ignore[arg-type]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"first ", b"second"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"committed":[1,2,3]}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if path == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _exchange(port: int, requests: list[bytes]) -> bytes:
    """The requests one after another on one connection; what came back, up to the server's close when the
    last response closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = b""
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        answers += head
        if b"transfer-encoding: chunked" in head:
            answers += await reader.readuntil(b"0\r\n\r\n")
        elif not request.startswith(b"HEAD"):
            answers += await reader.readexactly(len(b'{"committed":[1,2,3]}'))
    if b"connection: close" in answers:
        answers += await asyncio.wait_for(reader.read(), 5)
        assert reader.at_eof(), "the server closed the connection"
    writer.close()
    return answers


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


async def _serve_and_ask() -> tuple[list[bytes], list[list[bytes]]]:
    """Each conversation's answers, and the writes that reached the socket in each."""
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=_CountedProtocol, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no start-up event
        await asyncio.sleep(0.01)
    answers: list[bytes] = []
    writes: list[list[bytes]] = []
    try:
        for requests in ([_get("/json")], [_get("/json", "HEAD")], [_get("/stream")], [_get("/json"), _get("/close")]):
            WRITES.clear()
            answers.append(await _exchange(port, requests))
            writes.append(list(WRITES))
    finally:
        server.should_exit = True
        await task
    return answers, writes


def test_responses_arrive_whole_and_one_go_responses_in_one_write() -> None:
    (json_answer, head_answer, stream_answer, closing_answer), writes = asyncio.run(_serve_and_ask())
    json_writes, head_writes, stream_writes, closing_writes = writes
    # Written in one go: the status line, the headers and the body leave in one write.
    assert json_writes == [json_answer]
    assert json_answer.startswith(b"HTTP/1.1 200 OK\r\n") and json_answer.endswith(b'\r\n\r\n{"committed":[1,2,3]}')
    # HEAD: the headers alone, sent although no body follows.
    assert head_writes == [head_answer] and head_answer.endswith(b"\r\n\r\n")
    # A stream that waits between its parts sends each part when it is written (the headers with the first,
    # written in the same turn), not all at the end.
    assert len(stream_writes) == 3 and stream_writes[0].endswith(b"first \r\n") and b"second" in stream_writes[1]
    assert b"".join(stream_writes) == stream_answer
    # Keep-alive, then a response that closes: both in order, the last one sent before the close.
    assert len(closing_writes) == 2 and b"".join(closing_writes) == closing_answer
    assert closing_answer.count(b'{"committed":[1,2,3]}') == 2
