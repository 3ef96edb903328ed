"""Shared helpers for job tests: a bring-your-own image, request builders, waiting for jobs,
reading their artifacts, and barriers a job script can wait on; unique names and the AWS error a
call answers, for any test."""

from __future__ import annotations

import io
import socket
import tarfile
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.testing.waiting import wait_for_status, wait_until

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


def free_port() -> int:
    """A loopback port nothing listens on now (for a server whose port must be known up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call, **kwargs) -> dict:
    """The AWS error `call(**kwargs)` answers, its HTTP status under "status": a client's mistake, never 5xx."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] < 500
    return response["Error"] | {"status": response["ResponseMetadata"]["HTTPStatusCode"]}


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
    """Describe a job until it has ended (Completed, Failed or Stopped)."""
    return wait_for_status(describe, status_key, timeout=timeout)


def training(sagemaker, name: str, timeout: float = 300) -> dict:
    return wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus", timeout)


def processing(sagemaker, name: str, timeout: float = 300) -> dict:
    return wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                    timeout)


def wait_until_training(sagemaker, name: str, timeout: float = 120) -> dict:
    """Until the job's containers run (SecondaryStatus Training)."""
    return wait_until(lambda: (job := sagemaker.describe_training_job(TrainingJobName=name))
                      ["SecondaryStatus"] == "Training" and job, timeout=timeout, what=f"{name} Training")


def log_messages(logs_client, group: str, job_name: str) -> list[str]:
    streams = logs_client.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job_name}/")
    out = []
    for stream in streams["logStreams"]:
        events = logs_client.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                            startFromHead=True)["events"]
        out.extend(e["message"] for e in events)
    return out


def read_tar(s3, uri: str) -> dict[str, bytes]:
    """The files of the tar.gz at s3://bucket/key (a model or output artifact), by member name."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


# Barriers between a test and a job (or a job's hosts), instead of hoping a `sleep` lasts long enough:
# `python3 -c "$BARRIER" put bucket/key` creates an object in the emulator's S3, `... wait bucket/k1
# bucket/k2` waits until they all exist (the job's MaxRuntimeInSeconds bounds the wait). The emulator
# refuses unsigned S3 calls and job images have python3 but not boto3, so the script signs as S3's
# SigV2 does (HMAC-SHA1 of method, date and path) with the job's credentials. An Environment value may
# hold 256 characters: the script travels in pieces (BARRIER_0, BARRIER_1, ...) that $BARRIER joins.
_BARRIER_SCRIPT = r"""import base64,hmac,os,sys,time,urllib.request as u
e=os.environ
def call(path,method='GET'):
 date=time.strftime('%a, %d %b %Y %H:%M:%S GMT',time.gmtime())
 mac=hmac.new(e['AWS_SECRET_ACCESS_KEY'].encode(),f'{method}\n\n\n{date}\n/{path}'.encode(),'sha1')
 auth='AWS '+e['AWS_ACCESS_KEY_ID']+':'+base64.b64encode(mac.digest()).decode()
 u.urlopen(u.Request(e['AWS_ENDPOINT_URL']+'/'+path,headers={'Date':date,'Authorization':auth},method=method))
a=sys.argv
if a[1]=='put':call(a[2],'PUT')
for p in a[2:]*(a[1]=='wait'):
 while 1:
  try:call(p);break
  except OSError:time.sleep(.2)
"""
_PIECE = 256
BARRIER_ENV = {
    "BARRIER": "import os;exec(''.join(v for k,v in sorted(os.environ.items()) if k.startswith('BARRIER_')))",
    **{f"BARRIER_{i // _PIECE}": _BARRIER_SCRIPT[i:i + _PIECE] for i in range(0, len(_BARRIER_SCRIPT), _PIECE)},
}
assert len(BARRIER_ENV) <= 10 and all(len(v) <= _PIECE for v in BARRIER_ENV.values())


def barrier(action: str, *paths: str) -> str:
    """The shell command for a job script; the job's Environment needs BARRIER_ENV."""
    return f'python3 -c "$BARRIER" {action} {" ".join(paths)}'
