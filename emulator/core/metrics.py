"""Trial-component metric time series: what sagemaker-metrics BatchPutMetrics ingests, what
BatchGetMetrics reads back and what DescribeTrialComponent / Search summarise.

Points are keyed by the trial component's name lower-cased: the SDK's metrics sink lower-cases the
name it sends (`sagemaker/experiments/_metrics.py`, `_construct_batch_put_metrics_request`), while
DescribeTrialComponent and Search address the component by the name it was created with.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from emulator.aws.serialize import to_epoch
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS metric_points (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    component TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts REAL NOT NULL,
    step INTEGER,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_points_component ON metric_points (component, metric);
""")

STATS = ("Min", "Max", "Avg", "StdDev", "Last", "Count")
# BatchGetMetrics periods, in seconds; IterationNumber groups by step instead of by time.
PERIOD_SECONDS = {"OneMinute": 60, "FiveMinute": 300, "OneHour": 3600}


def _key(component: str) -> str:
    return component.lower()


def put(services, component: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store points; returns BatchPutMetrics `Errors` (VALIDATION_ERROR for non-finite values,
    which AWS's time-series store cannot hold)."""
    errors, rows = [], []
    for index, point in enumerate(data):
        value = point.get("Value")
        if value is None or not math.isfinite(float(value)):
            errors.append({"Code": "VALIDATION_ERROR", "MetricIndex": index})
            continue
        rows.append((_key(component), point["MetricName"], to_epoch(point["Timestamp"]),
                     point.get("Step"), float(value)))
    if rows:
        with services.db.transaction() as conn:
            conn.executemany("INSERT INTO metric_points (component, metric, ts, step, value) "
                             "VALUES (?,?,?,?,?)", rows)
    return errors


def has_series(services, component: str, metric: str) -> bool:
    return services.db.query_one("SELECT 1 FROM metric_points WHERE component=? AND metric=?",
                                 (_key(component), metric)) is not None


def delete(services, component: str) -> None:
    with services.db.transaction() as conn:
        conn.execute("DELETE FROM metric_points WHERE component=?", (_key(component),))


def _points(services, component: str, metric: str | None = None) -> dict[str, list[tuple]]:
    sql = "SELECT metric, ts, step, value FROM metric_points WHERE component=?"
    params: list[Any] = [_key(component)]
    if metric is not None:
        sql += " AND metric=?"
        params.append(metric)
    series: dict[str, list[tuple]] = defaultdict(list)
    for row in services.db.query(sql + " ORDER BY seq", params):
        series[row["metric"]].append((row["ts"], row["step"], row["value"]))
    return series


def series(services, component: str) -> dict[str, list[tuple]]:
    """Every point of each metric of a trial component, in arrival order: {metric: [(ts, step, value)]}."""
    return dict(_points(services, component))


def _stat(values: list[float], stat: str) -> float:
    if stat == "Min":
        return min(values)
    if stat == "Max":
        return max(values)
    if stat == "Count":
        return float(len(values))
    if stat == "Last":
        return values[-1]
    mean = sum(values) / len(values)
    if stat == "Avg":
        return mean
    # Sample standard deviation; a single point has no spread.
    if len(values) < 2:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _chronological(points: list[tuple]) -> list[tuple]:
    # "Last" is the latest by timestamp, then by step; ties keep arrival order (sort is stable).
    return sorted(points, key=lambda p: (p[0], p[1] if p[1] is not None else -1))


def summaries(services, component: str, source_arn: str | None = None) -> list[dict[str, Any]]:
    """The `Metrics` list of DescribeTrialComponent (TrialComponentMetricSummary)."""
    out = []
    for name, points in sorted(_points(services, component).items()):
        ordered = _chronological(points)
        values = [p[2] for p in ordered]
        summary = {"MetricName": name, "TimeStamp": ordered[-1][0],
                   **{stat: _stat(values, stat) for stat in STATS}}
        summary["Count"] = len(values)
        if source_arn:
            summary["SourceArn"] = source_arn
        out.append(summary)
    return out


def query(services, component: str, q: dict[str, Any]) -> dict[str, Any]:
    """One BatchGetMetrics MetricQueryResult: the series bucketed by step or by time period and
    reduced with the requested statistic."""
    by_step = q["XAxisType"] == "IterationNumber"
    period = PERIOD_SECONDS.get(q["Period"], 1)
    buckets: dict[int, list[float]] = defaultdict(list)
    series = _points(services, component, q["MetricName"]).get(q["MetricName"], [])
    for ts, step, value in _chronological(series):
        if by_step:
            if step is None:
                continue
            x = int(step)
        else:
            x = int(ts // period * period)
        if q.get("Start") is not None and x < q["Start"]:
            continue
        if q.get("End") is not None and x > q["End"]:
            continue
        buckets[x].append(value)
    xs = sorted(buckets)
    return {"Status": "Complete", "XAxisValues": xs,
            "MetricValues": [_stat(buckets[x], q["MetricStat"]) for x in xs]}
