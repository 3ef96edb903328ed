"""`sagemaker-emulator serve | wait | images build`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from emulator.config import Settings


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.server import create_app, listening_socket

    settings = Settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.data_dir:
        settings.data_dir = Path(args.data_dir).expanduser().resolve()
    if args.tls:
        settings.tls = True
    ssl: dict = {}
    if settings.tls:
        from emulator.tls import ensure_self_signed
        cert, key = ensure_self_signed(settings.data_dir / "tls")
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    # Bind before anything else so that --port 0 works: the runtime and the job containers' forwarder
    # need the port actually bound, and whoever started us reads it back from --port-file.
    sock = listening_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    url = settings.url
    if args.port_file:
        write_port_file(Path(args.port_file), url, settings.port)
    print(f"SageMaker Emulator listening on {url} (data in {settings.data_dir})", flush=True)
    print(f"Point clients at it:  export AWS_ENDPOINT_URL={url}", flush=True)
    if settings.tls:
        print(f"Self-signed certificate: {ssl['ssl_certfile']} (use AWS_CA_BUNDLE or verify=False)", flush=True)
    from emulator.http_limits import limited_protocol
    config = uvicorn.Config(create_app(settings), log_level=args.log_level, access_log=args.access_log,
                            timeout_keep_alive=30, http=limited_protocol(settings.client_timeout), **ssl)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def write_port_file(path: Path, url: str, port: int) -> None:
    """Atomically, so a reader polling for it never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "port": port, "pid": os.getpid()}))
    tmp.replace(path)


def wait(args: argparse.Namespace) -> int:
    """Exit 0 once the emulator at --url answers /_emulator/health, 1 if it does not within --timeout."""
    from emulator.testing.waiting import wait_for_health

    url = args.url or Settings().client_url
    try:
        health = wait_for_health(url, timeout=args.timeout)
    except TimeoutError as exc:
        print(f"sagemaker-emulator wait: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"SageMaker Emulator {health.get('version', '')} is ready at {url}", flush=True)
    return 0


def images_build(args: argparse.Namespace) -> int:
    from emulator.runtime.images import build_images
    built = build_images(args.names or None, lambda line: print(line, flush=True))
    for name, tag in built.items():
        print(f"{name}: {tag}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sagemaker-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the emulator")
    p_serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1: loopback only)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 7070; 0 picks a free one)")
    p_serve.add_argument("--data-dir", default=None, help="state directory (default ~/.sagemaker-emulator)")
    p_serve.add_argument("--tls", action="store_true", help="serve https with a self-signed certificate")
    p_serve.add_argument("--log-level", default="warning")
    p_serve.add_argument("--access-log", action="store_true")
    p_serve.add_argument("--port-file", default=None,
                         help="write {url, port, pid} as JSON here once bound (useful with --port 0)")
    p_serve.set_defaults(func=serve)
    p_wait = sub.add_parser("wait", help="wait until a running emulator answers its health check")
    p_wait.add_argument("--url", default=None,
                        help="emulator URL (default $SAGEMAKER_EMULATOR_URL, else the serve defaults)")
    p_wait.add_argument("--timeout", type=float, default=30, help="seconds to wait (default 30)")
    p_wait.set_defaults(func=wait)
    p_images = sub.add_parser("images", help="container images")
    images_sub = p_images.add_subparsers(dest="images_command", required=True)
    p_build = images_sub.add_parser("build", help="build the local framework/algorithm images")
    p_build.add_argument("names", nargs="*")
    p_build.set_defaults(func=images_build)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
