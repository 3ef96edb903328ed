"""A TCP forwarder that lets job containers reach the emulator.

The emulator listens on loopback by default, which containers cannot reach. Rather than widen the
server's bind address, the runtime listens on the gateway address of the Docker network it creates
for its jobs (a host-local interface, not the outside network) and pipes bytes to the real server.
Containers then get AWS_ENDPOINT_URL=http://<gateway>:<port>, so boto3 inside a job talks to this
emulator. Linux accepts packets for any local address on any interface, so binding to the gateway
alone would let every container on the host in: a connection is admitted only from the subnet of one
of the emulator's own job networks (the jobs network, and the private network of a multi-host job),
of the SageMaker SDK's local-mode network, or from the host itself, and closed unanswered otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def is_host_address(address: str) -> bool:
    """Whether `address` is one of this host's own (a process on the host connecting to the gateway
    address: it could reach the server on loopback anyway). Only a local address can be bound."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class EndpointProxy:
    # An unknown peer makes the forwarder look the networks up again, at most this often.
    REFRESH_SECONDS = 1.0

    def __init__(self, listen_host: str, target_host: str, target_port: int, *,
                 admitted: Callable[[], list[str]]) -> None:
        self.listen_host = listen_host
        self._admitted = admitted
        self._subnets: list = []
        self._refreshed = 0.0
        self.target = (target_host, target_port)
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._error: BaseException | None = None

    def start(self, preferred_port: int) -> int:
        threading.Thread(target=self._run, args=(preferred_port,), name="endpoint-proxy", daemon=True).start()
        self._ready.wait(10)
        if self._error or self.port is None:
            raise RuntimeError(f"cannot listen on {self.listen_host}: {self._error}")
        return self.port

    def _run(self, preferred_port: int) -> None:
        asyncio.set_event_loop(self._loop)
        for port in (preferred_port, 0):
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._handle, self.listen_host, port))
                self.port = self._server.sockets[0].getsockname()[1]
                break
            except OSError as exc:
                self._error = exc
        self._ready.set()
        if self._server is not None:
            self._error = None
            self._loop.run_forever()

    def networks_changed(self) -> None:
        """A job network was created: the next unknown peer looks the networks up at once."""
        self._refreshed = 0.0

    async def admits(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if any(address in subnet for subnet in self._subnets) or is_host_address(peer):
            return True
        if time.monotonic() - self._refreshed < self.REFRESH_SECONDS:
            return False
        self._refreshed = time.monotonic()
        try:
            subnets = await asyncio.get_running_loop().run_in_executor(None, self._admitted)
        except Exception:
            log.warning("cannot list the job networks", exc_info=True)
            return False
        self._subnets = [ipaddress.ip_network(s) for s in subnets]
        return any(address in subnet for subnet in self._subnets)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("",))[0]
        if not await self.admits(peer):
            log.warning("refused a connection to the job endpoint from %s (not on the jobs network)", peer)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
