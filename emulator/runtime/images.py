"""The emulator's own stand-ins for SageMaker's images: build them from containers/, map AWS URIs to them.

Each local image is `sagemaker-emulator/<name>:<hash12>`, where the hash covers its build context
(without the downloaded wheels) and the image it builds FROM. So an unchanged context is never
rebuilt and a changed one is never mistaken for the old image; nothing else records what was built.

Base image: the framework Dockerfiles take `ARG BASE`. Where `python:3.11-slim` is present or can be
pulled it is used; where no registry is reachable, `containers/base/bootstrap.sh` makes one from
Debian packages (debootstrap). `SAGEMAKER_EMULATOR_BASE_IMAGE` forces a choice.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

CONTAINERS_DIR = Path(__file__).resolve().parents[2] / "containers"
REPO_DIR = CONTAINERS_DIR.parent
REPOSITORY_PREFIX = "sagemaker-emulator"
UPSTREAM_BASE = "python:3.11-slim"
BASE_OVERRIDE_ENV = "SAGEMAKER_EMULATOR_BASE_IMAGE"

# name -> build context. "base" is special: built by bootstrap.sh, not by a Dockerfile.
LOCAL_IMAGES: dict[str, Path] = {
    "base": CONTAINERS_DIR / "base",
    # scikit-learn 1.4.2 (framework version 1.4-2) and 1.2.2 (1.2-1): one context, two images.
    "sklearn": CONTAINERS_DIR / "sklearn",
    "sklearn-1.2": CONTAINERS_DIR / "sklearn",
    "xgboost": CONTAINERS_DIR / "xgboost",
    # First-party algorithms: one context, one image per ECR repository (BUILD_ARGS names it).
    "linear-learner": CONTAINERS_DIR / "amazon-algorithms",
    "knn": CONTAINERS_DIR / "amazon-algorithms",
    "factorization-machines": CONTAINERS_DIR / "amazon-algorithms",
    "randomcutforest": CONTAINERS_DIR / "amazon-algorithms",
    # JumpStart tabular algorithms (algorithms/jumpstart/): LightGBM, CatBoost and AutoGluon-Tabular
    # on one torch-free image; TabTransformer on the PyTorch DLC stand-in.
    "jumpstart-tabular": CONTAINERS_DIR / "jumpstart-tabular",
    "autogluon": CONTAINERS_DIR / "jumpstart-tabular",
    "pytorch": CONTAINERS_DIR / "pytorch",
}

# Code an image needs from outside its folder: name -> {path in <context>/shared/: file or folder}.
# Copied there before each build (a build context cannot reach outside itself) and hashed from the
# source, so editing e.g. algorithms/xgboost/ rebuilds the images that carry it, and only those.
SHARED_SOURCES: dict[str, dict[str, Path]] = {
    "xgboost": {f"algorithms/{part}": REPO_DIR / "algorithms" / part
                for part in ("__init__.py", "common", "xgboost")},
    **{name: {f"algorithms/{part}": REPO_DIR / "algorithms" / part
              for part in ("__init__.py", "common", "linear_learner", "knn", "factorization_machines",
                           "randomcutforest")}
       for name in ("linear-learner", "knn", "factorization-machines", "randomcutforest")},
    # The script-mode trainer and model server both JumpStart images use.
    "pytorch": {"sagemaker_framework_container":
                CONTAINERS_DIR / "jumpstart-tabular" / "src" / "sagemaker_framework_container"},
}

# Docker build arguments besides BASE: name -> {ARG: value} (part of the image hash).
BUILD_ARGS: dict[str, dict[str, str]] = {
    **{name: {"ALGORITHM": name} for name in ("linear-learner", "knn", "factorization-machines", "randomcutforest")},
    "sklearn": {"SCIKIT_LEARN_VERSION": "1.4.2"},
    "sklearn-1.2": {"SCIKIT_LEARN_VERSION": "1.2.2"},
}

# Framework versions (the first part of an image tag, as the SDK's framework_version writes it) that
# have an image of their own: ECR repository -> {framework version: (local image, library version)}.
# Every other version of these repositories runs on the nearest one, and the job log says so
# (docs/configuration.md has the table). scikit-learn 0.20, 0.23 and 1.0 publish no wheels for the
# images' Python 3.11.
FRAMEWORK_VERSIONS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "sagemaker-scikit-learn": ("scikit-learn", {"1.2-1": ("sklearn-1.2", "1.2.2"),
                                                "1.4-2": ("sklearn", "1.4.2")}),
    "sagemaker-xgboost": ("XGBoost", {"3.0-5": ("xgboost", "3.0.5")}),
    "xgboost": ("XGBoost", {"3.0-5": ("xgboost", "3.0.5")}),
    "pytorch-training": ("PyTorch", {"2.13.0": ("pytorch", "2.13.0")}),
    "pytorch-inference": ("PyTorch", {"2.13.0": ("pytorch", "2.13.0")}),
}

# ECR repository -> local image name. Names without a build context in LOCAL_IMAGES are known
# SageMaker images the emulator does not provide yet (jobs using them fail with a clear reason).
AWS_REPOSITORIES: dict[str, str] = {
    "sagemaker-scikit-learn": "sklearn",
    "sagemaker-xgboost": "xgboost",
    "xgboost": "xgboost",  # legacy first-party XGBoost (version "1")
    "linear-learner": "linear-learner",
    "knn": "knn",
    "factorization-machines": "factorization-machines",
    "randomcutforest": "randomcutforest",
    # JumpStart LightGBM / CatBoost / TabTransformer run on the PyTorch DLC; AutoGluon on its own.
    "pytorch-training": "pytorch",
    "pytorch-inference": "pytorch",
    "pytorch-inference-graviton": "pytorch",
    "autogluon-training": "autogluon",
    "autogluon-inference": "autogluon",
}

# SageMaker's own algorithm images that the emulator does not provide: ECR repository -> algorithm
# name as the SDK and the docs call it. Jobs (and tuning jobs) using them fail saying so.
NOT_PROVIDED_ALGORITHMS: dict[str, str] = {
    "ipinsights": "IP Insights",
    "kmeans": "K-Means",
    "pca": "PCA",
    "ntm": "Neural Topic Model",
    "lda": "LDA",
    "object2vec": "Object2Vec",
    "blazingtext": "BlazingText",
    "forecasting-deepar": "DeepAR",
    "image-classification": "Image Classification",
    "object-detection": "Object Detection",
    "semantic-segmentation": "Semantic Segmentation",
    "seq2seq": "Sequence-to-Sequence",
}
AWS_REPOSITORIES.update({repository: repository for repository in NOT_PROVIDED_ALGORITHMS})

# (ECR repository, tag pattern) -> local image, consulted before AWS_REPOSITORIES. JumpStart's
# LightGBM and CatBoost specs name the PyTorch 1.9.0 DLC (their scripts never import torch), so those
# tags run on the torch-free jumpstart-tabular image; every other PyTorch tag gets the real thing.
AWS_REPOSITORY_TAGS: list[tuple[str, re.Pattern[str], str]] = [
    ("pytorch-training", re.compile(r"1\.9\.0-(?:cpu|gpu)-py38"), "jumpstart-tabular"),
    ("pytorch-inference", re.compile(r"1\.9\.0-(?:cpu|gpu)-py38"), "jumpstart-tabular"),
]

# `<account>.dkr.ecr.<region>.<domain>/<repository>[:<tag>][@sha256:<digest>]` for any account and
# region; domains as in the SageMaker SDK (commercial, China, the two ISO partitions).
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\."
    r"(?:amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>\w[\w.-]{0,127}))?(?:@sha256:[0-9a-f]{64})?$"
)

_WHEELS_DIR = "wheels"
_WHEELS_STAMP = ".requirements.sha256"
_FRAMEWORK_VERSIONS_FILE = "framework-versions.txt"
_SHARED_DIR = "shared"
_LOCK_DIR = Path(tempfile.gettempdir()) / "sagemaker-emulator-locks"


class ImageBuildError(RuntimeError):
    """Building a local image failed; the message carries the tail of the build output."""


class ImageUnavailableError(RuntimeError):
    """An image URI cannot be run here; the message is meant for a job's FailureReason."""


@dataclass(frozen=True)
class ResolvedImage:
    """How an image URI from a Create* request runs in the local engine."""

    uri: str
    local_name: str | None  # emulator image standing in for it; None = run `image` as it is
    buildable: bool  # ensure_image(local_name) can build it
    image: str | None = None  # a reference already in the local engine (bring your own container)
    repository: str | None = None  # ECR repository, when `uri` is an ECR URI

    @property
    def failure_reason(self) -> str | None:
        if self.image or self.buildable:
            return None
        if self.repository in NOT_PROVIDED_ALGORITHMS:
            return (f"The built-in algorithm {NOT_PROVIDED_ALGORITHMS[self.repository]} (image {self.uri}) is not "
                    "provided by the SageMaker Emulator. Provided built-in algorithms: XGBoost, LinearLearner, "
                    "k-NN, Factorization Machines, Random Cut Forest, and JumpStart LightGBM, CatBoost, AutoGluon-Tabular and "
                    "TabTransformer; any image in the local Docker engine also runs as is.")
        return (
            f"Image {self.uri} ({self.repository}) is a SageMaker image that this emulator does not "
            f"provide yet (local image '{self.local_name}'). Supported: "
            f"{', '.join(sorted(r for r, n in AWS_REPOSITORIES.items() if n in LOCAL_IMAGES))}."
        )


# --- Resolving image URIs --------------------------------------------------------------------------


def resolve_image_uri(uri: str, docker_client: docker.DockerClient | None) -> ResolvedImage | None:
    """Map a request's image URI to what runs here, or None when nothing can run it.

    An image present in the local engine under exactly this reference wins (the user built, pulled
    or tagged it: bring your own container, including real AWS images), unless it is one of ours
    tagged with a SageMaker URI (`images tag-ecr`): the catalogue keeps choosing those, so a rebuilt
    image is never shadowed by an old tag. Otherwise SageMaker's ECR images are recognised by
    repository, whatever the account, region or tag.
    """
    match = _ECR_URI.match(uri)
    known = bool(match) and match["repository"] in AWS_REPOSITORIES
    if docker_client is not None and _local_image_to_run(docker_client, uri, known):
        return ResolvedImage(uri=uri, local_name=None, buildable=False, image=uri)
    if not known:
        return None
    local_name = next((name for repository, tags, name in AWS_REPOSITORY_TAGS
                       if repository == match["repository"] and tags.fullmatch(match["tag"] or "")),
                      None)
    if local_name is None:
        chosen = framework_version_for(match["repository"], match["tag"])
        local_name = chosen[1] if chosen else AWS_REPOSITORIES[match["repository"]]
    return ResolvedImage(
        uri=uri,
        local_name=local_name,
        buildable=local_name in LOCAL_IMAGES,
        repository=match["repository"],
    )


def _version_position(version: str) -> int:
    """1.2-1 -> 1_002_001: major, minor and build on one line, so "nearest" is a distance."""
    parts = (tuple(int(part) for part in re.findall(r"\d+", version)) + (0, 0, 0))[:3]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


def framework_version_for(repository: str, tag: str | None) -> tuple[str, str, str] | None:
    """(framework version asked for, local image, framework version it runs) for a framework image's
    tag, choosing the nearest version that has an image; None for repositories without versions."""
    if repository not in FRAMEWORK_VERSIONS:
        return None
    versions = FRAMEWORK_VERSIONS[repository][1]
    asked = re.match(r"\d+(?:\.\d+)*(?:-\d+)?", tag or "")
    if not asked:  # "latest" or no tag: the newest
        newest = max(versions, key=_version_position)
        return tag or "latest", versions[newest][0], newest
    wanted = _version_position(asked.group())
    # The closest version; of two equally close, the newer.
    nearest = min(versions, key=lambda v: (abs(_version_position(v) - wanted), -_version_position(v)))
    return asked.group(), versions[nearest][0], nearest


def version_note(uri: str) -> str | None:
    """The job-log line for an image URI whose framework version runs on another version here."""
    match = _ECR_URI.match(uri)
    if not match or any(repository == match["repository"] and tags.fullmatch(match["tag"] or "")
                        for repository, tags, _ in AWS_REPOSITORY_TAGS):  # e.g. JumpStart's torch-free tags
        return None
    chosen = framework_version_for(match["repository"], match["tag"])
    if chosen is None or chosen[0] == chosen[2]:
        return None
    library, versions = FRAMEWORK_VERSIONS[match["repository"]]
    asked, _, used = chosen
    return (f"SageMaker Emulator: framework version {asked} of {match['repository']} is not built here; "
            f"running {library} {versions[used][1]} (framework version {used}), the nearest one that is.")


def image_for_uri(uri: str, docker_client: docker.DockerClient, progress: Progress | None = None) -> str:
    """The local image reference to run for `uri`, building it if needed; raises ImageUnavailableError."""
    resolved = resolve_image_uri(uri, docker_client)
    if resolved is None:
        raise ImageUnavailableError(
            f"Image {uri} is neither in the local Docker engine nor a SageMaker image this emulator "
            "provides. Build or tag it locally to bring your own container."
        )
    if resolved.image:
        return resolved.image
    if not resolved.buildable or resolved.local_name is None:
        raise ImageUnavailableError(resolved.failure_reason or uri)
    return ensure_image(resolved.local_name, progress)


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
            override = os.environ.get(BASE_OVERRIDE_ENV)
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
    if _image_exists(client, UPSTREAM_BASE):
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
        if _image_exists(_client(), tag):
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


def _image_exists(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
        return True
    except ImageNotFound:
        return False
    except APIError as exc:  # e.g. an invalid reference: certainly not a local image
        log.debug("image inspect %s: %s", reference, exc)
        return False


def _local_image_to_run(client: docker.DockerClient, reference: str, catalogued: bool) -> bool:
    try:
        labels = client.images.get(reference).labels or {}
    except (ImageNotFound, APIError):  # absent, or not even a valid reference
        return False
    return not (catalogued and f"{REPOSITORY_PREFIX}.image" in labels)


_client_lock = threading.Lock()
_docker_client: docker.DockerClient | None = None


def _client() -> docker.DockerClient:
    global _docker_client
    with _client_lock:
        if _docker_client is None:
            # Builds and pulls stream for minutes; the default 60 s read timeout would cut them off.
            _docker_client = docker.from_env(timeout=1800)
        return _docker_client
