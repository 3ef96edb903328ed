"""The shapes a container contract speaks in: a host's staging plan, uploads, the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPT_ML = "/opt/ml/"


@dataclass(frozen=True)
class Input:
    """Data put at `container_path` before the container starts."""
    tag: str                  # names the host-side folder of hard links
    uri: str                  # s3://... or file://...
    data_type: str            # S3Prefix | ManifestFile | AugmentedManifestFile
    distribution: str         # FullyReplicated | ShardedByS3Key
    container_path: str


@dataclass(frozen=True)
class Checkpoints:
    """Objects under `uri` copied into `container_path` before start (a job resuming from them)."""
    container_path: str
    uri: str


@dataclass(frozen=True)
class ModelSource:
    """A serving container's model: `archive` (a .tar.gz unpacked into /opt/ml/model), `prefix` (objects
    copied as they are) or `multi-model` (models loaded on demand under /opt/ml/models)."""
    kind: str
    uri: str


@dataclass(frozen=True)
class HostPlan:
    """Everything one host's /opt/ml holds before its container starts."""
    files: dict[str, Any]                                   # container path -> JSON content
    inputs: list[Input] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)    # container paths created empty
    checkpoints: Checkpoints | None = None
    model: ModelSource | None = None                        # unpacked into /opt/ml/model (serving kinds)


@dataclass(frozen=True)
class Upload:
    """`container_path` of every host into the object store: one tar.gz at `uri` (`archive`), or each
    file under `uri/<relative path>`. An archive with `if_any` is skipped when no host has a file."""
    container_path: str
    uri: str
    archive: bool = False
    if_any: bool = False


@dataclass(frozen=True)
class Outcome:
    status: str                                  # Completed | Failed | Stopped
    uploads: list[Upload] = field(default_factory=list)
    uploading: bool = False                      # announce the Uploading phase first
    failure_reason: str | None = None
    exit_message: str | None = None
    secondary: str | None = None                 # a training job's final SecondaryStatus, if not the status
