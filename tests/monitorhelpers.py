"""Data for Model Monitor tests and the bench: capture lines in the data-capture layout, ground truth.

Layouts as in /work/shared/reference/inference_and_monitoring.md §2 and §4.4 (one request per line,
`captureData.endpointInput/endpointOutput`, `eventMetadata.eventId/inferenceId/inferenceTime`,
`eventVersion` "0"; ground truth `groundTruthData` + `eventMetadata.eventId`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np


def capture_line(features: list, output: str, *, when: datetime, inference_id: str | None = None,
                 event_id: str | None = None) -> str:
    metadata = {"eventId": event_id or str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                              "data": ",".join(map(str, features)), "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                               "data": output, "encoding": "CSV"}},
        "eventMetadata": metadata, "eventVersion": "0"}, separators=(",", ":"))


def ground_truth_line(event_id: str, label: str) -> str:
    return json.dumps({"groundTruthData": {"data": label, "encoding": "CSV"},
                       "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})


def churn_like(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> dict[str, np.ndarray]:
    """A tabular dataset: a label, integers, fractions with gaps, a low-cardinality string."""
    age = rng.integers(18, 80, n)
    balance = np.round(rng.normal(1000 + shift * 800, 300, n), 2)
    calls = rng.poisson(3 + shift * 4, n)
    state = rng.choice(["CA", "NV", "OR", "WA"], n, p=[0.4, 0.3, 0.2, 0.1])
    score = 1 / (1 + np.exp(-(balance - 1000) / 300))
    label = (rng.random(n) < score).astype(int)
    return {"label": label, "age": age, "balance": balance, "calls": calls, "state": state, "score": score}


def write_hour_of_capture(root: Path, endpoint: str, hour: datetime, rows: dict[str, np.ndarray],
                          files: int = 60, with_inference_ids: bool = True) -> list[str]:
    """One hour of capture under `<root>/<endpoint>/AllTraffic/yyyy/mm/dd/HH/`, a file per minute.
    Returns the ids a ground-truth record must carry (inferenceId, or eventId without one)."""
    n = len(rows["label"])
    folder = root / endpoint / "AllTraffic" / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    ids, lines = [], []
    for i in range(n):
        when = hour + timedelta(seconds=int(3600 * i / n))
        inference_id = f"req-{i}" if with_inference_ids else None
        event_id = str(uuid.uuid4())
        ids.append(inference_id or event_id)
        features = [rows["age"][i], rows["balance"][i], rows["calls"][i], rows["state"][i]]
        score = rows["score"][i]
        output = str(score) if isinstance(score, (int, np.integer)) else f"{score:.6f}"
        lines.append(capture_line(features, output, when=when, inference_id=inference_id, event_id=event_id))
    per_file = -(-n // files)
    for f in range(files):
        chunk = lines[f * per_file:(f + 1) * per_file]
        if chunk:
            stamp = hour + timedelta(minutes=f)
            (folder / f"{stamp:%M}-00-000-{uuid.uuid4()}.jsonl").write_text("\n".join(chunk) + "\n")
    return ids


def baseline_csv(path: Path, rows: dict[str, np.ndarray]) -> None:
    """Training-style baseline: the label first (the model's output position, START), header row."""
    lines = ["label,age,balance,calls,state"]
    for i in range(len(rows["label"])):
        lines.append(f"{rows['label'][i]},{rows['age'][i]},{rows['balance'][i]},{rows['calls'][i]},{rows['state'][i]}")
    path.write_text("\n".join(lines) + "\n")


def utc_hour(hours_ago: int = 0) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def window(hour: datetime) -> dict[str, str]:
    """A scheduled run's analysis window: the data hour, metrics stamped at its start."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {"start_time": hour.strftime(stamp), "end_time": (hour + timedelta(hours=1)).strftime(stamp),
            "metric_time": hour.strftime(stamp)}


def data_quality_run_env(hour: datetime, *, dataset_source: str, constraints: str, statistics: str,
                         endpoint: str = "churn", schedule: str = "hourly", **extra: str) -> dict[str, str]:
    """The environment the platform gives a scheduled data quality execution (byoc-contract-inputs)."""
    return {"dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
                                                                                         "endpointOutput"]}}),
            "dataset_source": dataset_source, "output_path": "/opt/ml/processing/output",
            "publish_cloudwatch_metrics": "Enabled", "sagemaker_endpoint_name": endpoint,
            "sagemaker_monitoring_schedule_name": schedule, "baseline_constraints": constraints,
            "baseline_statistics": statistics, **window(hour), **extra}


def model_quality_run_env(hour: datetime, *, dataset_source: str = "/opt/ml/processing/input_data",
                          endpoint: str = "churn", schedule: str = "mq-schedule", **extra: str) -> dict[str, str]:
    """The analyzer half of a scheduled model quality execution (seen in a real run's request):
    merged records in, the captured CSV output's field 0 as the probability."""
    return {"analysis_type": "MODEL_QUALITY", "problem_type": "BinaryClassification",
            "dataset_format": json.dumps({"sagemakerMergeJson": {"captureIndexNames": ["endpointOutput"]}}),
            "dataset_source": dataset_source, "probability_attribute": "0", "probability_threshold_attribute": "0.5",
            "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Enabled",
            "sagemaker_endpoint_name": endpoint, "sagemaker_monitoring_schedule_name": schedule,
            **window(hour), **extra}
