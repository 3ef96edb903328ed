"""Builds the emulator's images from containers/ (the catalogue says which exist).

Each local image is `sagemaker-emulator/<name>:<hash12>`, where the hash covers its build context
(without the downloaded wheels) and the image it builds FROM. So an unchanged context is never
rebuilt and a changed one is never mistaken for the old image; nothing else records what was built.
A multi-stage build's earlier stages (the `install` stage that holds the wheels) are kept as the
build cache under `<name>:<hash12>-<stage>`, so that `images prune` (emulator.runtime.images.inventory)
can tell them from other people's images. Builds report their progress as BuildEvents (progress.py).

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
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import DockerException

from emulator.config import Settings
from emulator.runtime.images.catalogue import (
    BUILD_ARGS,
    LOCAL_IMAGES,
    REPO_DIR,
    REPOSITORY_PREFIX,
    SHARED_SOURCES,
    image_exists,
)
from emulator.runtime.images.progress import (
    BASE,
    BUILD,
    DONE,
    WHEELS,
    BuildEvent,
    Progress,
    ignore,
    read_status,
    write_status,
)

log = logging.getLogger(__name__)

UPSTREAM_BASE = "python:3.11-slim"
# The emulator's own image (docker-compose.yml) carries the emulator: its wheels are the package
# built from this source tree plus its dependencies, and its hash covers that tree.
EMULATOR = "emulator"
EMULATOR_ALIAS = f"{REPOSITORY_PREFIX}/{EMULATOR}:latest"   # the name docker-compose.yml runs
_PACKAGE_SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "emulator", "algorithms", "containers")
_WHEELS_DIR = "wheels"
_WHEELS_STAMP = ".requirements.sha256"
_FRAMEWORK_VERSIONS_FILE = "framework-versions.txt"
_SHARED_DIR = "shared"
_LOCK_DIR = Path(tempfile.gettempdir()) / "sagemaker-emulator-locks"
_POLL_SECONDS = 0.5   # how often a caller waiting for another's build looks at its progress
_PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-qq", "--prefer-binary", "-w"]   # + the output folder


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
    if name == EMULATOR:
        for path in sorted(_package_files()):
            digest.update(path.relative_to(REPO_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
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
    wait, reporting the builder's progress to their own `progress`, then find it built.
    """
    context = _context(name)
    # Locked per context, not per name: images sharing a context regenerate its shared/ folder.
    with _image_lock(context.name, progress or ignore) as say:
        if name == "base" and not base_reference().startswith(f"{REPOSITORY_PREFIX}/base:"):
            return base_reference()  # python:3.11-slim or the override: nothing of ours to build
        tag = image_tag(name)
        if image_exists(_client(), tag):
            return tag
        started = time.monotonic()
        repository = tag.split(":", 1)[0]
        log.info("building %s", tag)
        if name == "base":
            _run(["bash", str(context / "bootstrap.sh"), tag], BuildEvent(repository, BASE), say)
        else:
            base = ensure_image("base", say)
            if name == EMULATOR:
                _ensure_package_wheels(context, BuildEvent(repository, WHEELS), say)
            else:
                _ensure_wheels(context, BuildEvent(repository, WHEELS), say)
            _copy_shared_sources(name, context)
            _docker_build(name, context, tag, base, say)
        log.info("built %s in %.0fs", tag, time.monotonic() - started)
        say(BuildEvent(repository, DONE, line=f"built {tag} in {time.monotonic() - started:.0f}s"))
        return tag


def default_images() -> list[str]:
    """What `images build` builds when given no names: every image jobs run on."""
    return [name for name in LOCAL_IMAGES if name != EMULATOR]


def build_images(names: list[str] | None = None, progress: Progress | None = None) -> dict[str, str]:
    """Build (or find already built) the named local images, all job images when `names` is empty;
    name -> tag."""
    names = list(names or default_images())
    unknown = [n for n in names if n not in LOCAL_IMAGES]
    if unknown:
        raise ValueError(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(LOCAL_IMAGES)}")
    return {name: ensure_image(name, progress) for name in names}


@contextmanager
def _image_lock(name: str, progress: Progress) -> Iterator[Progress]:
    """A thread lock per image plus a file lock, so the CLI, the server and tests don't race.

    While another thread or process holds it, its latest status (the status file) is passed on to
    `progress`. The holder gets a Progress that keeps that file current and passes everything on.
    """
    with _locks_guard:
        thread_lock = _locks.setdefault(name, threading.Lock())
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    status_file = _LOCK_DIR / f"{name}.status"
    waiting = _Relay(progress)
    while not thread_lock.acquire(timeout=_POLL_SECONDS):
        waiting.relay(read_status(status_file))
    try:
        with open(_LOCK_DIR / f"{name}.lock", "w") as lock_file:
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file is closed
                    break
                except BlockingIOError:
                    waiting.relay(read_status(status_file))
                    time.sleep(_POLL_SECONDS)
            last: list[str] = [""]

            def say(event: BuildEvent) -> None:
                if event.status != last[0]:
                    last[0] = event.status
                    write_status(status_file, event)
                progress(event)
            try:
                yield say
            finally:
                status_file.unlink(missing_ok=True)
    finally:
        thread_lock.release()


class _Relay:
    """Passes another builder's status on to a waiting caller, once per change."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last = ""

    def relay(self, event: BuildEvent | None) -> None:
        if event is not None and event.status != self.last:
            self.last = event.status
            self.progress(event)


def _ensure_wheels(context: Path, event: BuildEvent, say: Progress) -> None:
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
    _check_host_python()
    with tempfile.TemporaryDirectory(prefix="sagemaker-emulator-wheels-") as tmp:
        _run([*_PIP_WHEEL, tmp, "-r", str(requirements)], event, say)
        for requirement in pinned:
            _run([*_PIP_WHEEL, tmp, "--no-deps", requirement], event, say)
        _replace_wheels(wheels, Path(tmp), wanted)


def _ensure_package_wheels(context: Path, event: BuildEvent, say: Progress) -> None:
    """Fill <context>/wheels with the emulator's own wheel, built from a copy of this source tree (so
    setuptools' build/ never lands in it), and the wheels of its dependencies."""
    if not (REPO_DIR / "pyproject.toml").is_file():
        raise ImageBuildError(f"the {EMULATOR} image is built from a checkout of the emulator's source; "
                              f"this is an installed copy ({REPO_DIR})")
    _check_host_python()
    with tempfile.TemporaryDirectory(prefix="sagemaker-emulator-wheels-") as tmp:
        source = Path(tmp, "source")
        for part in _PACKAGE_SOURCES:
            path = REPO_DIR / part
            if path.is_dir():
                shutil.copytree(path, source / part, ignore=_not_packaged)
            elif path.is_file():
                source.mkdir(exist_ok=True)
                shutil.copy2(path, source / part)
        out = Path(tmp, "wheels")
        _run([*_PIP_WHEEL, str(out), str(source)], event, say)
        _replace_wheels(context / _WHEELS_DIR, out, context_hash(EMULATOR))


def _not_packaged(folder: str, names: list[str]) -> set[str]:
    """What a copy of the source leaves out: generated build folders and byte code."""
    skip = {n for n in names if n in ("__pycache__", "build") or n.endswith((".pyc", ".egg-info"))}
    if Path(folder).parent.name == "containers":   # containers/<context>/{wheels,shared}
        skip |= {n for n in names if n in (_WHEELS_DIR, _SHARED_DIR)}
    return skip


def _replace_wheels(wheels: Path, fetched: Path, stamp: str) -> None:
    (fetched / _WHEELS_STAMP).write_text(stamp + "\n")
    shutil.rmtree(wheels, ignore_errors=True)
    shutil.copytree(fetched, wheels)


def _check_host_python() -> None:
    if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64" or sys.platform != "linux":
        raise ImageBuildError(
            "the images' wheels are built with the host's Python, which must be CPython 3.11 on "
            f"linux x86_64 like the images; this is {platform.python_implementation()} "
            f"{platform.python_version()} on {sys.platform} {platform.machine()}"
        )


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


_STAGE = re.compile(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", re.IGNORECASE)
_IMAGE_ID = re.compile(r"^ ---> ([0-9a-f]{12,64})$")


def _docker_build(name: str, context: Path, tag: str, base: str, say: Progress) -> None:
    # The engine's classic builder (what the Docker SDK drives) needs no BuildKit/buildx.
    tail: deque[str] = deque(maxlen=20)
    event = BuildEvent(tag.split(":", 1)[0], BUILD)
    stages: list[tuple[str, str | None]] = []   # (stage name, the image its last step made)
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
            if not line.strip():
                continue
            tail.append(line)
            event = event.after(line)
            stage = _STAGE.match(event.detail) if line.startswith("Step ") else None
            if stage:
                stages.append((stage[1] or f"stage{len(stages)}", None))
            elif stages and (made := _IMAGE_ID.match(line)):
                stages[-1] = (stages[-1][0], made[1])
            say(event)
        if "error" in chunk:
            raise ImageBuildError(f"docker build of {tag} failed: {chunk['error']}\n" + "\n".join(tail))
    # The earlier stages' images would be left untagged; name them after the image they built.
    repository, hash12 = tag.split(":", 1)
    for stage, image_id in stages[:-1]:
        if image_id:
            _client().api.tag(image_id, repository, f"{hash12}-{stage}")
    if name == EMULATOR:
        _client().api.tag(tag, *EMULATOR_ALIAS.split(":", 1))


def _run(command: list[str], event: BuildEvent, say: Progress) -> None:
    tail: deque[str] = deque(maxlen=30)
    say(event)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            event = event.after(line)
            say(event)
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


def _package_files() -> Iterator[Path]:
    """The source files the emulator's wheel is built from (what _ensure_package_wheels copies)."""
    for part in _PACKAGE_SOURCES:
        top = REPO_DIR / part
        if top.is_file():
            yield top
        for folder, dirs, files in os.walk(top):
            skip = _not_packaged(folder, dirs + files)
            dirs[:] = [d for d in dirs if d not in skip]
            yield from (Path(folder, f) for f in files if f not in skip)



_client_lock = threading.Lock()
_docker_client: docker.DockerClient | None = None


def _client() -> docker.DockerClient:
    global _docker_client
    with _client_lock:
        if _docker_client is None:
            # Builds and pulls stream for minutes; the default 60 s read timeout would cut them off.
            _docker_client = docker.from_env(timeout=1800)
        return _docker_client
