"""`sagemaker-emulator serve | wait | images list|build|prune`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
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
    show = BuildProgress(sys.stdout, verbose=args.verbose)
    try:
        built = build_images(args.names or None, show)
    finally:
        show.close()
    for name, tag in built.items():
        print(f"{name}: {tag}")
    return 0


def images_list(args: argparse.Namespace) -> int:
    import docker

    from emulator.runtime.images.inventory import inventory
    found = inventory(docker.from_env())
    rows = [(i.reference, i.state, _size(i.size), _ago(i.created), " ".join(i.other_tags)) for i in found]
    _table(("IMAGE", "STATE", "SIZE", "CREATED", "ALSO TAGGED"), rows)
    return 0


def images_prune(args: argparse.Namespace) -> int:
    import docker

    from emulator.runtime.images.inventory import prune
    result = prune(docker.from_env(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for image in result.removed:
        print(f"{verb} {image.reference} ({image.state})")
    for image, reason in result.kept:
        print(f"kept {image.reference}: {reason}")
    print(f"{verb} {len(result.removed)} image(s), {'would free' if args.dry_run else 'freed'} "
          f"{_size(result.reclaimed_bytes)}")
    return 0


class BuildProgress:
    """Image build progress for a person: one bar per image redrawn in place on a terminal, one line
    per step otherwise (every output line with --verbose)."""

    def __init__(self, out, verbose: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self.tty = out.isatty()
        self.status = ""
        self.drawn = False

    def __call__(self, event) -> None:
        if self.verbose and event.line:
            self._line(event.line)
        if event.status == self.status:
            return
        self.status = event.status
        if not self.tty:
            if not self.verbose:
                self.out.write(f"{event.status}{': ' + event.detail if event.detail else ''}\n")
                self.out.flush()
            return
        bar = ""
        if event.steps:
            filled = round(20 * event.step / event.steps)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {event.step}/{event.steps} "
        text = f"{event.image} {bar}{event.detail or event.status}"
        width = shutil.get_terminal_size().columns - 1
        self.out.write(f"\r\x1b[K{text[:width]}")
        self.drawn = True
        if event.phase == "done":
            self._end_bar()
        self.out.flush()

    def _line(self, text: str) -> None:
        self._end_bar()
        self.out.write(text + "\n")
        self.out.flush()

    def _end_bar(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.drawn = False

    def close(self) -> None:
        self._end_bar()
        self.out.flush()


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _ago(created: int) -> str:
    minutes = max(0, int(time.time() - created)) // 60
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago" if minutes < 48 * 60 else f"{minutes // (24 * 60)} days ago"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


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
    p_build.add_argument("names", nargs="*", help="images to build (default: every job image; "
                         "'emulator' is the emulator's own image, for docker-compose.yml)")
    p_build.add_argument("-v", "--verbose", action="store_true", help="print every line of build output")
    p_build.set_defaults(func=images_build)
    p_list = images_sub.add_parser("list", help="the emulator's images in the local Docker engine")
    p_list.set_defaults(func=images_list)
    p_prune = images_sub.add_parser("prune", help="remove the emulator's images but the current ones "
                                    "(old context hashes, build stages, untagged build leftovers)")
    p_prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    p_prune.set_defaults(func=images_prune)
    args = parser.parse_args(argv)
    # The server logs what it does; the other commands print what matters themselves.
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
