"""The sockets the emulator serves on: the main port (http, or https with --tls) and the SDK's https
listener, both answering with the same application in one process.

Why a second, always-https listener: the SageMaker Python SDK builds the STS client behind
`get_execution_role()` and `Session().default_bucket()` with an explicit
`https://<hostname from botocore's endpoints.json>` (sagemaker.utils.sts_regional_endpoint), which
beats AWS_ENDPOINT_URL. `sagemaker-emulator sdk-setup` points that hostname at this listener
(emulator/sdk_setup.py); clients trust its certificate through AWS_CA_BUNDLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from emulator.config import Settings

log = logging.getLogger(__name__)


class _FollowerServer(uvicorn.Server):
    """A second server on the same app: the main server owns the lifespan and the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind_sdk_socket(settings: Settings) -> socket.socket | None:
    """Bind the SDK listener's port (any free port when the configured one is taken); None when off."""
    if settings.sdk_https_port < 0:
        return None
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.sdk_https_port))
    except OSError as exc:
        log.warning("SDK https port %s is taken (%s); using a free port", settings.sdk_https_port, exc)
        sock.bind((settings.host, 0))
    sock.listen(128)
    sock.setblocking(False)
    settings.sdk_https_port = sock.getsockname()[1]
    return sock


def servers(app, settings: Settings, sdk_socket: socket.socket | None, *, log_level: str = "warning",
            access_log: bool = False) -> tuple[uvicorn.Server, uvicorn.Server | None]:
    """The main server (https with settings.tls) and the SDK listener's (None without its socket), on one
    app; the emulator's certificate is made first if either speaks https."""
    from emulator.http_limits import limited_protocol
    from emulator.tls import ensure_certificate
    # Header-size and slow-client limits on every listener (docs/security.md).
    common = {"log_level": log_level, "access_log": access_log, "timeout_keep_alive": 30,
              "http": limited_protocol(settings.client_timeout)}
    cert = key = None
    if settings.tls or sdk_socket is not None:
        cert, key = ensure_certificate(settings.tls_dir)
    ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)} if settings.tls else {}
    main = uvicorn.Server(uvicorn.Config(app, **common, **ssl))
    if sdk_socket is None:
        return main, None
    follower = _FollowerServer(uvicorn.Config(app, lifespan="off", ssl_certfile=str(cert), ssl_keyfile=str(key),
                                              **common))
    return main, follower


def serve(main: uvicorn.Server, follower: uvicorn.Server | None, sock: socket.socket,
          sdk_socket: socket.socket | None) -> None:
    """Run the servers from servers() on their bound sockets until the main one is told to stop
    (a signal, or main.should_exit); the SDK listener stops with it."""
    if follower is None:
        main.run(sockets=[sock])
        return

    async def both() -> None:
        serving = asyncio.create_task(main.serve(sockets=[sock]))
        while not main.started and not serving.done():  # the app's services exist once it started
            await asyncio.sleep(0.02)
        task = asyncio.create_task(follower.serve(sockets=[sdk_socket]))
        try:
            await serving
        finally:
            follower.should_exit = True
            await task
    asyncio.run(both())
