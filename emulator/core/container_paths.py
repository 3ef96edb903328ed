"""Paths inside a job container, as a request names them (LocalPath, channel names, checkpoint dirs).

Each becomes a host path under the job's scratch dir, so after normalisation it must stay below its
container root: `/opt/ml/processing/../../../etc` would otherwise make the emulator create, fill and
delete host folders outside the data dir. A path that would leave its root is refused at Create with
a ValidationException worded as AWS words constraint violations (emulator.aws.validation).
"""

from __future__ import annotations

import posixpath
from typing import Any

from emulator.aws.errors import ValidationException

ML_ROOT = "/opt/ml"
PROCESSING_ROOT = "/opt/ml/processing"
RESERVED_NAMES = (".", "..")


def confine(path: str, root: str) -> str | None:
    """`path` normalised, when it is absolute and lies strictly below `root`; otherwise None."""
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
        return None
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if not normal.startswith(root + "/"):
        return None
    return normal


def relative_to_ml(container_path: str) -> str | None:
    """The part of a container path below /opt/ml (None when the path leaves /opt/ml)."""
    normal = confine(container_path, ML_ROOT)
    return normal[len(ML_ROOT) + 1:] if normal else None


def _violation(value: Any, field: str, root: str) -> str:
    return (f"Value '{value}' at '{field}' failed to satisfy constraint: Member must be an absolute path "
            f"below {root}/ that stays there after '.' and '..' are resolved")


def check_training_paths(request: dict[str, Any]) -> None:
    """Channel names and the checkpoint directory of a CreateTrainingJob request."""
    errors = []
    for i, channel in enumerate(request.get("InputDataConfig") or [], start=1):
        if channel.get("ChannelName") in RESERVED_NAMES:
            errors.append(f"Value '{channel['ChannelName']}' at 'inputDataConfig.{i}.member.channelName' failed to "
                          "satisfy constraint: Member must not be '.' or '..'")
    local = (request.get("CheckpointConfig") or {}).get("LocalPath")
    if local and confine(local, ML_ROOT) is None:
        errors.append(_violation(local, "checkpointConfig.localPath", ML_ROOT))
    _raise(errors)


def check_processing_paths(request: dict[str, Any]) -> None:
    """Every S3Input and S3Output LocalPath of a CreateProcessingJob request."""
    errors = []
    for i, item in enumerate(request.get("ProcessingInputs") or [], start=1):
        local = (item.get("S3Input") or {}).get("LocalPath")
        if local is not None and confine(local, PROCESSING_ROOT) is None:
            errors.append(_violation(local, f"processingInputs.{i}.member.s3Input.localPath", PROCESSING_ROOT))
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for i, item in enumerate(outputs, start=1):
        local = (item.get("S3Output") or {}).get("LocalPath")
        if local is not None and confine(local, PROCESSING_ROOT) is None:
            errors.append(_violation(local, f"processingOutputConfig.outputs.{i}.member.s3Output.localPath",
                                     PROCESSING_ROOT))
    _raise(errors)


def _raise(errors: list[str]) -> None:
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise ValidationException(f"{len(errors)} validation {noun} detected: " + "; ".join(errors))
