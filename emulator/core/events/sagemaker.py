"""The events SageMaker sends to the default bus when a resource's status changes (developer guide,
"Automating Amazon SageMaker AI with Amazon EventBridge"), called by the one status writer of each
kind (core/jobs.py for training and processing jobs, core/pipelines.py for pipeline executions; the
transform job and endpoint writers call `status_changed` the same way).

For jobs and endpoints the event's detail is the resource's Describe response with timestamps in
epoch milliseconds and Tags as a map; for pipeline executions it is the documented camel-case summary
(pipelineExecutionArn, currentPipelineExecutionStatus, previousPipelineExecutionStatus, ...), and each
step's status change gets its own event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from emulator.aws import models
from emulator.core.events import bus

log = logging.getLogger(__name__)

SOURCE = "aws.sagemaker"
# kind -> (detail-type, status field, ARN field, Describe operation)
KINDS = {
    "TrainingJob": ("SageMaker Training Job State Change", "TrainingJobStatus", "TrainingJobArn",
                    "DescribeTrainingJob"),
    "ProcessingJob": ("SageMaker Processing Job State Change", "ProcessingJobStatus", "ProcessingJobArn",
                      "DescribeProcessingJob"),
    "TransformJob": ("SageMaker Transform Job State Change", "TransformJobStatus", "TransformJobArn",
                     "DescribeTransformJob"),
    "HyperParameterTuningJob": ("SageMaker HyperParameter Tuning Job State Change",
                                "HyperParameterTuningJobStatus", "HyperParameterTuningJobArn",
                                "DescribeHyperParameterTuningJob"),
    "Endpoint": ("SageMaker Endpoint State Change", "EndpointStatus", "EndpointArn", "DescribeEndpoint"),
}
EXECUTION_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_CHANGE = "SageMaker Model Building Pipeline Execution Step Status Change"


def status_changed(services, kind: str, body: dict[str, Any], previous: str | None) -> None:
    """A resource's status field changed (or it was created): send its state-change event."""
    spec = KINDS.get(kind)
    if spec is None or body.get(spec[1]) == previous:
        return
    detail_type, _, arn_field, operation = spec
    arn = body.get(arn_field, "")
    try:
        detail = _millis(models.operation_model("sagemaker", operation).output_shape,
                         {k: v for k, v in body.items() if not k.startswith("_")})
        detail["Tags"] = {t["Key"]: t["Value"] for t in services.records.list_tags(arn)}
        bus.emit(services, _region(arn, services), SOURCE, detail_type, [arn], detail)
    except Exception:
        log.exception("could not send the %s event of %s", detail_type, arn)


def _millis(shape, value: Any) -> Any:
    """Describe output with its timestamps (per the model) as epoch milliseconds, as the events carry them."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _millis(shape.members.get(k), v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_millis(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _millis(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, (int, float)):
        return int(round(value * 1000))
    return value


def execution_changed(services, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """A pipeline execution was created or written: events for its status and its steps' statuses."""
    try:
        _execution_events(services, before, after)
    except Exception:
        log.exception("could not send the events of %s", after.get("PipelineExecutionArn"))


def _execution_events(services, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    arn = after["PipelineExecutionArn"]
    region = _region(arn, services)
    previous = (before or {}).get("PipelineExecutionStatus")
    current = after.get("PipelineExecutionStatus")
    if current != previous:
        detail = {"pipelineExecutionDisplayName": after.get("PipelineExecutionDisplayName"),
                  "pipelineExecutionArn": arn,
                  "executionStartTime": bus.iso_time(after["CreationTime"]),
                  "currentPipelineExecutionStatus": current,
                  "pipelineArn": after["PipelineArn"]}
        if previous:
            detail["previousPipelineExecutionStatus"] = previous
        if current in ("Succeeded", "Failed", "Stopped"):
            detail["executionEndTime"] = bus.iso_time(after.get("LastModifiedTime") or after["CreationTime"])
        if after.get("PipelineExecutionDescription"):
            detail["pipelineExecutionDescription"] = after["PipelineExecutionDescription"]
        bus.emit(services, region, SOURCE, EXECUTION_CHANGE, [after["PipelineArn"], arn], detail)
    old_steps = (before or {}).get("_steps") or {}
    types: dict[str, str] | None = None
    for name, state in (after.get("_steps") or {}).items():
        status = state.get("StepStatus")
        was = (old_steps.get(name) or {}).get("StepStatus")
        if status == was or status is None:
            continue
        if types is None:
            types = _step_types(after.get("_definition"))
        detail = {"stepName": name, "stepType": types.get(name),
                  "currentStepStatus": status, "pipelineArn": after["PipelineArn"], "pipelineExecutionArn": arn,
                  "metadata": state.get("Metadata") or {}}
        if was:
            detail["previousStepStatus"] = was
        if state.get("StartTime") is not None:
            detail["stepStartTime"] = bus.iso_time(state["StartTime"])
        if state.get("EndTime") is not None:
            detail["stepEndTime"] = bus.iso_time(state["EndTime"])
        if state.get("FailureReason"):
            detail["failureReason"] = state["FailureReason"]
        bus.emit(services, region, SOURCE, STEP_CHANGE, [after["PipelineArn"], arn], detail)


def _step_types(definition: str | None) -> dict[str, str]:
    try:
        return {s["Name"]: s.get("Type") for s in json.loads(definition or "{}").get("Steps", [])}
    except (ValueError, AttributeError, TypeError):
        return {}


def _region(arn: str, services) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else services.settings.region
