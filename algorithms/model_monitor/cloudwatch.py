"""CloudWatch metrics, handed to the platform the way a monitoring container does.

Contract (developer guide model-monitor-byoc-cloudwatch): when `publish_cloudwatch_metrics` is
`Enabled`, the container writes metrics under `/opt/ml/output/metrics/cloudwatch` (a directory; we
write one file, `cloudwatch_metrics.jsonl`). Each line is one CloudWatch PutMetricData
`MetricDatum` as JSON:

    {"MetricName": "f1", "Timestamp": "2024-05-06T22:00:00Z",
     "Dimensions": [{"Name": "Endpoint", "Value": "churn"}, {"Name": "MonitoringSchedule", "Value": "hourly"}],
     "Value": 0.82}

or, instead of Value, `"StatisticValues": {"SampleCount": n, "Sum": s, "Minimum": lo, "Maximum": hi}`.
The namespace is not in the file: the platform picks it from what the job monitors, as AWS does
(`aws/sagemaker/Endpoints/data-metrics` / `aws/sagemaker/Endpoints/model-metrics` for an endpoint,
`aws/sagemaker/ModelMonitoring/data-metrics` / `.../model-metrics` for batch transform). The
timestamp is the job's `metric_time` (the start of the analysed hour on a scheduled run), else
`end_time`, else now.

Names and dimensions: model quality publishes every scalar metric under its statistics.json name
with dimensions Endpoint and MonitoringSchedule; data quality publishes, per feature,
feature_data_<f> (statistic set), feature_null_<f>, feature_non_null_<f>, feature_completeness_<f>,
feature_estimated_unique_values_<f>, feature_<type>_counts_<f> and feature_baseline_drift_<f>, with
dimensions Endpoint, Feature and MonitoringSchedule — the names and dimensions the SageMaker SDK's
data and model quality dashboards search for (`sagemaker/dashboard/*_quality_dashboard.py`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from algorithms.model_monitor.contract import AnalyzerConfig
from algorithms.model_monitor.data_quality import FRACTIONAL, INTEGRAL, FeatureProfile

FILE_NAME = "cloudwatch_metrics.jsonl"


def timestamp(config: AnalyzerConfig) -> str:
    for value in (config.metric_time, config.end_time):
        if value:
            return value.replace(" ", "")
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dimensions(config: AnalyzerConfig, feature: str | None = None) -> list[dict]:
    dims = []
    if config.endpoint_name:
        dims.append({"Name": "Endpoint", "Value": config.endpoint_name})
    if feature is not None:
        dims.append({"Name": "Feature", "Value": feature})
    if config.monitoring_schedule_name:
        dims.append({"Name": "MonitoringSchedule", "Value": config.monitoring_schedule_name})
    return dims


def data_quality_metrics(config: AnalyzerConfig, features: list[FeatureProfile],
                         drift: dict[str, float]) -> list[dict]:
    stamp = timestamp(config)
    out = []

    def put(name: str, feature: str, **value: object) -> None:
        out.append({"MetricName": f"{name}_{feature}", "Timestamp": stamp,
                    "Dimensions": _dimensions(config, feature), **value})

    for p in features:
        if p.inferred_type in (INTEGRAL, FRACTIONAL) and p.num_present:
            values = p.numeric_values
            put("feature_data", p.name, StatisticValues={
                "SampleCount": float(len(values)), "Sum": float(p.numbers.sum()),
                "Minimum": float(values.min()), "Maximum": float(values.max())})
        put("feature_null", p.name, Value=float(p.num_missing), Unit="Count")
        put("feature_non_null", p.name, Value=float(p.num_present), Unit="Count")
        put("feature_completeness", p.name, Value=p.completeness)
        put("feature_estimated_unique_values", p.name, Value=float(len(p.value_counts)), Unit="Count")
        for kind, count in (("integral", p.integral), ("fractional", p.fractional),
                            ("string", p.string - p.boolean), ("boolean", p.boolean)):
            put(f"feature_{kind}_counts", p.name, Value=float(count), Unit="Count")
        if p.name in drift:
            put("feature_baseline_drift", p.name, Value=drift[p.name])
    return out


def model_quality_metrics(config: AnalyzerConfig, values: dict[str, float]) -> list[dict]:
    stamp = timestamp(config)
    return [{"MetricName": name, "Timestamp": stamp, "Dimensions": _dimensions(config), "Value": value}
            for name, value in values.items()]


def write(config: AnalyzerConfig, metrics: list[dict]) -> None:
    directory = config.cloudwatch_metrics_dir
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / FILE_NAME).open("a", encoding="utf-8") as handle:
        for datum in metrics:
            handle.write(json.dumps(datum, allow_nan=False) + "\n")
