"""Endpoint configurations and endpoints: their records and the endpoint's state machine.

CreateEndpointConfig is instantaneous. CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities
and DeleteEndpoint only record what is wanted; the endpoint controller (emulator.runtime.controllers.
endpoints) makes the containers match and reports back through the writers below:

  Creating -> InService | Failed          (one deployment, `_deployment`, being brought up)
  InService -> Updating -> InService      (UpdateEndpoint: `_pending` is brought up next to `_deployment`
                                           and replaces it once healthy; weights and capacities: the
                                           variants' desired values are applied in place)
  any -> Deleting -> (record removed)

A deployment is a snapshot of the endpoint config *and* its models, taken when the endpoint is created
or updated: AWS lets both be deleted while the endpoint runs (the SDK's delete_endpoint deletes the
config first), and what runs does not change. Wording of errors follows AWS's (inference_and_monitoring
.md §1.1): control-plane "not found" is a ValidationException naming the lower-cased ARN.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from emulator.aws.errors import ValidationException
from emulator.core import arns, models
from emulator.core.events import sagemaker as state_events
from emulator.core.listing import ListFields, filter_sort_page, pick
from emulator.core.services import Services

ENDPOINT_CONFIG = "EndpointConfig"
ENDPOINT = "Endpoint"
# DataCaptureConfig defaults of the API (EnableCapture true) and the content-type header lists.
CAPTURE_MODES = ("Input", "Output")


def _now() -> float:
    return time.time()


def status_changed(services: Services, body: dict[str, Any], previous: str | None) -> None:
    """An endpoint's status changed (or it was created): SageMaker sends a "SageMaker Endpoint State Change"
    event, as core/jobs.py does for jobs."""
    state_events.status_changed(services, ENDPOINT, body, previous)


def _write(services: Services, name: str, change) -> dict[str, Any] | None:
    """Every change of an endpoint record after its creation goes through here (one status writer)."""
    previous: list[str | None] = []

    def apply(record: dict[str, Any]) -> None:
        previous.append(record.get("EndpointStatus"))
        change(record)
    body = services.records.update(ENDPOINT, name, apply)
    if body is not None and previous and body.get("EndpointStatus") != previous[-1]:
        status_changed(services, body, previous[-1])
    return body


def config_arn(services: Services, region: str, name: str) -> str:
    return arns.sagemaker_arn(ENDPOINT_CONFIG, name, region, services.account_id)


def endpoint_arn(services: Services, region: str, name: str) -> str:
    return arns.sagemaker_arn(ENDPOINT, name, region, services.account_id)


def _exists(noun: str, arn: str) -> Exception:
    return ValidationException(f'Cannot create already existing {noun} "{arn}".')


def _insert(services: Services, kind: str, noun: str, name: str, arn: str, body: dict[str, Any],
            tags: list[dict[str, str]] | None) -> None:
    services.records.insert(kind, name, arn, body, lambda: _exists(noun, arn))
    if tags:
        services.records.add_tags(arn, tags)


# --- endpoint configurations ------------------------------------------------------------------------

def create_endpoint_config(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["EndpointConfigName"]
    arn = config_arn(services, region, name)
    if services.records.arn_exists(arn):
        raise _exists("endpoint configuration", arn)
    variants = copy.deepcopy(req["ProductionVariants"])
    names = [v["VariantName"] for v in variants]
    if len(set(n.lower() for n in names)) != len(names):
        raise ValidationException("Variant names must be unique within an endpoint configuration.")
    for variant in variants:
        models.get_model(services, region, variant["ModelName"])
        serverless = variant.get("ServerlessConfig")
        if serverless is None and (not variant.get("InstanceType") or not variant.get("InitialInstanceCount")):
            raise ValidationException(f"Variant {variant['VariantName']}: InstanceType and InitialInstanceCount are "
                                      "required unless ServerlessConfig is given.")
        if serverless is not None and variant.get("InstanceType"):
            raise ValidationException(f"Variant {variant['VariantName']}: ServerlessConfig cannot be combined with "
                                      "InstanceType.")
        variant.setdefault("InitialVariantWeight", 1.0)
        variant["InitialVariantWeight"] = float(variant["InitialVariantWeight"])
    if any(v.get("ServerlessConfig") for v in variants) and len(variants) > 1:
        raise ValidationException("An endpoint configuration with a serverless variant can have only one variant.")
    body: dict[str, Any] = {"EndpointConfigName": name, "EndpointConfigArn": arn, "ProductionVariants": variants,
                            "CreationTime": _now()}
    capture = req.get("DataCaptureConfig")
    if capture:
        capture = copy.deepcopy(capture)
        capture.setdefault("EnableCapture", True)
        body["DataCaptureConfig"] = capture
    for key in ("KmsKeyId", "AsyncInferenceConfig", "ExplainerConfig", "ShadowProductionVariants",
                "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation", "MetricsConfig"):
        if key in req:
            body[key] = copy.deepcopy(req[key])
    async_config = body.get("AsyncInferenceConfig")
    if async_config:
        async_config.setdefault("ClientConfig", {}).setdefault("MaxConcurrentInvocationsPerInstance", 4)
    _insert(services, ENDPOINT_CONFIG, "endpoint configuration", name, arn, body, req.get("Tags"))
    return body


def get_endpoint_config(services: Services, region: str, name: str) -> dict[str, Any]:
    body = services.records.get(ENDPOINT_CONFIG, name)
    if body is None:
        raise ValidationException(f'Could not find endpoint configuration "{config_arn(services, region, name)}".')
    return body


def delete_endpoint_config(services: Services, region: str, name: str) -> None:
    """AWS deletes a configuration even while endpoints use it: they keep running what they deployed."""
    get_endpoint_config(services, region, name)
    services.records.delete(ENDPOINT_CONFIG, name)


def list_endpoint_configs(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    page, token = filter_sort_page(services.records.list(ENDPOINT_CONFIG), req,
                                   ListFields(name="EndpointConfigName"))
    return [pick(c, ("EndpointConfigName", "EndpointConfigArn", "CreationTime")) for c in page], token


# --- deployments: what an endpoint runs ---------------------------------------------------------------

def _deployment(services: Services, region: str, config: dict[str, Any],
                previous: dict[str, Any] | None = None, retain: bool = False,
                excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    """A snapshot of `config` and its models. With `retain`, variants that exist in `previous` keep
    their current weight and instance count (UpdateEndpoint's RetainAllVariantProperties) except the
    properties named in `excluded`."""
    kept = {v["VariantName"]: v for v in (previous or {}).get("Variants", [])} if retain else {}
    variants = []
    for variant in config["ProductionVariants"]:
        model = models.get_model(services, region, variant["ModelName"])
        entry = copy.deepcopy(variant)
        entry["Model"] = {k: copy.deepcopy(model[k]) for k in models.CONTAINER_FIELDS if k in model}
        entry["DesiredWeight"] = variant["InitialVariantWeight"]
        if not variant.get("ServerlessConfig"):
            entry["DesiredInstanceCount"] = variant["InitialInstanceCount"]
        old = kept.get(variant["VariantName"])
        if old is not None:
            if "DesiredWeight" not in excluded:
                entry["DesiredWeight"] = old["DesiredWeight"]
            if "DesiredInstanceCount" not in excluded and "DesiredInstanceCount" in old:
                entry["DesiredInstanceCount"] = old["DesiredInstanceCount"]
        variants.append(entry)
    deployment = {"Id": uuid.uuid4().hex[:12], "EndpointConfigName": config["EndpointConfigName"],
                  "Variants": variants}
    for key in ("DataCaptureConfig", "AsyncInferenceConfig", "KmsKeyId"):
        if config.get(key):
            deployment[key] = copy.deepcopy(config[key])
    if retain and previous and previous.get("DataCaptureConfig") and "DataCaptureConfig" not in config \
            and "DataCaptureConfig" not in excluded:
        deployment["DataCaptureConfig"] = copy.deepcopy(previous["DataCaptureConfig"])
    return deployment


def capture_summary(capture: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig: KmsKeyId only when one was given (AWS omits it; sagemaker-core
    v3 crashed on a null, sagemaker-python-sdk#5738)."""
    if not capture:
        return None
    summary = {"EnableCapture": bool(capture.get("EnableCapture", True)),
               "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
               "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
               "DestinationS3Uri": capture["DestinationS3Uri"]}
    if capture.get("KmsKeyId"):
        summary["KmsKeyId"] = capture["KmsKeyId"]
    return summary


def variant_summaries(deployment: dict[str, Any], running: bool) -> list[dict[str, Any]]:
    """ProductionVariants of DescribeEndpoint for a deployment; `running`: its containers serve, so the
    current values are the desired ones."""
    out = []
    for variant in deployment["Variants"]:
        summary: dict[str, Any] = {"VariantName": variant["VariantName"],
                                   "DeployedImages": variant.get("DeployedImages", []),
                                   "DesiredWeight": variant["DesiredWeight"]}
        if running:
            summary["CurrentWeight"] = variant.get("CurrentWeight", variant["DesiredWeight"])
        if variant.get("ServerlessConfig"):
            summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
            if running:
                summary["CurrentServerlessConfig"] = variant["ServerlessConfig"]
        else:
            summary["DesiredInstanceCount"] = variant["DesiredInstanceCount"]
            if running:
                summary["CurrentInstanceCount"] = variant.get("CurrentInstanceCount", variant["DesiredInstanceCount"])
        if variant.get("RoutingConfig"):
            summary["RoutingConfig"] = variant["RoutingConfig"]
        out.append(summary)
    return out


def _pending_summary(deployment: dict[str, Any], started: float) -> dict[str, Any]:
    variants = []
    for variant, summary in zip(deployment["Variants"], variant_summaries(deployment, running=False)):
        summary = {**summary, "VariantStatus": [{"Status": "Creating", "StartTime": started}]}
        if variant.get("InstanceType"):
            summary["InstanceType"] = variant["InstanceType"]
        variants.append(summary)
    return {"EndpointConfigName": deployment["EndpointConfigName"], "ProductionVariants": variants,
            "StartTime": started}


# --- endpoints --------------------------------------------------------------------------------------------

def create_endpoint(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["EndpointName"]
    arn = endpoint_arn(services, region, name)
    if services.records.arn_exists(arn):
        raise _exists("endpoint", arn)
    config = get_endpoint_config(services, region, req["EndpointConfigName"])
    deployment = _deployment(services, region, config)
    now = _now()
    body: dict[str, Any] = {"EndpointName": name, "EndpointArn": arn,
                            "EndpointConfigName": config["EndpointConfigName"], "EndpointStatus": "Creating",
                            "CreationTime": now, "LastModifiedTime": now, "_deployment": deployment}
    _describe_deployment(body, deployment, running=False)
    if req.get("DeploymentConfig"):
        body["LastDeploymentConfig"] = req["DeploymentConfig"]
    _insert(services, ENDPOINT, "endpoint", name, arn, body, req.get("Tags"))
    status_changed(services, body, None)
    return body


def _describe_deployment(body: dict[str, Any], deployment: dict[str, Any], running: bool) -> None:
    """The Describe fields that come from the deployment serving traffic."""
    body["EndpointConfigName"] = deployment["EndpointConfigName"]
    body["ProductionVariants"] = variant_summaries(deployment, running)
    summary = capture_summary(deployment.get("DataCaptureConfig"))
    if summary:
        body["DataCaptureConfig"] = summary
    else:
        body.pop("DataCaptureConfig", None)
    if deployment.get("AsyncInferenceConfig"):
        body["AsyncInferenceConfig"] = deployment["AsyncInferenceConfig"]
    else:
        body.pop("AsyncInferenceConfig", None)


def get_endpoint(services: Services, region: str, name: str) -> dict[str, Any]:
    body = services.records.get(ENDPOINT, name)
    if body is None:
        raise ValidationException(f'Could not find endpoint "{endpoint_arn(services, region, name)}".')
    return body


def find_endpoint(services: Services, name: str) -> dict[str, Any] | None:
    return services.records.get(ENDPOINT, name)


def _require_in_service(body: dict[str, Any], verb: str) -> None:
    status = body["EndpointStatus"]
    if status == "Failed":
        raise ValidationException(f'Cannot {verb} failed endpoint "{body["EndpointArn"]}".')
    if status != "InService":
        raise ValidationException(f'Cannot {verb} in-progress endpoint "{body["EndpointArn"]}".')


def update_endpoint(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    """UpdateEndpoint: the new configuration is brought up next to the one serving, which keeps serving
    until every new container answers /ping."""
    body = get_endpoint(services, region, req["EndpointName"])
    _require_in_service(body, "update")
    config = get_endpoint_config(services, region, req["EndpointConfigName"])
    excluded = tuple(p["VariantPropertyType"] for p in req.get("ExcludeRetainedVariantProperties") or [])
    excluded = tuple("DesiredWeight" if p == "DesiredWeight" else "DesiredInstanceCount" if
                     p == "DesiredInstanceCount" else p for p in excluded)
    pending = _deployment(services, region, config, body["_deployment"],
                          retain=bool(req.get("RetainAllVariantProperties")), excluded=excluded)
    now = _now()

    def change(record: dict[str, Any]) -> None:
        _require_in_service(record, "update")
        record["EndpointStatus"] = "Updating"
        record["_pending"] = pending
        record["PendingDeploymentSummary"] = _pending_summary(pending, now)
        record["LastModifiedTime"] = now
        if req.get("DeploymentConfig"):
            record["LastDeploymentConfig"] = req["DeploymentConfig"]
    return _write(services, body["EndpointName"], change) or body


def update_weights_and_capacities(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    body = get_endpoint(services, region, req["EndpointName"])
    _require_in_service(body, "update")
    known = {v["VariantName"] for v in body["_deployment"]["Variants"]}
    missing = [d["VariantName"] for d in req["DesiredWeightsAndCapacities"] if d["VariantName"] not in known]
    if missing:
        raise ValidationException(f"The variant name(s) [{', '.join(missing)}] is/are not present in the current "
                                  f"endpoint configuration of endpoint \"{body['EndpointArn']}\".")
    for desired in req["DesiredWeightsAndCapacities"]:
        if desired.get("DesiredWeight") is None and desired.get("DesiredInstanceCount") is None \
                and not desired.get("ServerlessUpdateConfig"):
            raise ValidationException(f"Variant {desired['VariantName']}: give DesiredWeight, DesiredInstanceCount or "
                                      "ServerlessUpdateConfig.")

    def change(record: dict[str, Any]) -> None:
        _require_in_service(record, "update")
        by_name = {v["VariantName"]: v for v in record["_deployment"]["Variants"]}
        for desired in req["DesiredWeightsAndCapacities"]:
            variant = by_name[desired["VariantName"]]
            if desired.get("DesiredWeight") is not None:
                variant["DesiredWeight"] = float(desired["DesiredWeight"])
            if desired.get("DesiredInstanceCount") is not None and not variant.get("ServerlessConfig"):
                variant["DesiredInstanceCount"] = desired["DesiredInstanceCount"]
            if desired.get("ServerlessUpdateConfig") and variant.get("ServerlessConfig"):
                variant["ServerlessConfig"].update(desired["ServerlessUpdateConfig"])
        record["EndpointStatus"] = "Updating"
        record["LastModifiedTime"] = _now()
        for summary in record.get("ProductionVariants", []):
            variant = by_name[summary["VariantName"]]
            summary["DesiredWeight"] = variant["DesiredWeight"]
            if "DesiredInstanceCount" in variant:
                summary["DesiredInstanceCount"] = variant["DesiredInstanceCount"]
    return _write(services, body["EndpointName"], change) or body


def delete_endpoint(services: Services, region: str, name: str) -> None:
    body = get_endpoint(services, region, name)

    def change(record: dict[str, Any]) -> None:
        record["EndpointStatus"] = "Deleting"
        record["LastModifiedTime"] = _now()
    _write(services, body["EndpointName"], change)


def list_endpoints(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    page, token = filter_sort_page(services.records.list(ENDPOINT), req,
                                   ListFields(name="EndpointName", status="EndpointStatus"))
    return [pick(e, ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"))
            for e in page], token


# --- transitions written by the endpoint controller ------------------------------------------------------

def mark_in_service(services: Services, name: str, deployment_id: str,
                    images: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The deployment `deployment_id` serves every variant's traffic: it becomes the endpoint's current
    one (an update's pending deployment replaces the old), its current values become the desired ones."""
    def change(record: dict[str, Any]) -> None:
        pending = record.get("_pending")
        if pending and pending["Id"] == deployment_id:
            record["_deployment"] = pending
        deployment = record["_deployment"]
        if deployment["Id"] != deployment_id or record["EndpointStatus"] not in ("Creating", "Updating"):
            return
        record.pop("_pending", None)
        record.pop("PendingDeploymentSummary", None)
        for variant in deployment["Variants"]:
            variant["CurrentWeight"] = variant["DesiredWeight"]
            if "DesiredInstanceCount" in variant:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"]
            if variant["VariantName"] in images:
                variant["DeployedImages"] = images[variant["VariantName"]]
        _describe_deployment(record, deployment, running=True)
        record["EndpointStatus"] = "InService"
        record.pop("FailureReason", None)
        record["LastModifiedTime"] = _now()
    return _write(services, name, change)


def mark_failed(services: Services, name: str, deployment_id: str, reason: str) -> dict[str, Any] | None:
    """Creating fails the endpoint; an update that fails leaves the old deployment serving (InService,
    with the reason), as AWS rolls an update back when the new fleet does not come up."""
    def change(record: dict[str, Any]) -> None:
        if record["EndpointStatus"] == "Creating" and record["_deployment"]["Id"] == deployment_id:
            record["EndpointStatus"] = "Failed"
        elif record["EndpointStatus"] == "Updating" and (record.get("_pending") or {}).get("Id") == deployment_id:
            record.pop("_pending", None)
            record.pop("PendingDeploymentSummary", None)
            record["EndpointStatus"] = "InService"
        else:
            return
        record["FailureReason"] = reason[:1024]
        record["LastModifiedTime"] = _now()
    return _write(services, name, change)


def remove_endpoint(services: Services, name: str) -> None:
    """The endpoint's containers are gone: DeleteEndpoint is done."""
    services.records.delete(ENDPOINT, name)


def unfinished(services: Services) -> list[str]:
    """Every endpoint: each has containers to keep running (or to remove)."""
    return services.records.names(ENDPOINT)
