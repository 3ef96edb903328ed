"""The hosting contract (container_contracts.md §4.1, inference_and_monitoring.md §1.5-1.6), shared by
endpoints and batch transform: which containers a model runs, what each sees, where it listens.

`docker run IMAGE serve`, the model artifact unpacked in /opt/ml/model (or, for a multi-model container,
models loaded on demand under /opt/ml/models), the model's Environment, HTTP on SAGEMAKER_BIND_TO_PORT
(8080): GET /ping, POST /invocations. Pure functions of the model record.
"""

from __future__ import annotations

from typing import Any

from emulator.runtime.contracts.plan import ModelSource

PORT = 8080
MODEL_DIR = "/opt/ml/model"
MODELS_DIR = "/opt/ml/models"


def definitions(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's containers in invocation order (an inference pipeline has several)."""
    if model.get("PrimaryContainer"):
        return [model["PrimaryContainer"]]
    return list(model.get("Containers") or [])


def container_name(definition: dict[str, Any], position: int, count: int) -> str:
    """How SageMaker names a container in messages: `primary` for a single one, its hostname (or
    container-N) in an inference pipeline."""
    if count == 1:
        return "primary"
    return definition.get("ContainerHostname") or f"container-{position + 1}"


def hostname(definition: dict[str, Any], position: int) -> str:
    return definition.get("ContainerHostname") or f"container-{position + 1}"


def is_multi_model(definition: dict[str, Any]) -> bool:
    return definition.get("Mode") == "MultiModel"


def direct(model: dict[str, Any]) -> bool:
    """InferenceExecutionConfig Mode=Direct: each request names its container (TargetContainerHostname)."""
    return (model.get("InferenceExecutionConfig") or {}).get("Mode") == "Direct"


def model_source(definition: dict[str, Any]) -> ModelSource | None:
    if is_multi_model(definition):
        return ModelSource("multi-model", definition.get("ModelDataUrl") or "")
    if definition.get("ModelDataUrl"):
        return ModelSource("archive", definition["ModelDataUrl"])
    s3 = (definition.get("ModelDataSource") or {}).get("S3DataSource")
    if s3:
        compressed = s3.get("CompressionType", "None") == "Gzip" or s3.get("S3DataType") == "S3Object"
        return ModelSource("archive" if compressed else "prefix", s3["S3Uri"])
    return None


def port(definition: dict[str, Any]) -> int:
    try:
        return int((definition.get("Environment") or {}).get("SAGEMAKER_BIND_TO_PORT", PORT))
    except ValueError:
        return PORT


def environment(definition: dict[str, Any], platform: dict[str, str] | None = None,
                overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The container's own variables: `platform` ones (batch transform's SAGEMAKER_BATCH...), the model's
    Environment over them, SAGEMAKER_MULTI_MODEL for a multi-model container, and `overrides` (a transform
    job's Environment) over everything."""
    env = dict(platform or {})
    if is_multi_model(definition):
        env["SAGEMAKER_MULTI_MODEL"] = "true"
    env.update(definition.get("Environment") or {})
    env.update(overrides or {})
    return env


def command() -> list[str]:
    return ["serve"]
