"""The processing container contract (container_contracts.md §2): /opt/ml/config/processingjobconfig.json
and resourceconfig.json, inputs at their LocalPath under /opt/ml/processing/, outputs uploaded from
theirs (continuously when S3UploadMode is Continuous), the exit message from /opt/ml/output/message."""

from __future__ import annotations

from typing import Any

from emulator.core.jobs import PROCESSING
from emulator.runtime.contracts.plan import HostPlan, Input, Outcome, Upload
from emulator.runtime.staging import StagingError

KIND = PROCESSING
SCRATCH = "processing"
result_files = ("output/message",)
REQUEST_VIEW = ("ProcessingJobArn", "ProcessingJobName", "AppSpecification", "Environment", "ProcessingInputs",
                "ProcessingOutputConfig", "ProcessingResources", "RoleArn", "StoppingCondition", "NetworkConfig")


def image_uri(job: dict[str, Any]) -> str:
    return job["AppSpecification"].get("ImageUri") or ""


def resources(job: dict[str, Any]) -> dict[str, Any]:
    return job["ProcessingResources"]["ClusterConfig"]


def isolated(job: dict[str, Any]) -> bool:
    return bool(job.get("NetworkConfig", {}).get("EnableNetworkIsolation"))


def metric_definitions(job: dict[str, Any]) -> list[dict[str, str]]:
    return []


def _outputs(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in job.get("ProcessingOutputConfig", {}).get("Outputs", []) if o.get("S3Output")]


def staging_plan(job: dict[str, Any], host: str, hosts: list[str]) -> HostPlan:
    files = {
        "/opt/ml/config/processingjobconfig.json": {k: v for k, v in job.items() if k in REQUEST_VIEW},
        "/opt/ml/config/resourceconfig.json": {"current_host": host, "hosts": hosts, "network_interface_name": "eth0",
                                               "current_instance_type": resources(job).get("InstanceType")},
    }
    inputs = []
    for item in job.get("ProcessingInputs", []):
        s3 = item.get("S3Input")
        if item.get("AppManaged") or not s3:
            if item.get("DatasetDefinition"):
                raise StagingError("DatasetDefinition (Athena/Redshift) inputs are not supported by the emulator.")
            continue
        if s3.get("S3InputMode") == "Pipe":
            raise StagingError(f"Pipe input mode (input {item['InputName']}) is not supported by the emulator.")
        inputs.append(Input(f"input-{item['InputName']}", s3["S3Uri"], s3.get("S3DataType", "S3Prefix"),
                            s3.get("S3DataDistributionType", "FullyReplicated"), s3["LocalPath"]))
    directories = [o["S3Output"]["LocalPath"] for o in _outputs(job)] + ["/opt/ml/output"]
    return HostPlan(files, inputs, directories)


def command(job: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    spec = job["AppSpecification"]
    return spec.get("ContainerEntrypoint"), spec.get("ContainerArguments")


def environment(job: dict[str, Any]) -> dict[str, str]:
    return {"PROCESSING_JOB_NAME": job["ProcessingJobName"], "PROCESSING_JOB_ARN": job["ProcessingJobArn"]}


def continuous_outputs(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(o["S3Output"]["LocalPath"], o["S3Output"]["S3Uri"]) for o in _outputs(job)
            if o["S3Output"].get("S3UploadMode") == "Continuous"]


def outcome(job: dict[str, Any], codes: list[int], stop_reason: str | None, texts: dict[str, str]) -> Outcome:
    message = texts.get("output/message")
    if stop_reason:
        return Outcome("Stopped", exit_message=message)
    if any(c != 0 for c in codes):
        return Outcome("Failed", failure_reason="AlgorithmError: See job logs for more information",
                       exit_message=message)
    uploads = [Upload(o["S3Output"]["LocalPath"], o["S3Output"]["S3Uri"]) for o in _outputs(job)
               if not o.get("AppManaged")]
    return Outcome("Completed", uploads, exit_message=message)
