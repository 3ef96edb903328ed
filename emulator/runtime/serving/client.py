"""The data path's HTTP/1.1 client to serving containers: keep-alive connections pooled per container
address, on the server's event loop (no thread per call), responses parsed by httptools (the C parser
uvicorn uses). A request is written with one `write` (head and body together): a head and a body in
two TCP segments meet the peer's delayed ACK and cost 40 ms per call.

`request` returns the whole response; `stream` yields the body as it arrives (response streaming).
A connection taken from the pool that turns out to be closed by the container before answering is
retried once on a fresh connection; nothing else is retried.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools

MAX_IDLE_PER_ADDRESS = 64


class ContainerUnreachable(Exception):
    """No connection, or the connection broke before a response came."""


class ContainerRefused(ContainerUnreachable):
    """Not even a connection: nothing was sent (another instance may take the call)."""


class ContainerTimeout(Exception):
    """The container did not answer within the timeout."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]          # lower-cased names
    body: bytes = b""


@dataclass
class _Exchange:
    """One response being received on a connection."""
    done: asyncio.Future
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    stream: asyncio.Queue | None = None     # body chunks, then None, when streaming
    head: asyncio.Future | None = None      # resolved with the status once the head is in (streaming)
    _name: bytes = b""


class _Connection(asyncio.Protocol):
    def __init__(self, pool: ClientPool, address: tuple[str, int]) -> None:
        self.pool = pool
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.closed = False
        self.keep_alive = True
        self.received = False
        self.parser = httptools.HttpResponseParser(self)

    # --- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ContainerUnreachable(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None and not exchange.done.done():
            # A response without Content-Length ends with the connection.
            if exchange.status and not self.parser.should_upgrade() and exc is None and self._ended_by_close():
                self.on_message_complete()
                return
            self._fail(ContainerUnreachable("the container closed the connection"))

    def _ended_by_close(self) -> bool:
        return "content-length" not in self.exchange.headers and \
            "chunked" not in self.exchange.headers.get("transfer-encoding", "")

    # --- httptools callbacks -------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        headers = self.exchange.headers
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        exchange.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if exchange.head is not None and not exchange.head.done():
            exchange.head.set_result(exchange.status)

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange.stream is not None:
            exchange.stream.put_nowait(bytes(body))
        else:
            exchange.chunks.append(bytes(body))

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.done.done():
            return
        self.exchange = None
        if exchange.stream is not None:
            exchange.stream.put_nowait(None)
        exchange.done.set_result(True)
        if self.keep_alive and not self.closed:
            self.pool._release(self)
        else:
            self.close()

    # --- use -------------------------------------------------------------------------------------------
    def send(self, data: bytes, exchange: _Exchange) -> None:
        self.exchange = exchange
        self.received = False
        self.transport.write(data)

    def _fail(self, error: Exception) -> None:
        exchange, self.exchange = self.exchange, None
        self.close()
        if exchange is None:
            return
        for future in (exchange.head, exchange.done):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # whoever waits sees it; nobody waiting is not an error to log
        if exchange.stream is not None:
            exchange.stream.put_nowait(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _request_bytes(method: str, host: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ClientPool:
    """Keep-alive connections per container address; one pool per event loop."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}

    async def _connect(self, address: tuple[str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(lambda: _Connection(self, address), *address)
        except OSError as exc:
            raise ContainerRefused(f"cannot connect to {address[0]}:{address[1]}: {exc}") from None
        return connection

    def _take(self, address: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def _release(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.address, deque())
        if len(idle) >= MAX_IDLE_PER_ADDRESS:
            connection.close()
        else:
            idle.append(connection)

    async def _send(self, address: tuple[str, int], data: bytes, exchange_of, wait_for, timeout: float):
        """Send on a pooled connection (or a new one) and wait for `wait_for(exchange)`; a pooled
        connection the container had already closed (its keep-alive ran out) is replaced once."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            connection = self._take(address)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(address)
            exchange = exchange_of(loop)
            connection.send(data, exchange)
            try:
                await asyncio.wait_for(asyncio.shield(wait_for(exchange)), timeout)
            except ContainerUnreachable:
                if reused and not connection.received and attempt == 1:
                    continue
                raise
            except TimeoutError:
                connection.close()
                raise ContainerTimeout(f"no answer within {timeout:g} s") from None
            except asyncio.CancelledError:
                connection.close()
                raise
            return connection, exchange
        raise AssertionError("unreachable")

    async def request(self, address: tuple[str, int], method: str, path: str, headers: list[tuple[str, str]],
                      body: bytes = b"", timeout: float = 60.0) -> Response:
        data = _request_bytes(method, f"{address[0]}:{address[1]}", path, headers, body)
        _, exchange = await self._send(address, data, lambda loop: _Exchange(loop.create_future()),
                                       lambda e: e.done, timeout)
        return Response(exchange.status, exchange.headers, b"".join(exchange.chunks))

    async def stream(self, address: tuple[str, int], method: str, path: str, headers: list[tuple[str, str]],
                     body: bytes = b"", timeout: float = 60.0) -> tuple[Response, AsyncIterator[bytes]]:
        """The response head (status, headers) once it arrives, and an iterator over the body's chunks
        (each chunk within `timeout` of the previous one)."""
        data = _request_bytes(method, f"{address[0]}:{address[1]}", path, headers, body)
        connection, exchange = await self._send(
            address, data, lambda loop: _Exchange(loop.create_future(), stream=asyncio.Queue(),
                                                  head=loop.create_future()),
            lambda e: e.head, timeout)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(exchange.stream.get(), timeout)
                    except TimeoutError:
                        raise ContainerTimeout(f"no data within {timeout:g} s") from None
                    if item is None:
                        return
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                if not exchange.done.done():
                    connection.close()
        return Response(exchange.status, exchange.headers), chunks()

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
