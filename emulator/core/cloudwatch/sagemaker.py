"""The metrics SageMaker itself publishes to CloudWatch, through the one publishing function.

- Training jobs: every metric a job's MetricDefinitions (with the built-in algorithms' own) find in
  its logs goes to namespace `/aws/sagemaker/TrainingJobs`, dimension `Host` = `<job>/algo-<n>`
  (developer guide, "Monitor Amazon SageMaker AI with Amazon CloudWatch": training job metrics),
  stamped with the log line's time. Published when the job ends, from the stored logs.
- Model Monitor: a processing job whose container wrote `/opt/ml/output/metrics/cloudwatch/*.jsonl`
  (PutMetricData `MetricDatum`s without a namespace, algorithms/model_monitor/cloudwatch.py) with
  `publish_cloudwatch_metrics=Enabled` has them published after it completes, under
  `aws/sagemaker/Endpoints/data-metrics` or `.../model-metrics` (`aws/sagemaker/ModelMonitoring/...`
  when it monitors a batch transform rather than an endpoint), as docs/model-monitor.md describes.
- Endpoints: the data plane's per-minute counts (emulator.core.invocation_stats), every few seconds,
  as the endpoint invocation metrics of namespace `AWS/SageMaker`, dimensions EndpointName and
  VariantName (`publish_endpoint_metrics`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core.cloudwatch import metrics
from emulator.core.invocation_stats import MinuteCounts

log = logging.getLogger(__name__)

TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_NAMESPACE = "AWS/SageMaker"
_HOST = re.compile(r"/(algo-\d+)-\d+$")
_CHUNK = 500


def publish(services, namespace: str, data: list[dict[str, Any]], *, now: float | None = None) -> int:
    """Publish datapoints as a platform service does: in chunks of PutMetricData's size, keeping every
    valid datum (one that CloudWatch would refuse is logged and skipped). Returns how many were kept.
    Alarms on the metrics written are evaluated at once."""
    from emulator.core.cloudwatch import alarms
    now = time.time() if now is None else now
    kept = 0
    for start in range(0, len(data), _CHUNK):
        chunk = data[start:start + _CHUNK]
        try:
            keys = metrics.put_metric_data(services, namespace, chunk, now=now)
            kept += len(chunk)
        except AwsError:
            keys = set()
            for datum in chunk:
                try:
                    keys |= metrics.put_metric_data(services, namespace, [datum], now=now)
                    kept += 1
                except AwsError as err:
                    log.warning("not publishing %s/%s: %s", namespace, datum.get("MetricName"), err.message)
        alarms.metric_data_arrived(services, keys)
    return kept


def publish_training_metrics(services, job_name: str, definitions: list[dict[str, str]]) -> int:
    """Scan a finished training job's stored log lines with its metric definitions and publish what they
    find."""
    compiled = []
    for definition in definitions:
        try:
            compiled.append((definition["Name"], re.compile(definition["Regex"])))
        except (KeyError, re.error):
            continue
    if not compiled:
        return 0
    data: list[dict[str, Any]] = []
    after = 0
    while True:
        events = services.logs.prefix_events(TRAINING_LOG_GROUP, f"{job_name}/", after_id=after, limit=5000)
        for event in events:
            host = _HOST.search(event["stream"])
            for name, regex in compiled:
                match = regex.search(event["message"])
                if not match:
                    continue
                try:
                    value = float(match.group(1) if regex.groups else match.group(0))
                except (ValueError, IndexError):
                    continue
                data.append({"MetricName": name, "Value": value, "Timestamp": event["ts"] / 1000.0,
                             "Dimensions": [{"Name": "Host",
                                             "Value": f"{job_name}/{host.group(1) if host else 'algo-1'}"}]})
        if len(events) < 5000:
            break
        after = events[-1]["id"]
    return publish(services, TRAINING_NAMESPACE, data) if data else 0


def monitoring_namespace(environment: dict[str, str]) -> str:
    kind = "model-metrics" if environment.get("analysis_type", "").upper() == "MODEL_QUALITY" else "data-metrics"
    scope = "Endpoints" if environment.get("sagemaker_endpoint_name") else "ModelMonitoring"
    return f"aws/sagemaker/{scope}/{kind}"


def publish_monitoring_metrics(services, job: dict[str, Any], lines: list[str]) -> int:
    """Publish the metric file of a Model Monitor processing job (when it asked for publication)."""
    environment = job.get("Environment") or {}
    if environment.get("publish_cloudwatch_metrics", "").lower() != "enabled":
        return 0
    data = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            datum = json.loads(line)
        except ValueError:
            log.warning("%s: skipping a metric line that is not JSON", job.get("ProcessingJobName"))
            continue
        if isinstance(datum, dict) and datum.get("MetricName"):
            data.append(datum)
    return publish(services, monitoring_namespace(environment), data) if data else 0


def endpoint_metric_data(counts: list[MinuteCounts], extremes: dict[tuple[str, str, int], list[int]],
                         instances: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """The endpoint invocation metrics of one flush, each minute of a variant as statistic sets of what
    AWS sends per request (developer guide, "Amazon SageMaker AI metrics in Amazon CloudWatch"):
    Invocations 1; InvocationsPerInstance 1/instances; Invocation4XXErrors, Invocation5XXErrors and
    InvocationModelErrors 1 or 0 (Units None, so Sum counts and Average is a rate); ModelLatency and
    OverheadLatency in Microseconds. Every error the data plane counts is the model's: a status it
    answered, no answer in time, or no answer at all, which is what InvocationModelErrors counts.
    `extremes` holds each minute's [min, max] of model and overhead latency."""
    data: list[dict[str, Any]] = []
    for c in counts:
        n = c.invocations
        if not n:
            continue
        dimensions = [{"Name": "EndpointName", "Value": c.endpoint}, {"Name": "VariantName", "Value": c.variant}]
        stamp = c.minute * 60.0
        share = 1.0 / max(instances.get((c.endpoint, c.variant), 1), 1)
        low_model, high_model, low_overhead, high_overhead = extremes[(c.endpoint, c.variant, c.minute)]
        rows = [("Invocations", n, 1, 1, "None"), ("InvocationsPerInstance", n * share, share, share, "None")]
        for name, errors in (("Invocation4XXErrors", c.errors_4xx), ("Invocation5XXErrors", c.errors_5xx),
                             ("InvocationModelErrors", c.errors_4xx + c.errors_5xx)):
            rows.append((name, errors, 0 if errors < n else 1, 1 if errors else 0, "None"))
        rows += [("ModelLatency", c.model_latency_us, low_model, high_model, "Microseconds"),
                 ("OverheadLatency", c.overhead_latency_us, low_overhead, high_overhead, "Microseconds")]
        data += [{"MetricName": name, "Dimensions": dimensions, "Timestamp": stamp, "Unit": unit,
                  "StatisticValues": {"SampleCount": float(n), "Sum": float(total), "Minimum": float(low),
                                      "Maximum": float(high)}}
                 for name, total, low, high, unit in rows]
    return data


def publish_endpoint_metrics(services, counts: list[MinuteCounts],
                             extremes: dict[tuple[str, str, int], list[int]]) -> int:
    """Publish one flush of the data plane's counts. The instance counts come from the endpoint records
    (read once per endpoint and flush, never on the invocation path)."""
    instances: dict[tuple[str, str], int] = {}
    for endpoint in {c.endpoint for c in counts}:
        body = services.records.get("Endpoint", endpoint) or {}
        for variant in body.get("ProductionVariants") or []:
            count = variant.get("CurrentInstanceCount")
            if count:
                instances[(endpoint, variant.get("VariantName"))] = count
    data = endpoint_metric_data(counts, extremes, instances)
    return publish(services, ENDPOINT_NAMESPACE, data) if data else 0
