"""Monitoring job definitions (CreateDataQualityJobDefinition, CreateModelQualityJobDefinition) and the one
shape both they and a schedule's embedded MonitoringJobDefinition are read into (`JobSpec`).

A record is the Describe response; `EndpointName` is kept beside it for ListXxxJobDefinitions' filter and
summaries. ModelBias and ModelExplainability definitions (SageMaker Clarify) are not emulated: their
operations answer with a not-supported error (emulator.api.monitoring).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from emulator.aws.errors import ResourceInUse, ResourceNotFound, ValidationException
from emulator.core.arns import sagemaker_arn
from emulator.core.endpoints import find_endpoint
from emulator.core.listing import ListFields, list_page
from emulator.core.services import Services

DATA_QUALITY = "DataQuality"
MODEL_QUALITY = "ModelQuality"
KINDS = {DATA_QUALITY: "DataQualityJobDefinition", MODEL_QUALITY: "ModelQualityJobDefinition"}
UNSUPPORTED_TYPES = ("ModelBias", "ModelExplainability")
NAME = "JobDefinitionName"


def unsupported(monitoring_type: str) -> ValidationException:
    return ValidationException(f"{monitoring_type} monitoring (SageMaker Clarify) is not supported by the SageMaker "
                               "Emulator; DataQuality and ModelQuality are.")


def create(services: Services, region: str, monitoring_type: str, req: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[monitoring_type]
    name = req[NAME]
    arn = sagemaker_arn(kind, name, region, services.account_id)
    job_input = req[f"{monitoring_type}JobInput"]
    endpoint = check_input(services, job_input.get("EndpointInput"), job_input.get("BatchTransformInput"))
    body = {k: v for k, v in req.items() if k != "Tags"}
    body.update({"JobDefinitionArn": arn, "CreationTime": time.time(), "EndpointName": endpoint})

    def conflict() -> Exception:
        return ResourceInUse(f"Job definition {arn} already exists.")
    services.records.insert(kind, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def check_input(services: Services, endpoint_input: dict | None, batch_input: dict | None) -> str:
    """The monitored endpoint's name; SageMaker refuses a definition naming an endpoint that does not exist
    ("Endpoint 'x' does not exist or is not valid", seen from CreateDataQualityJobDefinition)."""
    if batch_input or not endpoint_input:
        raise ValidationException("Monitoring a batch transform job's captured data (BatchTransformInput) is not "
                                  "supported by the SageMaker Emulator yet; use an EndpointInput.")
    name = endpoint_input["EndpointName"]
    if find_endpoint(services, name) is None:
        raise ValidationException(f"Endpoint '{name}' does not exist or is not valid")
    return name


def get(services: Services, monitoring_type: str, name: str) -> dict[str, Any] | None:
    return services.records.get(KINDS[monitoring_type], name)


def describe(services: Services, region: str, monitoring_type: str, name: str) -> dict[str, Any]:
    body = get(services, monitoring_type, name)
    if body is None:
        raise not_found(services, region, monitoring_type, name)
    return body


def not_found(services: Services, region: str, monitoring_type: str, name: str) -> ResourceNotFound:
    arn = sagemaker_arn(KINDS[monitoring_type], name, region, services.account_id)
    return ResourceNotFound(f"Job definition {arn} not found.")


def delete(services: Services, region: str, monitoring_type: str, name: str) -> None:
    if not services.records.delete(KINDS[monitoring_type], describe(services, region, monitoring_type, name)[NAME]):
        raise not_found(services, region, monitoring_type, name)


def list_definitions(services: Services, monitoring_type: str, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    where = [("EndpointName", "=", req["EndpointName"])] if req.get("EndpointName") else []
    page, token = list_page(services.records, KINDS[monitoring_type], req, ListFields(name=NAME),
                            where_members=where)
    return [{"MonitoringJobDefinitionName": d[NAME], "MonitoringJobDefinitionArn": d["JobDefinitionArn"],
             "CreationTime": d["CreationTime"], "EndpointName": d["EndpointName"]} for d in page], token


@dataclass
class JobSpec:
    """What one monitoring execution runs, whichever form the schedule named it in."""
    monitoring_type: str
    definition_name: str | None
    image: str
    role: str
    cluster: dict[str, Any]
    endpoint_input: dict[str, Any]
    output: dict[str, Any]                  # MonitoringOutputs[0].S3Output
    environment: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    arguments: list[str] | None = None
    stopping: dict[str, Any] | None = None
    network: dict[str, Any] | None = None
    output_kms_key: str | None = None
    constraints_uri: str | None = None
    statistics_uri: str | None = None
    preprocessor_uri: str | None = None
    postprocessor_uri: str | None = None
    problem_type: str | None = None
    ground_truth_uri: str | None = None


def spec_of_definition(monitoring_type: str, body: dict[str, Any]) -> JobSpec:
    job_input = body[f"{monitoring_type}JobInput"]
    app = body[f"{monitoring_type}AppSpecification"]
    return _spec(monitoring_type, body[NAME], body, app, body.get(f"{monitoring_type}BaselineConfig"),
                 job_input["EndpointInput"], body[f"{monitoring_type}JobOutputConfig"],
                 body["JobResources"]["ClusterConfig"], app.get("Environment"), app.get("ProblemType"),
                 (job_input.get("GroundTruthS3Input") or {}).get("S3Uri"))


def spec_of_embedded(monitoring_type: str, body: dict[str, Any]) -> JobSpec:
    """A schedule's MonitoringJobDefinition (the generic ModelMonitor form)."""
    return _spec(monitoring_type, None, body, body["MonitoringAppSpecification"], body.get("BaselineConfig"),
                 body["MonitoringInputs"][0]["EndpointInput"], body["MonitoringOutputConfig"],
                 body["MonitoringResources"]["ClusterConfig"], body.get("Environment"), None, None)


def _spec(monitoring_type: str, name: str | None, body: dict[str, Any], app: dict[str, Any], baseline: dict | None,
          endpoint_input: dict[str, Any], outputs: dict[str, Any], cluster: dict[str, Any],
          environment: dict[str, str] | None, problem_type: str | None, ground_truth: str | None) -> JobSpec:
    baseline = baseline or {}
    return JobSpec(
        monitoring_type=monitoring_type, definition_name=name, image=app["ImageUri"], role=body["RoleArn"],
        cluster=cluster, endpoint_input=endpoint_input, output=outputs["MonitoringOutputs"][0]["S3Output"],
        output_kms_key=outputs.get("KmsKeyId"), environment=dict(environment or {}),
        entrypoint=app.get("ContainerEntrypoint"), arguments=app.get("ContainerArguments"),
        stopping=body.get("StoppingCondition"), network=body.get("NetworkConfig"),
        constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
        statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
        preprocessor_uri=app.get("RecordPreprocessorSourceUri"),
        postprocessor_uri=app.get("PostAnalyticsProcessorSourceUri"), problem_type=problem_type,
        ground_truth_uri=ground_truth)
