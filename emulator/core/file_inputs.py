"""`file://` job inputs (an emulator extension, as the SDK's local mode allows): which host folders a
request may bind-mount into a job container.

A read-only bind mount still lets a container talk to any Unix socket inside it, and a container that
reaches the Docker or containerd socket controls the host. So a file:// input must resolve (symlinks
followed) to a path under one of the configured roots (SAGEMAKER_EMULATOR_FILE_ROOTS, default the
directory the server was started from, never `/`), and neither be nor contain a socket.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

SETTING = "SAGEMAKER_EMULATOR_FILE_ROOTS"
# A tree with more entries than this is not scanned for sockets to the end: it is refused instead.
MAX_SCANNED_ENTRIES = 200_000
_KNOWN_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
                  "/var/run/containerd/containerd.sock", "/run/podman/podman.sock", "/run/crio/crio.sock",
                  "/run/buildkit/buildkitd.sock")


class FileInputRefused(Exception):
    """The file:// input may not be mounted; the message says why and names the setting."""


def resolve(uri: str, roots: list[Path], *, must_exist: bool, sockets: Iterable[str] = ()) -> Path:
    """The real host path a file:// URI may mount, or FileInputRefused. `sockets`: container engine
    sockets besides the usual places (Settings.engine_sockets)."""
    raw = uri[len("file://"):]
    if "\x00" in raw or not raw.startswith("/"):
        raise FileInputRefused(f"Local input {uri} must be an absolute path.")
    path = Path(os.path.realpath(raw))
    if not any(path == root or root in path.parents for root in roots):
        shown = os.pathsep.join(str(r) for r in roots) or "(none)"
        raise FileInputRefused(f"Local input {uri} is outside the folders jobs may read from the host "
                               f"({SETTING}={shown}).")
    if not path.exists():
        if must_exist:
            raise FileInputRefused(f"Local input {uri} does not exist.")
        return path
    for socket_path in _docker_sockets(sockets):
        if socket_path == path or path in socket_path.parents:
            raise FileInputRefused(f"Local input {uri} contains the container engine's socket {socket_path}; "
                                   f"mount a narrower folder ({SETTING}).")
    found = _find_socket(path)
    if found:
        raise FileInputRefused(f"Local input {uri} contains a socket ({found}); a job must not reach host "
                               f"services through it. Mount a narrower folder ({SETTING}).")
    return path


def _docker_sockets(extra: Iterable[str]) -> list[Path]:
    candidates = [*_KNOWN_SOCKETS, *extra]
    found = []
    for candidate in candidates:
        if os.path.exists(candidate):
            found.append(Path(os.path.realpath(candidate)))
    return found


def _find_socket(path: Path) -> str | None:
    """The first socket file under `path` (symlinks are not followed: inside a container they resolve
    in the container's own filesystem)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISSOCK(mode):
        return str(path)
    if not stat.S_ISDIR(mode):
        return None
    seen = 0
    stack = [str(path)]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > MAX_SCANNED_ENTRIES:
                    raise FileInputRefused(f"Local input {path} holds more than {MAX_SCANNED_ENTRIES} entries, too "
                                           f"many to check for sockets; mount a narrower folder ({SETTING}) or "
                                           "upload the data to S3.")
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
                    # Neither file, dir nor link: a socket, FIFO or device node (d_type saves a stat
                    # for everything else).
                    try:
                        if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                            return entry.path
                    except OSError:
                        continue
    return None
