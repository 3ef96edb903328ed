"""Model Monitor analyzer: an hour of captured traffic at 10,000 records, in the container.

Times, in one run and against the floor of starting the same image (`docker run --entrypoint true`):
  (a) a data quality monitoring run: 10,000 capture records (60 files, CSV payloads, output first)
      against a 10,000-row baseline, drift and all checks, CloudWatch metric file written;
  (b) a model quality run: the ground-truth merge job, then the binary classification analysis
      of the 10,000 merged records (metrics, curves, 5 resamples for standard deviations);
  (c) run (a) as a processing job through the emulator (CreateProcessingJob -> Completed).
Goal (issue 12): an analysis run of an hour of capture at 10,000 records under 10 s.

    .venv/bin/python bench/model_monitor.py [--records 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emulator.runtime.images import build_images
from emulator.testing.emulator import SubprocessEmulator
from tests.jobhelpers import ROLE, wait_for
from tests.monitorhelpers import (
    baseline_csv,
    churn_like,
    data_quality_run_env,
    ground_truth_line,
    model_quality_run_env,
    utc_hour,
    write_hour_of_capture,
)

ANALYZER_URI = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def docker_run(image: str, env: dict[str, str], mounts: dict[Path, str]) -> tuple[float, str]:
    command = ["docker", "run", "--rm"]
    for host, inside in mounts.items():
        command += ["-v", f"{host}:{inside}"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    start = time.perf_counter()
    done = subprocess.run([*command, image], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"analyzer failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def analysis_seconds(log: str) -> float:
    return float(re.findall(r"analysis took ([0-9.]+) s", log)[-1])


def prepare(work: Path, records: int) -> datetime:
    rng = np.random.default_rng(0)
    (work / "baseline").mkdir()
    baseline_csv(work / "baseline" / "train.csv", churn_like(rng, records))
    hour = utc_hour(1)
    rows = churn_like(rng, records, shift=0.3)
    ids = write_hour_of_capture(work / "capture", "churn", hour, rows, files=60)
    (work / "groundtruth").mkdir()
    (work / "groundtruth" / "labels.jsonl").write_text(
        "\n".join(ground_truth_line(i, str(v)) for i, v in zip(ids, rows["label"])) + "\n")
    return hour


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    images = build_images(["model-monitor-analyzer", "model-monitor-groundtruth-merger"])
    analyzer, merger = images["model-monitor-analyzer"], images["model-monitor-groundtruth-merger"]
    with tempfile.TemporaryDirectory(prefix="smemu-bench-monitor-") as tmp:
        work = Path(tmp)
        hour = prepare(work, args.records)
        baseline_env = {"dataset_format": json.dumps({"csv": {"header": True}}),
                        "dataset_source": "/opt/ml/processing/input/baseline", "output_path": "/opt/ml/processing/output"}
        docker_run(analyzer, baseline_env, {work / "baseline": "/opt/ml/processing/input/baseline",
                                            work / "baseline-out": "/opt/ml/processing/output"})
        monitor_env = data_quality_run_env(hour, dataset_source="/opt/ml/processing/input/endpoint",
                                           constraints="/opt/ml/processing/baseline/constraints.json",
                                           statistics="/opt/ml/processing/baseline/statistics.json")
        monitor_mounts = {work / "capture": "/opt/ml/processing/input/endpoint",
                          work / "baseline-out": "/opt/ml/processing/baseline",
                          work / "report": "/opt/ml/processing/output"}
        merge_env = {"dataset_source": "/opt/ml/processing/input_data",
                     "ground_truth_source": "/opt/ml/processing/groundtruth", "output_path": "/opt/ml/processing/output"}
        merge_mounts = {work / "capture": "/opt/ml/processing/input_data",
                        work / "groundtruth": "/opt/ml/processing/groundtruth", work / "merged": "/opt/ml/processing/output"}
        quality_env = model_quality_run_env(hour)
        quality_mounts = {work / "merged": "/opt/ml/processing/input_data", work / "mq": "/opt/ml/processing/output"}

        floor, data_quality, dq_inside, model_quality, mq_inside = [], [], [], [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(["docker", "run", "--rm", "--entrypoint", "true", analyzer], check=True)
            floor.append(time.perf_counter() - start)
            seconds, log = docker_run(analyzer, monitor_env, monitor_mounts)
            data_quality.append(seconds)
            dq_inside.append(analysis_seconds(log))
            merge_seconds, _ = docker_run(merger, merge_env, merge_mounts)
            seconds, log = docker_run(analyzer, quality_env, quality_mounts)
            model_quality.append(merge_seconds + seconds)
            mq_inside.append(analysis_seconds(log))
        report = json.loads((work / "report" / "statistics.json").read_text())
        assert report["dataset"]["item_count"] == args.records, report["dataset"]
        job = emulator_run(work, monitor_env)

    f = statistics.median(floor)
    print(f"container start floor (docker run --entrypoint true)   median {f:.2f} s over {args.runs} runs")
    for label, runs, inside in (("(a) data quality run, 1 container", data_quality, dq_inside),
                                ("(b) model quality: merge + analysis, 2 containers", model_quality, mq_inside)):
        m = statistics.median(runs)
        print(f"{label:55s} median {m:.2f} s ({m / f:.1f}x the floor; analysis itself "
              f"{statistics.median(inside):.2f} s) -> goal < 10 s: {'met' if m < 10 else 'NOT met'}")
    print(f"{'(c) (a) as an emulator processing job, Create -> Completed':55s} {job:.2f} s")


def emulator_run(work: Path, env: dict[str, str]) -> float:
    server = SubprocessEmulator().start()
    try:
        s3, sagemaker = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="bench")
        for path in sorted(p for p in (work / "capture").rglob("*") if p.is_file()):
            s3.upload_file(str(path), "bench", f"capture/{path.relative_to(work / 'capture').as_posix()}")
        for name in ("constraints.json", "statistics.json"):
            s3.upload_file(str(work / "baseline-out" / name), "bench", f"baseline/{name}")
        name = f"model-monitoring-{uuid.uuid4().hex[:12]}"
        start = time.perf_counter()
        sagemaker.create_processing_job(
            ProcessingJobName=name, RoleArn=ROLE, Environment=env, AppSpecification={"ImageUri": ANALYZER_URI},
            ProcessingInputs=[
                {"InputName": "endpoint_input_1", "S3Input": {"S3Uri": "s3://bench/capture",
                                                              "LocalPath": "/opt/ml/processing/input/endpoint",
                                                              "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                {"InputName": "baseline", "S3Input": {"S3Uri": "s3://bench/baseline",
                                                      "LocalPath": "/opt/ml/processing/baseline",
                                                      "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            ProcessingOutputConfig={"Outputs": [{"OutputName": "result", "S3Output": {
                "S3Uri": "s3://bench/report", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "Continuous"}}]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                   "VolumeSizeInGB": 20}},
            StoppingCondition={"MaxRuntimeInSeconds": 1800})
        job = wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                       timeout=600)
        elapsed = time.perf_counter() - start
        assert job["ProcessingJobStatus"] == "Completed", job
        return elapsed
    finally:
        server.stop()


if __name__ == "__main__":
    main()
