"""Model records (CreateModel): the DescribeModel response, used by the API and by pipeline steps.
Error wording follows SageMaker's, which the SDK matches on ("Cannot create already existing
model", `session._create_resource`)."""

from __future__ import annotations

import time
from typing import Any

from emulator.aws.errors import ValidationException
from emulator.core.arns import sagemaker_arn
from emulator.core.services import Services

MODEL = "Model"
STORED = ("ModelName", "PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn",
          "VpcConfig")
# What a deployment (an endpoint, a transform job) copies from a model when it is created: AWS lets the
# model be deleted afterwards, and what runs does not change.
CONTAINER_FIELDS = ("ModelName", "ModelArn", "PrimaryContainer", "Containers", "InferenceExecutionConfig",
                    "EnableNetworkIsolation")


def model_arn(services: Services, region: str, name: str) -> str:
    return sagemaker_arn(MODEL, name, region, services.account_id)


def create_model(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["ModelName"]
    arn = model_arn(services, region, name)
    if not req.get("PrimaryContainer") and not req.get("Containers"):
        raise ValidationException("Either PrimaryContainer or Containers must be specified.")
    if req.get("PrimaryContainer") and req.get("Containers"):
        raise ValidationException("PrimaryContainer and Containers cannot both be specified.")

    def conflict() -> Exception:
        return ValidationException(f'Cannot create already existing model "{arn}".')
    if services.records.arn_exists(arn):
        raise conflict()
    body = {**{k: req[k] for k in STORED if k in req}, "ModelArn": arn, "CreationTime": time.time(),
            "EnableNetworkIsolation": bool(req.get("EnableNetworkIsolation", False))}
    services.records.insert(MODEL, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def get_model(services: Services, region: str, name: str) -> dict[str, Any]:
    body = services.records.get(MODEL, name)
    if body is None:
        raise ValidationException(f'Could not find model "{model_arn(services, region, name)}".')
    return body
