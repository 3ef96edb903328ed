"""Shared helpers for job tests: a bring-your-own image and request builders."""

from __future__ import annotations

import time
import uuid

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
BYO_IMAGE = "smemu-test-byo:latest"


def ensure_byo_image() -> str:
    """Tag the emulator's base image under a name no SageMaker URI maps to: a user's own image."""
    import docker

    from emulator.runtime.images import ensure_image
    tag = ensure_image("base", None)
    client = docker.from_env()
    client.images.get(tag).tag(BYO_IMAGE)
    return BYO_IMAGE


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def shell_training_job(name: str, script: str, bucket: str, *, count: int = 1, image: str = BYO_IMAGE,
                       **extra) -> dict:
    return dict(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingInputMode": "File", "TrainingImage": image,
                                "ContainerEntrypoint": ["sh", "-c", script],
                                **extra.pop("algorithm", {})},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": extra.pop("max_runtime", 600)},
        **extra,
    )


def shell_processing_job(name: str, script: str, *, inputs=(), outputs=(), count: int = 1,
                         image: str = BYO_IMAGE, **extra) -> dict:
    req = dict(
        ProcessingJobName=name,
        AppSpecification={"ImageUri": image, "ContainerEntrypoint": ["sh", "-c", script]},
        RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}},
        StoppingCondition={"MaxRuntimeInSeconds": extra.pop("max_runtime", 600)},
        **extra,
    )
    if inputs:
        req["ProcessingInputs"] = [
            {"InputName": f"in{i}", "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix",
                                                "S3InputMode": "File", **opts}}
            for i, (uri, path, opts) in enumerate(inputs)]
    if outputs:
        req["ProcessingOutputConfig"] = {"Outputs": [
            {"OutputName": f"out{i}", "S3Output": {"S3Uri": uri, "LocalPath": path, "S3UploadMode": "EndOfJob"}}
            for i, (uri, path) in enumerate(outputs)]}
    return req


def wait_for(describe, status_key: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = describe()
        if job[status_key] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job not finished in {timeout} s: {job}")


def log_messages(logs_client, group: str, job_name: str) -> list[str]:
    streams = logs_client.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job_name}/")
    out = []
    for stream in streams["logStreams"]:
        events = logs_client.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                            startFromHead=True)["events"]
        out.extend(e["message"] for e in events)
    return out
