"""A job's log lines and the metric series in them, as the console shows them.

Metric points are read from the job's log, with the regexes the job ran with (its
MetricDefinitions plus the platform's for built-in algorithms) and the same scanner the runtime
uses for FinalMetricDataList, so a chart has one point per matching line, while the job runs and
after. Scans are incremental: a small cache keeps each recent job's series and the id of the last
log event read, so polling a running job reads only new lines.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from emulator.core.builtin_metrics import builtin_metric_definitions
from emulator.core.services import Services
from emulator.runtime.logpump import MetricSeries

TAIL_LINES = 500        # what a job page shows at first; the full log is one link away
READ_BATCH = 5000       # lines per query when reading a whole log
POLL_BATCH = 1000       # new lines one poll of a live tail returns at most
CACHED_JOBS = 64
SETTLE_SECONDS = 5      # keep tailing this long after a job ends: its last lines are flushed after


@dataclass
class Tail:
    events: list[dict[str, Any]]
    cursor: int             # id of the last event shown
    live: bool              # keep polling
    truncated: bool = False  # older lines exist that are not shown
    hosts: int = 1           # instances writing to this log (lines are labelled when several)


def stream_prefix(job_name: str) -> str:
    return f"{job_name}/"  # streams are <job>/algo-<n>-<epoch>


def tail(services: Services, group: str, job_name: str, *, after: int | None, ended: float | None,
         hosts: int = 1) -> Tail:
    """The last lines of a job's log (after=None) or the lines after event `after`."""
    prefix = stream_prefix(job_name)
    if after is None:
        events = services.logs.prefix_events(group, prefix, limit=TAIL_LINES, newest=True)
        truncated = len(events) == TAIL_LINES
        cursor = events[-1]["id"] if events else 0
    else:
        events = services.logs.prefix_events(group, prefix, after_id=after, limit=POLL_BATCH)
        truncated = False
        cursor = events[-1]["id"] if events else after
    settled = ended is not None and time.time() - ended > SETTLE_SECONDS
    live = not settled or bool(events)
    return Tail(events, cursor, live, truncated, hosts)


def instance_count(job: dict[str, Any]) -> int:
    resources = (job.get("ResourceConfig") or (job.get("ProcessingResources") or {}).get("ClusterConfig")
                 or job.get("TransformResources") or {})
    return int(resources.get("InstanceCount") or 1)


def all_lines(services: Services, group: str, job_name: str):
    """Every line of a job's log, oldest first, read in batches (for the plain-text download)."""
    after = 0
    while True:
        events = services.logs.prefix_events(group, stream_prefix(job_name), after_id=after, limit=READ_BATCH)
        for event in events:
            yield f"{event['stream']}\t{event['message']}\n"
        if len(events) < READ_BATCH:
            return
        after = events[-1]["id"]


def metric_definitions(job: dict[str, Any]) -> list[dict[str, str]]:
    spec = job.get("AlgorithmSpecification") or {}
    own = list(spec.get("MetricDefinitions") or [])
    names = {d["Name"] for d in own}
    return own + [d for d in builtin_metric_definitions(spec.get("TrainingImage") or "") if d["Name"] not in names]


_cache: OrderedDict[tuple[str, float], tuple[int, MetricSeries]] = OrderedDict()
_cache_lock = threading.Lock()


def metric_series(services: Services, group: str, job: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """{metric name: [(timestamp, value), ...]} for every definition that matched at least once."""
    definitions = metric_definitions(job)
    if not definitions:
        return {}
    key = (job["TrainingJobArn"], float(job["CreationTime"]))
    with _cache_lock:
        after, series = _cache.pop(key, (0, None))
    if series is None:
        series = MetricSeries(definitions)
    while True:
        events = services.logs.prefix_events(group, stream_prefix(job["TrainingJobName"]), after_id=after,
                                             limit=READ_BATCH)
        for event in events:
            series.scan(event["ts"] / 1000, event["message"])
        if events:
            after = events[-1]["id"]
        if len(events) < READ_BATCH:
            break
    with _cache_lock:
        _cache[key] = (after, series)
        while len(_cache) > CACHED_JOBS:
            _cache.popitem(last=False)
    return {name: list(points) for name, points in series.points.items()}
