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

from emulator.config import SOURCES_DIR

log = logging.getLogger(__name__)


REPO_DIR = SOURCES_DIR   # the checkout, or an installed package's copy of containers/ and algorithms/
CONTAINERS_DIR = REPO_DIR / "containers"
REPOSITORY_PREFIX = "sagemaker-emulator"   # local images are <prefix>/<name>:<hash12>

# name -> build context. "base" is special: built by bootstrap.sh, not by a Dockerfile.
LOCAL_IMAGES: dict[str, Path] = {
    "base": CONTAINERS_DIR / "base",
    "emulator": CONTAINERS_DIR / "emulator",  # the emulator itself, for docker-compose.yml (builder.EMULATOR)
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
    "sklearn-1.2": {"sagemaker_framework_container": FRAMEWORK_SERVING},
    **{name: {f"algorithms/{part}": REPO_DIR / "algorithms" / part
              for part in ("__init__.py", "common", "linear_learner", "knn", "factorization_machines",
                           "randomcutforest")}
       for name in ("linear-learner", "knn", "factorization-machines", "randomcutforest")},
    **{name: {f"algorithms/{part}": REPO_DIR / "algorithms" / part for part in ("__init__.py", "model_monitor")}
       for name in ("model-monitor-analyzer", "model-monitor-groundtruth-merger")},
    # The script-mode trainer and model server both JumpStart images use.
    "pytorch": {"sagemaker_framework_container": FRAMEWORK_SERVING},
}

# Docker build arguments besides BASE: name -> {ARG: value} (part of the image hash).
BUILD_ARGS: dict[str, dict[str, str]] = {
    **{name: {"ALGORITHM": name} for name in ("linear-learner", "knn", "factorization-machines", "randomcutforest")},
    "sklearn": {"SCIKIT_LEARN_VERSION": "1.4.2"},
    "sklearn-1.2": {"SCIKIT_LEARN_VERSION": "1.2.2"},
    "model-monitor-analyzer": {"COMPONENT": "analyzer"},
    "model-monitor-groundtruth-merger": {"COMPONENT": "groundtruth-merger"},
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
    # Model Monitor: baselining and monitoring jobs (the SDK's image_uris "model-monitor" scope).
    "sagemaker-model-monitor-analyzer": "model-monitor-analyzer",
    "sagemaker-model-monitor-groundtruth-merger": "model-monitor-groundtruth-merger",
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
        if self.repository in NOT_PROVIDED_ALGORITHMS:
            return (f"The built-in algorithm {NOT_PROVIDED_ALGORITHMS[self.repository]} (image {self.uri}) is not "
                    "provided by the SageMaker Emulator. Provided built-in algorithms: XGBoost, LinearLearner, "
                    "k-NN, Factorization Machines, Random Cut Forest, and JumpStart LightGBM, CatBoost, "
                    "AutoGluon-Tabular and TabTransformer; any image in the local Docker engine also runs as is.")
        return (
            f"Image {self.uri} ({self.repository}) is a SageMaker image that this emulator does not "
            f"provide yet (local image '{self.local_name}'). Supported: "
            f"{', '.join(sorted(r for r, n in AWS_REPOSITORIES.items() if n in LOCAL_IMAGES))}."
        )



def resolve_image_uri(uri: str, docker_client: docker.DockerClient | None) -> ResolvedImage | None:
    """Map a request's image URI to what runs here, or None when nothing can run it.

    An image present in the local engine under exactly this reference wins (the user built, pulled
    or tagged it: bring your own container, including real AWS images), unless it is one of ours
    tagged with a SageMaker URI (`images tag-ecr`): the catalogue keeps choosing those, so a rebuilt
    image is never shadowed by an old tag. Otherwise SageMaker's ECR images are recognised by
    repository, whatever the account, region or tag.
    """
    match = ECR_URI.match(uri)
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
    match = ECR_URI.match(uri)
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



def image_exists(client: docker.DockerClient, reference: str) -> bool:
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

