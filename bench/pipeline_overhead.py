"""Pipeline overhead, in one run:

(a) a 5-step linear pipeline of instant containers vs the sum of the same 5 jobs run alone
    (goal <= 1.2x);
(b) 3 independent instant steps on the emulator vs the same pipeline under the SDK's
    LocalPipelineSession, which runs steps one after another (goal >= 10x faster).

    .venv/bin/python bench/pipeline_overhead.py [--runs 3] [--skip-local]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.goals import Goals
from bench.localmode import cleaned_up_local_mode
from emulator.testing.emulator import SubprocessEmulator
from tests.jobhelpers import ROLE, ensure_byo_image, shell_processing_job
from tests.pipelinehelpers import definition, processing_step, wait_execution


def poll_job(sagemaker, name: str) -> None:
    while sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] not in (
            "Completed", "Failed", "Stopped"):
        time.sleep(0.02)


def jobs_alone(sagemaker, count: int) -> float:
    total = 0.0
    for _ in range(count):
        name = f"alone-{uuid.uuid4().hex[:10]}"
        start = time.perf_counter()
        sagemaker.create_processing_job(**shell_processing_job(name, "true"))
        poll_job(sagemaker, name)
        total += time.perf_counter() - start
    return total


def run_pipeline(sagemaker, steps: list[dict]) -> float:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(steps))
    start = time.perf_counter()
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    while sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] in (
            "Executing", "Stopping"):
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Succeeded"
    return elapsed


def linear_steps(n: int) -> list[dict]:
    return [processing_step(f"S{i}", "true", depends_on=[f"S{i - 1}"] if i else []) for i in range(n)]


def local_mode_pipeline(image: str) -> float:
    from sagemaker.processing import Processor
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import LocalPipelineSession
    from sagemaker.workflow.steps import ProcessingStep
    session = LocalPipelineSession()
    steps = []
    for i in range(3):
        processor = Processor(image_uri=image, role=ROLE, instance_count=1, instance_type="local",
                              entrypoint=["true"], sagemaker_session=session)
        steps.append(ProcessingStep(name=f"P{i}", step_args=processor.run()))
    pipeline = Pipeline(name=f"local-{uuid.uuid4().hex[:8]}", steps=steps, sagemaker_session=session)
    pipeline.create(role_arn=ROLE)
    start = time.perf_counter()
    execution = pipeline.start()  # local mode runs the whole pipeline inside start()
    elapsed = time.perf_counter() - start
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded", execution.describe()
    return elapsed


def concurrent_docker_runs(image: str, count: int) -> float:
    """The floor for `count` parallel steps: that many bare `docker run`s at once."""
    import subprocess
    start = time.perf_counter()
    procs = [subprocess.Popen(["docker", "run", "--rm", "--entrypoint", "true", image]) for _ in range(count)]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


def main() -> int:
    goals = Goals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    image = ensure_byo_image()
    server = SubprocessEmulator().start()
    try:
        sagemaker = server.client("sagemaker")
        jobs_alone(sagemaker, 1)  # warm-up
        alone, linear, parallel, floor = [], [], [], []
        for _ in range(args.runs):
            alone.append(jobs_alone(sagemaker, 5))
            linear.append(run_pipeline(sagemaker, linear_steps(5)))
            parallel.append(run_pipeline(sagemaker, [processing_step(f"P{i}", "true") for i in range(3)]))
            floor.append(concurrent_docker_runs(image, 3))
    finally:
        server.stop()
    a, lin, par = statistics.median(alone), statistics.median(linear), statistics.median(parallel)
    print(f"(a) 5 jobs run alone, summed     median {a:.2f} s")
    print(f"    5-step linear pipeline       median {lin:.2f} s -> {lin / a:.2f}x "
          f"{goals.at_most('linear pipeline / jobs alone', lin / a, 1.2)}")
    fl = statistics.median(floor)
    print(f"(b) 3 independent steps          median {par:.2f} s ({par / fl:.2f}x of 3 concurrent bare "
          f"`docker run`s, {fl:.2f} s: the floor on this machine)")
    if args.skip_local:
        return goals.finish()
    config = Path(tempfile.gettempdir()) / "smemu-bench-sdk-config.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    for key, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "test"),
                       ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(key, value)
    with cleaned_up_local_mode():
        local = [local_mode_pipeline(image) for _ in range(max(1, args.runs - 1))]
    loc = statistics.median(local)
    print(f"    same under LocalPipelineSession median {loc:.2f} s -> emulator {loc / par:.1f}x faster "
          f"{goals.at_least('local pipeline / emulator', loc / par, 10)}")
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main())
