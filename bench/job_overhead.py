"""Job overhead: CreateTrainingJob -> Completed for a container that exits at once, against
(a) a bare `docker run --rm` of the same image and (b) the SageMaker SDK's local mode
(`instance_type="local"`, same image, file:// input), all in one run. Prints medians and ratios.

Goals (issue 3): <= 1.5x of (a) with < 1 s added; >= 10x faster than (b).

    .venv/bin/python bench/job_overhead.py [--runs 7] [--local-runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.goals import Goals
from bench.localmode import cleaned_up_local_mode
from emulator.testing.emulator import SubprocessEmulator
from tests.jobhelpers import ROLE, ensure_byo_image, shell_training_job


def bare_docker_run(image: str) -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--entrypoint", "true", image], check=True)
    return time.perf_counter() - start


def emulator_job(sagemaker, image: str, bucket: str) -> float:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    request = shell_training_job(name, "true", bucket, image=image)
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["true"]
    start = time.perf_counter()
    sagemaker.create_training_job(**request)
    while True:
        status = sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if status in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    assert status == "Completed", status
    return elapsed


def sdk_local_mode(image: str, workdir: Path) -> float:
    """The SDK's own local mode: docker compose, file:// in and out."""
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    (data / "train.csv").write_text("1,2\n")
    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="local",
                          output_path=f"file://{workdir}/out", sagemaker_session=session,
                          container_entry_point=["true"])
    start = time.perf_counter()
    estimator.fit({"train": f"file://{data}"}, wait=True, logs=False)
    return time.perf_counter() - start


def main() -> int:
    goals = Goals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--local-runs", type=int, default=3)
    args = parser.parse_args()
    image = ensure_byo_image()
    server = SubprocessEmulator().start()
    try:
        sagemaker = server.client("sagemaker")
        server.client("s3").create_bucket(Bucket="bench")
        emulator_job(sagemaker, image, "bench")  # warm-up: the endpoint forwarder and image cache
        bare_docker_run(image)
        bare, ours = [], []
        for _ in range(args.runs):  # interleaved so drift affects both alike
            bare.append(bare_docker_run(image))
            ours.append(emulator_job(sagemaker, image, "bench"))
    finally:
        server.stop()
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"(a) docker run --rm            median {b:.3f} s over {args.runs} runs")
    print(f"    emulator training job      median {o:.3f} s  -> {o / b:.2f}x of docker run "
          f"{goals.at_most('job / docker run', o / b, 1.5)}, {o - b:+.3f} s added "
          f"{goals.at_most('time added to docker run', o - b, 1.0, ' s')}")
    if args.local_runs < 1:
        return goals.finish()
    if shutil.which("docker-compose") is None and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode != 0:
        print("(b) skipped: the SDK's local mode needs docker-compose (apt-get install docker-compose)")
        return goals.finish()
    os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", _telemetry_off())
    for key, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "test"),
                       ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(key, value)
    local = []
    with cleaned_up_local_mode():
        for _ in range(args.local_runs):
            with tempfile.TemporaryDirectory() as tmp:
                local.append(sdk_local_mode(image, Path(tmp)))
    m = statistics.median(local)
    print(f"(b) SDK local mode             median {m:.3f} s over {args.local_runs} runs -> "
          f"emulator is {m / o:.1f}x faster {goals.at_least('local mode / emulator', m / o, 10)}")
    return goals.finish()


def _telemetry_off() -> str:
    path = Path(tempfile.gettempdir()) / "smemu-bench-sdk-config.yaml"
    path.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
