"""The training container contract (container_contracts.md §1): /opt/ml/input/config/*.json, channels
under /opt/ml/input/data/<channel>, `train` as the command unless the request names one, the model
from /opt/ml/model as model.tar.gz and /opt/ml/output/data as output.tar.gz, the failure reason from
/opt/ml/output/failure."""

from __future__ import annotations

from typing import Any

from emulator.core.jobs import TRAINING
from emulator.runtime.contracts.plan import Checkpoints, HostPlan, Input, Outcome, Upload
from emulator.runtime.staging import StagingError

KIND = TRAINING
SCRATCH = "training"
CHECKPOINTS = "/opt/ml/checkpoints"
result_files = ("output/failure",)
# Failure-file texts reported as they are rather than as AlgorithmError: built-in algorithms report
# client mistakes as `ClientError: ...` as AWS's do; the others let a container simulate platform
# failures (which pipeline retry policies match).
SIMULATED_PLATFORM_ERRORS = ("ClientError:", "CapacityError:", "InternalServerError:")


def _spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["AlgorithmSpecification"]


def image_uri(job: dict[str, Any]) -> str:
    return _spec(job).get("TrainingImage") or _spec(job).get("ImageUri") or ""


def resources(job: dict[str, Any]) -> dict[str, Any]:
    return job["ResourceConfig"]


def isolated(job: dict[str, Any]) -> bool:
    return bool(job.get("EnableNetworkIsolation"))


def metric_definitions(job: dict[str, Any]) -> list[dict[str, str]]:
    return _spec(job).get("MetricDefinitions", [])


def staging_plan(job: dict[str, Any], host: str, hosts: list[str]) -> HostPlan:
    mode = _spec(job).get("TrainingInputMode", "File")
    channels, inputs = {}, []
    for channel in job.get("InputDataConfig", []):
        name = channel["ChannelName"]
        entry = {"TrainingInputMode": channel.get("InputMode", mode), "S3DistributionType": "FullyReplicated",
                 "RecordWrapperType": channel.get("RecordWrapperType", "None")}
        if channel.get("ContentType"):
            entry = {"ContentType": channel["ContentType"], **entry}
        source = channel["DataSource"].get("S3DataSource")
        if source:
            entry["S3DistributionType"] = source.get("S3DataDistributionType", "FullyReplicated")
            if entry["TrainingInputMode"] == "Pipe":
                raise StagingError(f"Pipe input mode (channel {name}) is not supported by the emulator; use File "
                                   "or FastFile.")
            inputs.append(Input(name, source["S3Uri"], source.get("S3DataType", "S3Prefix"),
                                entry["S3DistributionType"], f"/opt/ml/input/data/{name}"))
        elif channel["DataSource"].get("FileSystemDataSource"):
            raise StagingError("FileSystemDataSource (EFS/FSx) channels are not supported by the emulator.")
        channels[name] = entry
    instance_type = resources(job).get("InstanceType", "ml.m5.large")
    files = {
        "/opt/ml/input/config/hyperparameters.json": job.get("HyperParameters", {}),
        "/opt/ml/input/config/inputdataconfig.json": channels,
        "/opt/ml/input/config/resourceconfig.json": {
            "current_host": host, "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster", "hosts": hosts, "network_interface_name": "eth0",
            "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                                 "hosts": hosts}]},
    }
    checkpoints = None
    config = job.get("CheckpointConfig")
    if config:
        local = config.get("LocalPath") or CHECKPOINTS
        files["/opt/ml/input/config/checkpointconfig.json"] = {"LocalPath": local, "S3Uri": config["S3Uri"]}
        checkpoints = Checkpoints(local, config["S3Uri"])
    directories = ["/opt/ml/model", "/opt/ml/output/data", "/opt/ml/code", "/opt/ml/output/intermediate"]
    return HostPlan(files, inputs, directories, checkpoints)


def command(job: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    entrypoint = _spec(job).get("ContainerEntrypoint")
    arguments = _spec(job).get("ContainerArguments")
    if not entrypoint and not arguments:
        return None, ["train"]
    return entrypoint, arguments


def environment(job: dict[str, Any]) -> dict[str, str]:
    return {"TRAINING_JOB_NAME": job["TrainingJobName"], "TRAINING_JOB_ARN": job["TrainingJobArn"]}


def continuous_outputs(job: dict[str, Any]) -> list[tuple[str, str]]:
    return []


def outcome(job: dict[str, Any], codes: list[int], stop_reason: str | None, texts: dict[str, str]) -> Outcome:
    """`codes` of every host, `stop_reason` (Stopped / MaxRuntimeExceeded) if the job was stopped,
    `texts` the result files found (the first failed host's first)."""
    out = job["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job['TrainingJobName']}/output"
    succeeded = bool(codes) and all(c == 0 for c in codes) and not stop_reason
    keep_model = succeeded or bool(stop_reason)  # the SIGTERM grace exists so that a stopped job can save it
    uploads = []
    if codes:
        config = job.get("CheckpointConfig")
        if config:
            uploads.append(Upload(config.get("LocalPath") or CHECKPOINTS, config["S3Uri"]))
        uploads.append(Upload("/opt/ml/output/data", f"{out}/output.tar.gz", archive=True, if_any=True))
        if keep_model:
            uploads.append(Upload("/opt/ml/model", f"{out}/model.tar.gz", archive=True))
    uploading = bool(codes) and keep_model
    if stop_reason:
        secondary = "MaxRuntimeExceeded" if stop_reason == "MaxRuntimeExceeded" else "Stopped"
        return Outcome("Stopped", uploads, uploading, secondary=secondary)
    if succeeded:
        return Outcome("Completed", uploads, uploading)
    return Outcome("Failed", uploads, uploading, failure_reason=failure_reason(codes, texts.get("output/failure")))


def failure_reason(codes: list[int], failure_file: str | None) -> str:
    if failure_file:
        if failure_file.startswith(SIMULATED_PLATFORM_ERRORS):
            return failure_file
        return "AlgorithmError: " + failure_file
    code = next((c for c in codes if c != 0), 1)
    if code == 137:
        return "AlgorithmError: Please check the logs; the container was killed (exit code 137), " \
               "which usually means it ran out of memory."
    return f"AlgorithmError: , exit code: {code}"
