"""The EventBridge target that starts a SageMaker pipeline execution (a rule target whose Arn is a
pipeline's, with `SageMakerPipelineParameters`), through the same code as StartPipelineExecution."""

from __future__ import annotations

from typing import Any

from emulator.aws import models
from emulator.aws.validation import validate_input
from emulator.core.events import delivery, transform
from emulator.pipelines import control


def handles(target: dict[str, Any]) -> bool:
    parts = target["Arn"].split(":", 5)
    return len(parts) == 6 and parts[2] == "sagemaker" and parts[5].startswith("pipeline/")


def start_pipeline(services, region: str, target: dict[str, Any], event: dict[str, Any],
                   rule: dict[str, Any]) -> str:
    parts = target["Arn"].split(":", 5)
    request = {"PipelineName": parts[5].split("/", 1)[1],
               "PipelineParameters": transform.pipeline_parameters(target, event, rule),
               # One execution per event and target, however often the delivery is retried.
               "ClientRequestToken": f"{event['id']}-{target['Id']}"[:128]}
    if not request["PipelineParameters"]:
        del request["PipelineParameters"]
    validate_input(models.operation_model("sagemaker", "StartPipelineExecution").input_shape, request)
    return control.start_execution(services, parts[3] or region, request)


def register() -> None:
    delivery.register_actor(handles, start_pipeline)
