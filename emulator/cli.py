"""`sagemaker-emulator serve | wait | images list|build|prune|tag-ecr | env | sdk-setup | sdk-reset`."""

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
    from emulator.listeners import bind_sdk_socket, servers
    from emulator.listeners import serve as serve_listeners
    from emulator.server import create_app, listening_socket
    from emulator.tls import ca_bundle_path

    settings = Settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.data_dir:
        settings.data_dir = Path(args.data_dir).expanduser().resolve()
    if args.tls:
        settings.tls = True
    if args.sdk_https_port is not None:
        settings.sdk_https_port = args.sdk_https_port
    # Bind before anything else so that --port 0 works: the runtime and the job containers' forwarder
    # need the port actually bound, and whoever started us reads it back from --port-file.
    sock = listening_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    sdk_socket = bind_sdk_socket(settings)
    main, follower = servers(create_app(settings), settings, sdk_socket, log_level=args.log_level,
                             access_log=args.access_log)
    url = settings.url
    if args.port_file:
        write_port_file(Path(args.port_file), url, settings.port,
                        settings.sdk_https_port if sdk_socket is not None else None)
    print(f"SageMaker Emulator listening on {url} (data in {settings.data_dir})", flush=True)
    print('Point clients at it:  eval "$(sagemaker-emulator env)"   (SageMaker SDK: sagemaker-emulator sdk-setup)',
          flush=True)
    if sdk_socket is not None:
        print(f"SDK https listener on https://{settings.host}:{settings.sdk_https_port} "
              f"(trust it with AWS_CA_BUNDLE={ca_bundle_path(settings.tls_dir)})", flush=True)
    serve_listeners(main, follower, sock, sdk_socket)
    return 0


def write_port_file(path: Path, url: str, port: int, sdk_https_port: int | None = None) -> None:
    """Atomically, so a reader polling for it never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bound = {"url": url, "port": port, "pid": os.getpid()}
    if sdk_https_port is not None:
        bound["sdkHttpsPort"] = sdk_https_port
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bound))
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


def images_tag_ecr(args: argparse.Namespace) -> int:
    from emulator.runtime.ecr_tags import tag_ecr
    try:
        tag_ecr(args.region or [Settings().region], args.account,
                lambda line: print(line, flush=True))
    except ValueError as exc:
        print(f"sagemaker-emulator images tag-ecr: {exc}", file=sys.stderr)
        return 2
    return 0


def env(args: argparse.Namespace) -> int:
    from emulator import sdk_setup
    try:
        exports = sdk_setup.environment(args.endpoint, local_mode=args.local_mode)
    except sdk_setup.SetupError as exc:
        print(f"sagemaker-emulator env: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(sdk_setup.shell_exports(exports))
    return 0


def sdk_setup_command(args: argparse.Namespace) -> int:
    from emulator import sdk_setup
    try:
        path = sdk_setup.setup(args.endpoint)
    except sdk_setup.SetupError as exc:
        print(f"sagemaker-emulator sdk-setup: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}: the SageMaker SDK's STS endpoint now resolves to the emulator at {args.endpoint}\n"
          'also run: eval "$(sagemaker-emulator env)"    undo with: sagemaker-emulator sdk-reset')
    return 0


def sdk_reset_command(args: argparse.Namespace) -> int:
    from emulator import sdk_setup
    removed = sdk_setup.reset()
    print(f"removed {sdk_setup.endpoints_file()}" if removed else "nothing to undo: no override of ours found")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sagemaker-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the emulator")
    p_serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1: loopback only)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 7070; 0 picks a free one)")
    p_serve.add_argument("--data-dir", default=None, help="state directory (default ~/.sagemaker-emulator)")
    p_serve.add_argument("--tls", action="store_true", help="serve https with the emulator's certificate")
    p_serve.add_argument("--sdk-https-port", type=int, default=None,
                         help="https listener for the SDK's STS endpoint (default 7443; 0 any free port, -1 none)")
    p_serve.add_argument("--log-level", default="warning")
    p_serve.add_argument("--access-log", action="store_true")
    p_serve.add_argument("--port-file", default=None,
                         help="write {url, port, pid, sdkHttpsPort} as JSON here once bound (useful with --port 0)")
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
    p_tag = images_sub.add_parser("tag-ecr", help="tag the framework images with the ECR URIs the SageMaker SDK's "
                                                  "local mode asks for (instance_type='local', LocalPipelineSession)")
    p_tag.add_argument("--region", action="append", help="region of the URIs (repeatable; default the emulator's "
                                                         "region: $AWS_DEFAULT_REGION or us-east-1)")
    p_tag.add_argument("--account", help="image registry account, for regions without a known one")
    p_tag.set_defaults(func=images_tag_ecr)
    for name, func, text in (
            ("env", env, 'print the exports that point AWS clients at the emulator: eval "$(sagemaker-emulator env)"'),
            ("sdk-setup", sdk_setup_command, ("make the SageMaker SDK's hard-wired STS endpoint reach the emulator "
                                              "(writes ~/.aws/models/endpoints.json)")),
            ("sdk-reset", sdk_reset_command, "undo sdk-setup")):
        p_cmd = sub.add_parser(name, help=text)
        if name != "sdk-reset":
            p_cmd.add_argument("--endpoint", default=Settings().client_url,
                               help="the emulator's URL (default $SAGEMAKER_EMULATOR_URL, else the serve defaults)")
        if name == "env":
            p_cmd.add_argument("--local-mode", action="store_true",
                               help="also AWS_ENDPOINT_URL_S3 at an address the SDK's local-mode containers reach")
        p_cmd.set_defaults(func=func)
    args = parser.parse_args(argv)
    # The server logs what it does; the other commands print what matters themselves.
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
