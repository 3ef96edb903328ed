"""The batch transform contract (container_contracts.md §4.2): the model's serving container, `serve`, its
artifact in /opt/ml/model, SAGEMAKER_BATCH=true and -- only when the request sets them --
SAGEMAKER_MAX_PAYLOAD_IN_MB, SAGEMAKER_BATCH_STRATEGY, SAGEMAKER_MAX_CONCURRENT_TRANSFORMS; the model's
Environment, then the request's over it. One container per instance (TransformResources.InstanceCount).

Unlike training and processing, a transform job's containers do not end by themselves: the emulator
feeds them the input (emulator.runtime.batch.driver) and the job ends with that driving (`serves`); the
outcome is the driver's, not the containers' exit codes.
"""

from __future__ import annotations

from typing import Any

from emulator.core.jobs import TRANSFORM
from emulator.runtime.contracts import serving
from emulator.runtime.contracts.plan import HostPlan, Outcome
from emulator.runtime.staging import StagingError

KIND = TRANSFORM
SCRATCH = "transform"
result_files: tuple[str, ...] = ()
serves = True
STRATEGIES = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}


def _definition(job: dict[str, Any]) -> dict[str, Any]:
    definitions = serving.definitions(job["_model"])
    if len(definitions) != 1:
        raise StagingError("Batch transform of an inference pipeline (a model with several containers) is not "
                           "supported by the emulator yet.")
    if serving.is_multi_model(definitions[0]):
        raise StagingError("Batch transform of a multi-model container is not supported.")
    return definitions[0]


def image_uri(job: dict[str, Any]) -> str:
    definitions = serving.definitions(job["_model"])
    return definitions[0].get("Image", "") if definitions else ""


def resources(job: dict[str, Any]) -> dict[str, Any]:
    return job["TransformResources"]


def isolated(job: dict[str, Any]) -> bool:
    return bool(job["_model"].get("EnableNetworkIsolation"))


def metric_definitions(job: dict[str, Any]) -> list[dict[str, str]]:
    return []


def staging_plan(job: dict[str, Any], host: str, hosts: list[str]) -> HostPlan:
    return HostPlan({}, model=serving.model_source(_definition(job)))


def command(job: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    return None, serving.command()


def environment(job: dict[str, Any]) -> dict[str, str]:
    """The batch variables (the request's Environment is applied over all of this by the runner)."""
    platform = {"SAGEMAKER_BATCH": "true"}
    if job.get("MaxPayloadInMB") is not None:
        platform["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(job["MaxPayloadInMB"])
    if job.get("BatchStrategy"):
        platform["SAGEMAKER_BATCH_STRATEGY"] = STRATEGIES[job["BatchStrategy"]]
    if job.get("MaxConcurrentTransforms") is not None:
        platform["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(job["MaxConcurrentTransforms"])
    return serving.environment(_definition(job), platform)


def continuous_outputs(job: dict[str, Any]) -> list[tuple[str, str]]:
    return []


def outcome(job: dict[str, Any], codes: list[int], stop_reason: str | None, texts: dict[str, str]) -> Outcome:
    """`texts["driver"]`: the driver's failure reason ("" when every object was transformed)."""
    if stop_reason:
        return Outcome("Stopped")
    failure = texts.get("driver")
    if failure:
        return Outcome("Failed", failure_reason=failure)
    return Outcome("Completed")
