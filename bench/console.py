"""Web console page times on a store with hundreds of resources (goal: every page <= ~100 ms).

Fills an emulator (jobs recorded, not run) with hundreds of training and processing jobs, pipelines
of 50 steps with executions, a job with a 20,000-line log and metrics, an experiment of 200 runs
and a model group of 200 versions, then times each console page (median and p95 of 20 requests,
end to end over loopback) against the floor of the same stack: the console's stylesheet.

    .venv/bin/python bench/console.py [--jobs 400] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emulator.testing.emulator import SubprocessEmulator
from tests.jobhelpers import ROLE, shell_processing_job, shell_training_job
from tests.pipelinehelpers import processing_step

GOAL_MS = 100


def fifty_step_definition() -> str:
    """Five layers of ten processing steps, each depending on two steps of the layer before."""
    steps = []
    for layer in range(5):
        for i in range(10):
            deps = [f"L{layer - 1}S{(i + k) % 10}" for k in (0, 3)] if layer else []
            steps.append(processing_step(f"L{layer}S{i}", "true", depends_on=deps))
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})


def fill(server: SubprocessEmulator, jobs: int) -> dict[str, str]:
    sagemaker, logs, metrics = (server.client(s) for s in ("sagemaker", "logs", "sagemaker-metrics"))
    for i in range(jobs):
        sagemaker.create_training_job(**shell_training_job(
            f"train-{i:04d}", "true", "bench", algorithm={"MetricDefinitions": [
                {"Name": "loss", "Regex": r"loss=([0-9.]+)"}]}))
    for i in range(jobs // 2):
        sagemaker.create_processing_job(**shell_processing_job(f"proc-{i:04d}", "true"))
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName="train-0000/algo-1-1")
    now = int(time.time() * 1000)
    for batch in range(2):
        logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName="train-0000/algo-1-1",
                            logEvents=[{"timestamp": now + batch * 10_000 + i,
                                        "message": f"step {batch * 10_000 + i} loss={1 / (i + 1):.5f}"}
                                       for i in range(10_000)])
    definition = fifty_step_definition()
    execution = ""
    for p in range(20):
        sagemaker.create_pipeline(PipelineName=f"pipe-{p:02d}", RoleArn=ROLE, PipelineDefinition=definition)
        for _ in range(5):
            execution = sagemaker.start_pipeline_execution(PipelineName=f"pipe-{p:02d}")["PipelineExecutionArn"]
    sagemaker.create_experiment(ExperimentName="exp")
    sagemaker.create_trial(TrialName="trial", ExperimentName="exp")
    for r in range(200):
        sagemaker.create_trial_component(TrialComponentName=f"run-{r:03d}", Parameters={
            "lr": {"NumberValue": r / 1000}, "depth": {"NumberValue": r % 7}})
        sagemaker.associate_trial_component(TrialComponentName=f"run-{r:03d}", TrialName="trial")
        metrics.batch_put_metrics(TrialComponentName=f"run-{r:03d}", MetricData=[
            {"MetricName": "loss", "Timestamp": time.time(), "Step": s, "Value": 1 / (s + 1)} for s in range(10)])
    sagemaker.create_model_package_group(ModelPackageGroupName="models")
    for _ in range(200):
        sagemaker.create_model_package(ModelPackageGroupName="models", InferenceSpecification={
            "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                            "ModelDataUrl": "s3://bench/output/train-0001/output/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    return {"execution": execution.rsplit("/", 1)[-1], "pipeline": execution.split("/")[1]}


def timed(url: str, count: int) -> tuple[float, float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = requests.get(url, timeout=30)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    server = SubprocessEmulator(env={"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}).start()
    try:
        started = time.time()
        names = fill(server, args.jobs)
        print(f"filled in {time.time() - started:.0f} s: {args.jobs} training, {args.jobs // 2} processing jobs, "
              "100 executions of a 50-step pipeline, a 20,000-line log, 200 runs, 200 model versions")
        ui = f"{server.endpoint}/_emulator/ui"
        execution = f"/pipelines/{names['pipeline']}/executions/{names['execution']}"
        pages = ["/", "/jobs/training", "/jobs/training?status=InProgress&name=train-03", "/jobs/processing",
                 "/jobs/training/train-0000", "/jobs/training/train-0000/live",
                 "/jobs/training/train-0000/logs?after=0", "/pipelines", f"/pipelines/{names['pipeline']}",
                 execution, f"{execution}/live", f"{execution}?step=L4S3&tab=input&fragment=1",
                 "/experiments/exp", "/experiments/exp/compare?run=run-001&run=run-002&run=run-003",
                 "/models/models", "/models/models/7"]
        floor, _ = timed(f"{ui}/static/console.css", args.requests)
        print(f"{'page':<72} {'median ms':>9} {'p95 ms':>7} {'x floor':>8}")
        print(f"{'(floor) /static/console.css':<72} {floor:9.1f}")
        worst = 0.0
        for path in pages:
            median, p95 = timed(ui + path, args.requests)
            worst = max(worst, median)
            print(f"{path[:72]:<72} {median:9.1f} {p95:7.1f} {median / floor:8.1f}")
        print(f"slowest median {worst:.1f} ms (goal <= {GOAL_MS} ms): {'met' if worst <= GOAL_MS else 'MISSED'}")
        return 0 if worst <= GOAL_MS else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
