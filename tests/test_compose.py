"""`docker compose up` runs the emulator in a container on a machine with no registry: its image is
built from the locally bootstrapped base (sagemaker-emulator/emulator, `images build emulator`), the
compose healthcheck turns healthy, and a training job started through the containerised emulator runs
as a sibling container on the host's engine and reaches it back (its model lands in the emulator's S3,
stored under the data dir mounted at the same path inside and out)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import boto3
import docker
import pytest
import requests
from botocore.config import Config

from emulator.runtime import images
from emulator.runtime.supervisor import remove_containers
from tests.jobhelpers import ROLE, free_port, unique, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def compose_command() -> list[str] | None:
    """Compose v2 (`docker compose`) when the plugin is there, else Debian's docker-compose (v1)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` here (scripts/ensure-docker.sh installs it)")
    started = time.monotonic()
    image = images.ensure_image("emulator", print)
    images.ensure_image("xgboost", print)  # built on the host; the emulator in the container finds it by tag
    print(f"images ready in {time.monotonic() - started:.0f}s")
    data_dir = tmp_path_factory.mktemp("compose") / "data"
    port = free_port()
    env = {**os.environ, "SAGEMAKER_EMULATOR_IMAGE": image, "SAGEMAKER_EMULATOR_PORT": str(port),
           "SAGEMAKER_EMULATOR_DATA_DIR": str(data_dir)}
    compose = [*command, "--project-name", f"smemu-test-compose-{os.getpid()}", "--file",
               str(ROOT / "docker-compose.yml")]
    started = time.monotonic()
    up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        container = subprocess.run([*compose, "ps", "-q", "emulator"], env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
        health = wait_until_healthy(container, timeout=180)
        print(f"compose up to healthy in {time.monotonic() - started:.0f}s")
        yield {"endpoint": f"http://127.0.0.1:{port}", "data_dir": data_dir, "container": container,
               "health": health}
    finally:
        logs = subprocess.run([*compose, "logs", "--no-color"], env=env, capture_output=True, text=True, check=False)
        print(logs.stdout[-5000:])
        down = subprocess.run([*compose, "down", "--timeout", "30"], env=env, capture_output=True, text=True,
                              check=False)
        assert down.returncode == 0, down.stdout + down.stderr
        remove_containers(data_dir)   # what the containerised emulator left on the engine (a running job)


def wait_until_healthy(container: str, timeout: float) -> dict:
    client = docker.from_env()
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = client.api.inspect_container(container)["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return state["Health"]
        assert state["Running"], f"the emulator container exited: {state}"
        time.sleep(1)
    raise AssertionError(f"not healthy in {timeout}s: {state.get('Health')}")


def test_compose_up_turns_healthy_and_runs_a_training_job(composed):
    assert composed["health"]["Status"] == "healthy"
    endpoint = composed["endpoint"]
    assert requests.get(f"{endpoint}/_emulator/health", timeout=5).json()["docker"] is True
    assert requests.get(f"{endpoint}/_emulator/ui/", timeout=5).status_code == 200  # templates shipped

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    sagemaker = session.client("sagemaker", endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}))
    bucket = unique("compose")
    s3.create_bucket(Bucket=bucket)
    rows = "\n".join(f"{2 * x + 1},{x}" for x in range(50)) + "\n"
    s3.put_object(Bucket=bucket, Key="train/data.csv", Body=rows.encode())
    name = unique("compose-xgb")
    started = time.monotonic()
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        HyperParameters={"objective": "reg:squarederror", "num_round": "5"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus", timeout=600)
    print(f"training job through the containerised emulator: {time.monotonic() - started:.0f}s")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Uploading", "Completed"]
    # The job read its channel from the emulator's S3 and its model came back there.
    artifact = s3.get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        assert "xgboost-model" in tar.getnames()
    # A job's own code reaches the emulator too: this one writes to its S3 with boto3.
    name = unique("compose-callback")
    sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        AppSpecification={"ImageUri": XGBOOST, "ContainerEntrypoint": [
            "python3", "-c", (f"import boto3; boto3.client('s3').put_object(Bucket='{bucket}', Key='from-job', "
                              "Body=b'written by the job')")]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    job = wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                   timeout=600)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert s3.get_object(Bucket=bucket, Key="from-job")["Body"].read() == b"written by the job"
    # The state lives in the data dir on the host, where the compose file mounts it.
    assert (composed["data_dir"] / "state.sqlite3").is_file()
    assert json.loads(requests.get(f"{endpoint}/_emulator/health", timeout=5).text)["status"] == "running"
