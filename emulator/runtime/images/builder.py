"""Builds the emulator's images from containers/ (the catalogue says which exist).

Each local image is `sagemaker-emulator/<name>:<hash12>`, where the hash covers its build context
(without the downloaded wheels) and the image it builds FROM. So an unchanged context is never
rebuilt and a changed one is never mistaken for the old image; nothing else records what was built.

Base image: the framework Dockerfiles take `ARG BASE`. Where `python:3.11-slim` is present or can be
pulled it is used; where no registry is reachable, `containers/base/bootstrap.sh` makes one from
Debian packages (debootstrap). Settings.base_image (SAGEMAKER_EMULATOR_BASE_IMAGE) forces a choice.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import DockerException

from emulator.config import Settings
from emulator.runtime.images.catalogue import BUILD_ARGS, LOCAL_IMAGES, REPOSITORY_PREFIX, SHARED_SOURCES, image_exists

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

UPSTREAM_BASE = "python:3.11-slim"
_WHEELS_DIR = "wheels"
_WHEELS_STAMP = ".requirements.sha256"
_FRAMEWORK_VERSIONS_FILE = "framework-versions.txt"
_SHARED_DIR = "shared"
_LOCK_DIR = Path(tempfile.gettempdir()) / "sagemaker-emulator-locks"


class ImageBuildError(RuntimeError):
    """Building a local image failed; the message carries the tail of the build output."""



# --- Hashing and tags ------------------------------------------------------------------------------


def context_hash(name: str) -> str:
    """sha256 of an image's build context (paths, exec bits, contents; not the wheels) and its base."""
    context = _context(name)
    digest = hashlib.sha256()
    for path in sorted(_context_files(context)):
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + executable + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for inside, source in sorted(SHARED_SOURCES.get(name, {}).items()):
        for path in sorted(_context_files(source) if source.is_dir() else [source]):
            digest.update(f"{_SHARED_DIR}/{inside}/{path.relative_to(source).as_posix()}".encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    for arg, value in sorted(BUILD_ARGS.get(name, {}).items()):
        digest.update(f"ARG {arg}={value}".encode() + b"\0")
    if name != "base":
        base = base_reference()
        digest.update(b"FROM " + base.encode())
        if not base.startswith(f"{REPOSITORY_PREFIX}/"):
            # A tag like python:3.11-slim moves; its image id says which one we built on.
            digest.update(_client().images.get(base).id.encode())
    return digest.hexdigest()


def image_tag(name: str) -> str:
    return f"{REPOSITORY_PREFIX}/{name}:{context_hash(name)[:12]}"


_base_lock = threading.Lock()
_base: str | None = None


def base_reference() -> str:
    """The image the framework Dockerfiles build FROM (decided once per process)."""
    global _base
    with _base_lock:
        if _base is None:
            override = Settings().base_image
            if override:
                _base = override
            elif _upstream_base_available():
                _base = UPSTREAM_BASE
            else:
                _base = f"{REPOSITORY_PREFIX}/base:{context_hash('base')[:12]}"
            log.info("base image for the emulator's framework images: %s", _base)
        return _base


def _upstream_base_available() -> bool:
    client = _client()
    if image_exists(client, UPSTREAM_BASE):
        return True
    try:
        client.images.pull(UPSTREAM_BASE)
        return True
    except DockerException as exc:  # no registry reachable: expected on offline machines
        log.info("cannot pull %s (%s); bootstrapping a Debian base instead", UPSTREAM_BASE, exc)
        return False


# --- Building --------------------------------------------------------------------------------------


_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def ensure_image(name: str, progress: Progress | None = None) -> str:
    """Return the local tag of image `name`, building it (and its base) first if it is missing.

    Concurrent callers (threads or processes) needing the same image build it once: the others
    wait, then find it built.
    """
    say = progress or (lambda _line: None)
    context = _context(name)
    # Locked per context, not per name: images sharing a context regenerate its shared/ folder.
    with _image_lock(context.name):
        if name == "base" and not base_reference().startswith(f"{REPOSITORY_PREFIX}/base:"):
            return base_reference()  # python:3.11-slim or the override: nothing of ours to build
        tag = image_tag(name)
        if image_exists(_client(), tag):
            return tag
        started = time.monotonic()
        say(f"building {tag}")
        if name == "base":
            _run(["bash", str(context / "bootstrap.sh"), tag], say)
        else:
            base = ensure_image("base", progress)
            _ensure_wheels(context, say)
            _copy_shared_sources(name, context)
            _docker_build(name, context, tag, base, say)
        say(f"built {tag} in {time.monotonic() - started:.0f}s")
        return tag


def build_images(names: list[str] | None = None, progress: Progress | None = None) -> dict[str, str]:
    """Build (or find already built) the named local images, all when `names` is empty; name -> tag."""
    names = list(names or LOCAL_IMAGES)
    unknown = [n for n in names if n not in LOCAL_IMAGES]
    if unknown:
        raise ValueError(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(LOCAL_IMAGES)}")
    return {name: ensure_image(name, progress) for name in names}


@contextmanager
def _image_lock(name: str) -> Iterator[None]:
    """A thread lock per image, plus a file lock so the CLI, the server and tests don't race."""
    with _locks_guard:
        thread_lock = _locks.setdefault(name, threading.Lock())
    with thread_lock:
        _LOCK_DIR.mkdir(parents=True, exist_ok=True)
        with open(_LOCK_DIR / f"{name}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
            yield


def _ensure_wheels(context: Path, say: Progress) -> None:
    """Fill <context>/wheels from requirements.txt unless it already matches it.

    The images have no trustworthy route to PyPI, so wheels are fetched on the host and installed
    offline in the image. `pip wheel` also builds sdist-only packages (sagemaker-training has a C
    extension), which is why the host interpreter must match the images' (CPython 3.11, x86_64).
    """
    requirements = context / "requirements.txt"
    if not requirements.exists():
        return
    # Other versions of a framework, one per image (BUILD_ARGS): fetched one by one without
    # dependencies, since one pip resolution cannot hold two versions of a package.
    versions = context / _FRAMEWORK_VERSIONS_FILE
    pinned = [line.strip() for line in versions.read_text().splitlines()
              if line.strip() and not line.startswith("#")] if versions.exists() else []
    wheels = context / _WHEELS_DIR
    wanted = hashlib.sha256(requirements.read_bytes() + "\n".join(pinned).encode()).hexdigest()
    stamp = wheels / _WHEELS_STAMP
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64" or sys.platform != "linux":
        raise ImageBuildError(
            "the images' wheels are built with the host's Python, which must be CPython 3.11 on "
            f"linux x86_64 like the images; this is {platform.python_implementation()} "
            f"{platform.python_version()} on {sys.platform} {platform.machine()}"
        )
    say(f"fetching wheels for {context.name} (pip wheel -r {requirements.name})")
    with tempfile.TemporaryDirectory(prefix="sagemaker-emulator-wheels-") as tmp:
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "-qq", "--prefer-binary", "-w", tmp]
        _run([*pip_wheel, "-r", str(requirements)], say)
        for requirement in pinned:
            _run([*pip_wheel, "--no-deps", requirement], say)
        Path(tmp, _WHEELS_STAMP).write_text(wanted + "\n")
        shutil.rmtree(wheels, ignore_errors=True)
        shutil.copytree(tmp, wheels)


def _copy_shared_sources(name: str, context: Path) -> None:
    """Refresh <context>/shared/ from SHARED_SOURCES (a generated folder, like wheels/)."""
    target = context / _SHARED_DIR
    shutil.rmtree(target, ignore_errors=True)
    for inside, source in SHARED_SOURCES.get(name, {}).items():
        (target / inside).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target / inside, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / inside)


def _docker_build(name: str, context: Path, tag: str, base: str, say: Progress) -> None:
    # The engine's classic builder (what the Docker SDK drives) needs no BuildKit/buildx.
    tail: deque[str] = deque(maxlen=20)
    stream = _client().api.build(
        path=str(context),
        tag=tag,
        buildargs={"BASE": base, **BUILD_ARGS.get(name, {})},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
        labels={f"{REPOSITORY_PREFIX}.image": name},
    )
    for chunk in stream:
        for line in chunk.get("stream", "").splitlines():
            if line.strip():
                tail.append(line)
                say(line)
        if "error" in chunk:
            raise ImageBuildError(f"docker build of {tag} failed: {chunk['error']}\n" + "\n".join(tail))


def _run(command: list[str], say: Progress) -> None:
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            say(line.rstrip())
    if proc.returncode != 0:
        raise ImageBuildError(f"{' '.join(command[:3])} ... exited {proc.returncode}:\n" + "\n".join(tail))



# --- Helpers ---------------------------------------------------------------------------------------


def _context(name: str) -> Path:
    try:
        return LOCAL_IMAGES[name]
    except KeyError:
        raise ValueError(f"unknown image {name!r}; known: {', '.join(LOCAL_IMAGES)}") from None


def _context_files(context: Path) -> Iterator[Path]:
    for path in context.rglob("*"):
        relative = path.relative_to(context).parts
        if relative[0] in (_WHEELS_DIR, _SHARED_DIR) or "__pycache__" in relative or path.suffix == ".pyc":
            continue
        if path.is_file():
            yield path



_client_lock = threading.Lock()
_docker_client: docker.DockerClient | None = None


def _client() -> docker.DockerClient:
    global _docker_client
    with _client_lock:
        if _docker_client is None:
            # Builds and pulls stream for minutes; the default 60 s read timeout would cut them off.
            _docker_client = docker.from_env(timeout=1800)
        return _docker_client
