"""Connection-level limits the HTTP server (uvicorn's httptools protocol) does not enforce itself:

- request head size: the request line and headers together at most MAX_HEAD_BYTES (uvicorn's
  httptools protocol accepts any size: 64 MiB of headers were held in memory); above it the client
  gets 431 and the connection closes;
- slow clients: the request head must arrive within the client timeout of the connection opening
  (or of the previous response), and a client sending a body, or reading a response, must not stall
  for longer than that. Otherwise the connection is closed, so a slow-loris client cannot hold
  connections and their memory for ever.

Body sizes are limited per protocol where bodies are read (emulator.server, emulator.api.s3).
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024

_HEAD, _BODY, _APP = "head", "body", "app"


def limited_protocol(client_timeout: float, max_head_bytes: int = MAX_HEAD_BYTES) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with these limits (pass it as uvicorn's `http=`)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,),
                {"client_timeout": client_timeout, "max_head_bytes": max_head_bytes})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    client_timeout = 60.0
    max_head_bytes = MAX_HEAD_BYTES

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase = _HEAD
        self._head_bytes = 0
        self._head_too_large = False
        self._activity = self.loop.time()
        self._write_paused = False
        self._watchdog = self.loop.call_later(self._check_interval(), self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._watchdog.cancel()
        super().connection_lost(exc)

    def _check_interval(self) -> float:
        return max(0.2, min(5.0, self.client_timeout / 4))

    def _check(self) -> None:
        if self.transport.is_closing():
            return
        idle = self.loop.time() - self._activity
        if idle > self.client_timeout:
            if self._phase == _HEAD and (self.cycle is None or self.cycle.response_complete):
                # Between requests uvicorn's keep-alive timer also applies; this catches a client that
                # opens a connection, or starts a request, and then trickles or sends nothing.
                self._send_and_close(b"408 Request Timeout", b"The request did not arrive in time.")
                return
            if self._phase == _BODY and not self.flow.read_paused:
                self.transport.close()
                return
            if self._phase == _APP and self._write_paused:
                self.transport.close()
                return
        self._watchdog = self.loop.call_later(self._check_interval(), self._check)

    def data_received(self, data: bytes) -> None:
        self._activity = self.loop.time()
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._head_too_large:
                self._send_and_close(b"431 Request Header Fields Too Large",
                                     b"The request line and headers exceed %d bytes." % self.max_head_bytes)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large = True
            raise ValueError("request head too large")  # stops the parser (HttpParserCallbackError)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _HEAD
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _APP
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._phase = _HEAD
        self._activity = self.loop.time()
        super().on_response_complete()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._activity = self.loop.time()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._activity = self.loop.time()
        super().resume_writing()

    def _send_and_close(self, status: bytes, message: bytes) -> None:
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: " + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n"
                             + message)
        self.transport.close()
