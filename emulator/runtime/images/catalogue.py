"""Which images the emulator provides and which SageMaker image URIs run on them.

`LOCAL_IMAGES` names the emulator's own stand-ins and their build contexts under containers/ (with
the code they carry from outside their folder, `SHARED_SOURCES`, and their build arguments);
`AWS_REPOSITORIES` / `AWS_REPOSITORY_TAGS` map SageMaker's ECR repositories (any account, region or
tag) onto them. `resolve_image_uri` answers what a request's image URI runs as. Building the images
is emulator.runtime.images.builder's business.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

log = logging.getLogger(__name__)

CONTAINERS_DIR = Path(__file__).resolve().parents[3] / "containers"
REPO_DIR = CONTAINERS_DIR.parent
REPOSITORY_PREFIX = "sagemaker-emulator"   # local images are <prefix>/<name>:<hash12>

# name -> build context. "base" is special: built by bootstrap.sh, not by a Dockerfile.
LOCAL_IMAGES: dict[str, Path] = {
    "base": CONTAINERS_DIR / "base",
    "sklearn": CONTAINERS_DIR / "sklearn",
    "xgboost": CONTAINERS_DIR / "xgboost",
    # First-party algorithms: one context, one image per ECR repository (BUILD_ARGS names it).
    "linear-learner": CONTAINERS_DIR / "amazon-algorithms",
    "knn": CONTAINERS_DIR / "amazon-algorithms",
    "factorization-machines": CONTAINERS_DIR / "amazon-algorithms",
    # JumpStart tabular algorithms (algorithms/jumpstart/): LightGBM, CatBoost and AutoGluon-Tabular
    # on one torch-free image; TabTransformer on the PyTorch DLC stand-in.
    "jumpstart-tabular": CONTAINERS_DIR / "jumpstart-tabular",
    "autogluon": CONTAINERS_DIR / "jumpstart-tabular",
    "pytorch": CONTAINERS_DIR / "pytorch",
    # Model Monitor (algorithms/model_monitor/): the analyzer and the ground-truth merger, one
    # context, one image each (BUILD_ARGS names it).
    "model-monitor-analyzer": CONTAINERS_DIR / "model-monitor",
    "model-monitor-groundtruth-merger": CONTAINERS_DIR / "model-monitor",
}

# Code an image needs from outside its folder: name -> {path in <context>/shared/: file or folder}.
# Copied there before each build (a build context cannot reach outside itself) and hashed from the
# source, so editing e.g. algorithms/xgboost/ rebuilds the images that carry it, and only those.
FRAMEWORK_SERVING = CONTAINERS_DIR / "jumpstart-tabular" / "src" / "sagemaker_framework_container"
SHARED_SOURCES: dict[str, dict[str, Path]] = {
    # XGBoost script mode serves the user's inference script on the framework server.
    "xgboost": {**{f"algorithms/{part}": REPO_DIR / "algorithms" / part
                   for part in ("__init__.py", "common", "xgboost")},
                "sagemaker_framework_container": FRAMEWORK_SERVING},
    "sklearn": {"sagemaker_framework_container": FRAMEWORK_SERVING},
    **{name: {f"algorithms/{part}": REPO_DIR / "algorithms" / part
              for part in ("__init__.py", "common", "linear_learner", "knn", "factorization_machines")}
       for name in ("linear-learner", "knn", "factorization-machines")},
    **{name: {f"algorithms/{part}": REPO_DIR / "algorithms" / part for part in ("__init__.py", "model_monitor")}
       for name in ("model-monitor-analyzer", "model-monitor-groundtruth-merger")},
    # The script-mode trainer and model server both JumpStart images use.
    "pytorch": {"sagemaker_framework_container": FRAMEWORK_SERVING},
}

# Docker build arguments besides BASE: name -> {ARG: value} (part of the image hash).
BUILD_ARGS: dict[str, dict[str, str]] = {
    **{name: {"ALGORITHM": name} for name in ("linear-learner", "knn", "factorization-machines")},
    "model-monitor-analyzer": {"COMPONENT": "analyzer"},
    "model-monitor-groundtruth-merger": {"COMPONENT": "groundtruth-merger"},
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
    # JumpStart LightGBM / CatBoost / TabTransformer run on the PyTorch DLC; AutoGluon on its own.
    "pytorch-training": "pytorch",
    "pytorch-inference": "pytorch",
    "pytorch-inference-graviton": "pytorch",
    "autogluon-training": "autogluon",
    "autogluon-inference": "autogluon",
    # Model Monitor: baselining and monitoring jobs (the SDK's image_uris "model-monitor" scope).
    "sagemaker-model-monitor-analyzer": "model-monitor-analyzer",
    "sagemaker-model-monitor-groundtruth-merger": "model-monitor-groundtruth-merger",
}

# (ECR repository, tag pattern) -> local image, consulted before AWS_REPOSITORIES. JumpStart's
# LightGBM and CatBoost specs name the PyTorch 1.9.0 DLC (their scripts never import torch), so those
# tags run on the torch-free jumpstart-tabular image; every other PyTorch tag gets the real thing.
AWS_REPOSITORY_TAGS: list[tuple[str, re.Pattern[str], str]] = [
    ("pytorch-training", re.compile(r"1\.9\.0-(?:cpu|gpu)-py38"), "jumpstart-tabular"),
    ("pytorch-inference", re.compile(r"1\.9\.0-(?:cpu|gpu)-py38"), "jumpstart-tabular"),
]

# `<account>.dkr.ecr.<region>.<domain>/<repository>[:<tag>][@sha256:<digest>]` for any account and
# region; domains as in the SageMaker SDK (commercial, China, the two ISO partitions).
ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\."
    r"(?:amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>\w[\w.-]{0,127}))?(?:@sha256:[0-9a-f]{64})?$"
)


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
        return (
            f"Image {self.uri} ({self.repository}) is a SageMaker image that this emulator does not "
            f"provide yet (local image '{self.local_name}'). Supported: "
            f"{', '.join(sorted(r for r, n in AWS_REPOSITORIES.items() if n in LOCAL_IMAGES))}."
        )



def resolve_image_uri(uri: str, docker_client: docker.DockerClient | None) -> ResolvedImage | None:
    """Map a request's image URI to what runs here, or None when nothing can run it.

    An image present in the local engine under exactly this reference wins (the user built, pulled
    or tagged it: bring your own container, including real AWS images). Otherwise SageMaker's ECR
    images are recognised by repository, whatever the account, region or tag.
    """
    if docker_client is not None and image_exists(docker_client, uri):
        return ResolvedImage(uri=uri, local_name=None, buildable=False, image=uri)
    match = ECR_URI.match(uri)
    if not match or match["repository"] not in AWS_REPOSITORIES:
        return None
    local_name = next((name for repository, tags, name in AWS_REPOSITORY_TAGS
                       if repository == match["repository"] and tags.fullmatch(match["tag"] or "")),
                      AWS_REPOSITORIES[match["repository"]])
    return ResolvedImage(
        uri=uri,
        local_name=local_name,
        buildable=local_name in LOCAL_IMAGES,
        repository=match["repository"],
    )



def image_exists(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
        return True
    except ImageNotFound:
        return False
    except APIError as exc:  # e.g. an invalid reference: certainly not a local image
        log.debug("image inspect %s: %s", reference, exc)
        return False

