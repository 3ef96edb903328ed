"""CloudWatch metrics: storage, limits and statistics (aggregated in SQL).

A metric is (namespace, name, dimensions); its datapoints are rows of (time, unit, sample count,
sum, minimum, maximum): a PutMetricData `Value` is one sample, each `Values[i]` is `Counts[i]`
samples of one value, a `StatisticValues` set is stored as given. `exact` marks rows whose samples
all equal their minimum, the rows extended statistics may use (statistics.py).

Limits and retention follow the PutMetricData and GetMetricStatistics API references and the
CloudWatch quotas page: datapoints up to two weeks old and two hours ahead; 1,000 metrics per call;
150 values per metric; ListMetrics shows metrics with data in the last two weeks, 500 a page;
GetMetricStatistics answers at most 1,440 datapoints. Storage is bounded: datapoints are kept for
15 days (CloudWatch keeps one-minute data that long; it rolls older data up into coarser periods,
which the emulator drops instead) and at most `MAX_DATAPOINTS` rows, oldest dropped first.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from emulator.aws.errors import AwsError
from emulator.aws.serialize import to_epoch
from emulator.core.cloudwatch import statistics
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS cw_metrics (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    last_put REAL NOT NULL,
    UNIQUE (namespace, name, dims)
);
CREATE TABLE IF NOT EXISTS cw_datapoints (
    metric INTEGER NOT NULL,
    ts REAL NOT NULL,
    unit TEXT NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    exact INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cw_datapoints_metric_ts ON cw_datapoints (metric, ts);
CREATE INDEX IF NOT EXISTS cw_datapoints_ts ON cw_datapoints (ts);
""")

PAST_LIMIT = 14 * 86400
FUTURE_LIMIT = 2 * 3600
RETENTION = 15 * 86400
MAX_DATAPOINTS = 2_000_000
MAX_METRIC_DATA = 1000
MAX_VALUES = 150
LIST_PAGE = 500
LIST_ACTIVE = 14 * 86400
MAX_STATISTICS_DATAPOINTS = 1440
_PRUNE_EVERY = 1000  # rows written between two retention passes


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(AwsError):
    code = "InvalidParameterCombination"


class MissingParameter(AwsError):
    code = "MissingParameter"


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"


@dataclass(frozen=True)
class MetricKey:
    namespace: str
    name: str
    dims: str  # canonical: JSON [[name, value], ...] sorted by name

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Iterable[dict] | None) -> MetricKey:
        return cls(namespace, name, dims_key(dimensions))

    def dimensions(self) -> list[dict[str, str]]:
        return [{"Name": n, "Value": v} for n, v in json.loads(self.dims)]


def dims_key(dimensions: Iterable[dict] | None) -> str:
    return json.dumps(sorted([d["Name"], d["Value"]] for d in dimensions or ()), separators=(",", ":"))


# --- writing ---------------------------------------------------------------------------------------

def put_metric_data(services, namespace: str, data: list[dict[str, Any]], *, now: float | None = None,
                    path: str = "MetricData") -> set[MetricKey]:
    """Validate and store PutMetricData's MetricData; returns the metrics written. Raises the
    errors AWS raises for the whole request (nothing is stored then)."""
    now = time.time() if now is None else now
    if len(data) > MAX_METRIC_DATA:
        raise InvalidParameterValue(f"The collection {path} must not have a size greater than {MAX_METRIC_DATA}.")
    rows: list[tuple] = []  # (MetricKey, ts, unit, count, sum, min, max, exact)
    for i, datum in enumerate(data, start=1):
        rows += _rows(namespace, datum, f"{path}.member.{i}", now)
    keys = {MetricKey.of(namespace, d["MetricName"], d.get("Dimensions")) for d in data}
    with services.db.transaction() as conn:
        ids = {}
        for key in keys:
            conn.execute("INSERT INTO cw_metrics (namespace, name, dims, last_put) VALUES (?,?,?,?) "
                         "ON CONFLICT(namespace, name, dims) DO UPDATE SET last_put=excluded.last_put",
                         (key.namespace, key.name, key.dims, now))
            ids[key] = conn.execute("SELECT id FROM cw_metrics WHERE namespace=? AND name=? AND dims=?",
                                    (key.namespace, key.name, key.dims)).fetchone()[0]
        conn.executemany(
            "INSERT INTO cw_datapoints (metric, ts, unit, count, sum, min, max, exact) VALUES (?,?,?,?,?,?,?,?)",
            [(ids[key], *rest) for key, *rest in rows])
    _count_and_prune(services, len(rows), now)
    return keys


def _rows(namespace: str, datum: dict[str, Any], path: str, now: float) -> list:
    key = MetricKey.of(namespace, datum["MetricName"], datum.get("Dimensions"))
    names = [d["Name"] for d in datum.get("Dimensions") or ()]
    if len(names) != len(set(names)):
        raise InvalidParameterValue(f"The collection {path}.Dimensions must not contain duplicate names.")
    stamp = to_epoch(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
    if stamp < now - PAST_LIMIT:
        raise InvalidParameterValue(f"The parameter {path}.Timestamp must specify a time no more than two weeks "
                                    "in the past.")
    if stamp > now + FUTURE_LIMIT:
        raise InvalidParameterValue(f"The parameter {path}.Timestamp must specify a time no more than two hours "
                                    "in the future.")
    unit = datum.get("Unit") or "None"
    value, values, stats = datum.get("Value"), datum.get("Values"), datum.get("StatisticValues")
    if value is not None and values:
        raise InvalidParameterValue(f"The parameters {path}.Value and {path}.Values are mutually exclusive and you "
                                    "have specified both.")
    if stats is not None and (value is not None or values):
        other = "Value" if value is not None else "Values"
        raise InvalidParameterCombination(f"The parameters {path}.{other} and {path}.StatisticValues are mutually "
                                          "exclusive and you have specified both.")
    if values:
        counts = datum.get("Counts") or [1.0] * len(values)
        if len(values) > MAX_VALUES:
            raise InvalidParameterValue(f"The collection {path}.Values must not have a size greater than "
                                        f"{MAX_VALUES}.")
        if len(counts) != len(values):
            raise InvalidParameterValue(f"The parameters {path}.Values and {path}.Counts must be of the same size.")
        out = []
        for j, (v, c) in enumerate(zip(values, counts), start=1):
            _finite(v, f"{path}.Values.member.{j}")
            _finite(c, f"{path}.Counts.member.{j}")
            if c > 0:
                out.append((key, stamp, unit, float(c), float(v) * c, float(v), float(v), 1))
        return out
    if stats is not None:
        count, total, low, high = (float(stats[k]) for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
        for name in ("SampleCount", "Sum", "Minimum", "Maximum"):
            _finite(stats[name], f"{path}.StatisticValues.{name}")
        if count <= 0:
            raise InvalidParameterValue(f"The value {stats['SampleCount']} for parameter "
                                        f"{path}.StatisticValues.SampleCount is invalid.")
        if low > high:
            raise InvalidParameterValue(f"The parameter {path}.StatisticValues.Maximum must be greater than "
                                        f"{path}.StatisticValues.Minimum.")
        exact = int(low == high and math.isclose(total, low * count, rel_tol=1e-12, abs_tol=1e-12))
        return [(key, stamp, unit, count, total, low, high, exact)]
    if value is None:
        raise MissingParameter(f"The parameter {path}.Value is required.")
    _finite(value, f"{path}.Value")
    return [(key, stamp, unit, 1.0, float(value), float(value), float(value), 1)]


def _finite(value: Any, path: str) -> None:
    number = float(value) if not isinstance(value, str) else math.nan
    if not math.isfinite(number):
        raise InvalidParameterValue(f"The value {value} for parameter {path} is invalid.")


_written = {"rows": 0}


def _count_and_prune(services, rows: int, now: float) -> None:
    _written["rows"] += rows
    if _written["rows"] < _PRUNE_EVERY:
        return
    _written["rows"] = 0
    prune(services, now)


def prune(services, now: float | None = None) -> None:
    """Drop datapoints past retention, then the oldest beyond MAX_DATAPOINTS."""
    now = time.time() if now is None else now
    with services.db.transaction() as conn:
        conn.execute("DELETE FROM cw_datapoints WHERE ts < ?", (now - RETENTION,))
        extra = conn.execute("SELECT COUNT(*) FROM cw_datapoints").fetchone()[0] - MAX_DATAPOINTS
        if extra > 0:
            conn.execute("DELETE FROM cw_datapoints WHERE rowid IN "
                         "(SELECT rowid FROM cw_datapoints ORDER BY ts LIMIT ?)", (extra,))


# --- reading ---------------------------------------------------------------------------------------

def list_metrics(services, req: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    since = now - (3 * 3600 if req.get("RecentlyActive") == "PT3H" else LIST_ACTIVE)
    sql = "SELECT id, namespace, name, dims FROM cw_metrics WHERE last_put >= ?"
    args: list[Any] = [since]
    if req.get("Namespace"):
        sql += " AND namespace = ?"
        args.append(req["Namespace"])
    if req.get("MetricName"):
        sql += " AND name = ?"
        args.append(req["MetricName"])
    start = _token(req.get("NextToken"))
    sql += " AND id > ? ORDER BY id"
    args.append(start)
    wanted = req.get("Dimensions") or []
    out, last = [], None
    for row in services.db.query(sql, args):
        dims = dict(json.loads(row["dims"]))
        if all(f["Name"] in dims and (f.get("Value") is None or dims[f["Name"]] == f["Value"]) for f in wanted):
            out.append({"Namespace": row["namespace"], "MetricName": row["name"],
                        "Dimensions": [{"Name": n, "Value": v} for n, v in json.loads(row["dims"])]})
            last = row["id"]
            if len(out) == LIST_PAGE:
                break
    result: dict[str, Any] = {"Metrics": out}
    if len(out) == LIST_PAGE:
        result["NextToken"] = str(last)
    return result


def _token(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise InvalidNextToken("The service couldn't process the NextToken you provided.") from None


def metric_id(services, key: MetricKey) -> int | None:
    row = services.db.query_one("SELECT id FROM cw_metrics WHERE namespace=? AND name=? AND dims=?",
                                (key.namespace, key.name, key.dims))
    return row["id"] if row else None


@dataclass
class Bucket:
    """One period's aggregate (of one unit, when asked to keep units apart)."""
    start: float
    unit: str
    count: float
    sum: float
    min: float
    max: float
    exact: bool
    samples: list[tuple[float, float]] | None = None

    def value(self, stat: str) -> float | None:
        if stat == "SampleCount":
            return self.count
        if stat == "Sum":
            return self.sum
        if stat == "Average":
            return self.sum / self.count if self.count else None
        if stat == "Minimum":
            return self.min
        if stat == "Maximum":
            return self.max
        parsed = statistics.parse(stat)
        if parsed is None or not self.exact or not self.samples:
            return None
        return statistics.compute(parsed, self.samples)


def buckets(services, key: MetricKey, start: float, end: float, period: int, *, unit: str | None = None,
            by_unit: bool = False, samples: bool = False) -> list[Bucket]:
    """Aggregates of [start, end) in periods of `period` seconds counted from `start`; one bucket per
    period that has data (per unit too when `by_unit`)."""
    ident = metric_id(services, key)
    if ident is None:
        return []
    unit_sql = " AND unit = ?" if unit else ""
    args: list[Any] = [start, period, ident, start, end] + ([unit] if unit else [])
    group = "bucket, unit" if by_unit else "bucket"
    rows = services.db.query(
        f"SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, {'unit' if by_unit else 'MIN(unit)'} AS unit, "
        "SUM(count) AS count, SUM(sum) AS sum, MIN(min) AS min, MAX(max) AS max, MIN(exact) AS exact "
        f"FROM cw_datapoints WHERE metric = ? AND ts >= ? AND ts < ?{unit_sql} GROUP BY {group} ORDER BY bucket",
        args)
    found = {(r["bucket"], r["unit"] if by_unit else None):
             Bucket(start + r["bucket"] * period, r["unit"], r["count"], r["sum"], r["min"], r["max"],
                    bool(r["exact"]))
             for r in rows}
    if samples and found:
        for r in services.db.query(
                f"SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, unit, min AS value, SUM(count) AS weight "
                f"FROM cw_datapoints WHERE metric = ? AND ts >= ? AND ts < ?{unit_sql} AND exact = 1 "
                "GROUP BY bucket, unit, min ORDER BY bucket, min", args):
            bucket = found.get((r["bucket"], r["unit"] if by_unit else None))
            if bucket is not None:
                bucket.samples = (bucket.samples or []) + [(r["value"], r["weight"])]
        for bucket in found.values():
            if bucket.samples:
                bucket.samples.sort()
    return list(found.values())


# --- GetMetricStatistics -----------------------------------------------------------------------------

def aligned_start(start: float, period: int, now: float) -> float:
    """GetMetricStatistics rounds StartTime down: to the minute when less than 15 days ago, to 5 minutes
    up to 63 days, to the hour beyond (API reference); high-resolution periods to the period."""
    age = now - start
    step = period if period < 60 else 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
    return math.floor(start / step) * step


def check_period(period: int, name: str = "Period") -> None:
    if period not in (1, 5, 10, 20, 30) and period % 60:
        raise InvalidParameterValue(f"The parameter {name} must be a multiple of 60.")


def get_metric_statistics(services, req: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    stats, extended = req.get("Statistics") or [], req.get("ExtendedStatistics") or []
    if not stats and not extended:
        raise MissingParameter("Must specify either the parameter Statistics or the parameter ExtendedStatistics.")
    if stats and extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics, but not both.")
    for stat in extended:
        if statistics.parse(stat) is None:
            raise InvalidParameterValue(f"The value {stat} for parameter ExtendedStatistics is not supported.")
    period = int(req["Period"])
    check_period(period)
    start, end = to_epoch(req["StartTime"]), to_epoch(req["EndTime"])
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    start = aligned_start(start, period, now)
    requested = math.ceil((end - start) / period)
    if requested > MAX_STATISTICS_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, or "
            "decreasing the time range.")
    key = MetricKey.of(req["Namespace"], req["MetricName"], req.get("Dimensions"))
    points = []
    for bucket in buckets(services, key, start, end, period, unit=req.get("Unit"), by_unit=True,
                          samples=bool(extended)):
        point: dict[str, Any] = {"Timestamp": bucket.start, "Unit": bucket.unit}
        for stat in stats:
            point[stat] = bucket.value(stat)
        if extended:
            values = {s: bucket.value(s) for s in extended}
            point["ExtendedStatistics"] = {s: v for s, v in values.items() if v is not None}
        points.append(point)
    return {"Label": req["MetricName"], "Datapoints": points}


# --- GetMetricData ----------------------------------------------------------------------------------

def get_metric_data(services, req: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    queries = req["MetricDataQueries"]
    start, end = to_epoch(req["StartTime"]), to_epoch(req["EndTime"])
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    ids = [q["Id"] for q in queries]
    if len(ids) != len(set(ids)):
        raise InvalidParameterValue("The value of MetricDataQueries.member.N.Id must be unique.")
    descending = (req.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
    limit = int(req.get("MaxDatapoints") or 100_800)
    results = []
    for i, query in enumerate(queries, start=1):
        if query.get("Expression") is not None:
            # Metric math is out of the emulator's scope: refused the way CloudWatch refuses an
            # expression it cannot evaluate, naming the query.
            raise InvalidParameterValue(
                f"The value {query['Expression']} for parameter MetricDataQueries.member.{i}.Expression is not "
                "supported by the SageMaker Emulator: metric math expressions are not evaluated; use MetricStat.")
        stat = query.get("MetricStat")
        if stat is None:
            raise MissingParameter(f"The parameter MetricDataQueries.member.{i}.MetricStat is required when "
                                   "Expression is not given.")
        if query.get("ReturnData") is False:
            continue
        results.append(_stat_series(services, query, stat, i, start, end, now, descending))
    total = sum(len(r["Values"]) for r in results)
    if total > limit:
        raise InvalidParameterValue(f"The value {limit} for parameter MaxDatapoints is too small: the query "
                                    f"returns {total} datapoints.")
    return {"MetricDataResults": results, "Messages": []}


def _stat_series(services, query: dict, stat: dict, index: int, start: float, end: float, now: float,
                 descending: bool) -> dict[str, Any]:
    metric = stat["Metric"]
    period = int(query.get("Period") or stat["Period"])
    check_period(period, f"MetricDataQueries.member.{index}.MetricStat.Period")
    name = stat["Stat"]
    if not statistics.is_standard(name) and statistics.parse(name) is None:
        raise InvalidParameterValue(f"The value {name} for parameter MetricDataQueries.member.{index}.MetricStat.Stat "
                                    "is not supported.")
    if not metric.get("Namespace") or not metric.get("MetricName"):
        raise MissingParameter(f"The parameter MetricDataQueries.member.{index}.MetricStat.Metric.Namespace and "
                               "MetricName are required.")
    key = MetricKey.of(metric["Namespace"], metric["MetricName"], metric.get("Dimensions"))
    # GetMetricData aligns periods to the clock (start rounded down to the period) -- API reference
    # "StartTime ... CloudWatch rounds ... to the start of the period".
    aligned = math.floor(start / period) * period
    points = [(b.start, b.value(name)) for b in buckets(services, key, aligned, end, period, unit=stat.get("Unit"),
                                                        samples=not statistics.is_standard(name))]
    points = sorted(((t, v) for t, v in points if v is not None), reverse=descending)
    return {"Id": query["Id"], "Label": query.get("Label") or metric["MetricName"],
            "Timestamps": [t for t, _ in points], "Values": [v for _, v in points], "StatusCode": "Complete"}
