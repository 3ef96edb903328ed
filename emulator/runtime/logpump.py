"""Container output -> the log store (CloudWatch Logs) and metric time series.

Each container's lines go to stream `<job>/algo-<n>-<epoch>`. Tabs become `#011` first, as
syslog does on real instances, because AWS's own metric regexes (e.g. XGBoost's
`.*\\[[0-9]+\\].*#011validation-rmse:([-+]?[0-9]*\\.?[0-9]+...)`) expect that
(container_contracts.md §1.7). One writer thread (per emulator, not per job) batches inserts so a
chatty container never turns into one SQLite transaction per line.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.core.services import Services

log = logging.getLogger(__name__)


@dataclass
class MetricSeries:
    definitions: list[dict[str, str]]
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _compiled: list[tuple[str, re.Pattern]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for d in self.definitions:
            try:
                self._compiled.append((d["Name"], re.compile(d["Regex"])))
            except re.error:
                log.warning("ignoring invalid metric regex %r", d.get("Regex"))

    def scan(self, timestamp: float, line: str) -> None:
        for name, regex in self._compiled:
            match = regex.search(line)
            if match:
                try:
                    value = float(match.group(1) if regex.groups else match.group(0))
                except (ValueError, IndexError):
                    continue
                self.points.setdefault(name, []).append((timestamp, value))

    def final(self) -> list[dict]:
        """FinalMetricDataList: the last value of each metric."""
        return [{"MetricName": name, "Value": pts[-1][1], "Timestamp": pts[-1][0]}
                for name, pts in self.points.items() if pts]


class LogWriter:
    """The one writer of container output into the log store: lines from every container of every job
    queue here and are inserted in batches by a single thread."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._queue: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="container-logs", daemon=True)
        self._writer.start()

    def line(self, group: str, stream: str, timestamp: float, message: str) -> None:
        self._queue.put((group, stream, int(timestamp * 1000), message))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every line queued so far is stored."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._writer.join(timeout)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[tuple[str, str, int, str]] = []
            markers: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, threading.Event):
                    markers.append(item)
                    break  # someone waits for what is queued: store it now
                batch.append(item)
                if len(batch) >= 1000:
                    break
                try:
                    item = self._queue.get(timeout=0.05)
                except queue.Empty:
                    break
            self._flush(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _flush(self, batch: list[tuple[str, str, int, str]]) -> None:
        by_stream: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for group, stream, ts, message in batch:
            by_stream.setdefault((group, stream), []).append((ts, message))
        for (group, stream), events in by_stream.items():
            try:
                self.services.logs.put_events(group, stream, events)
            except Exception:
                log.exception("could not store log events for %s", stream)


def follow(backend, container_id: str, writer: LogWriter, group: str, stream: str, metrics: MetricSeries,
           since: float | None = None, on_end: Callable[[], None] | None = None) -> threading.Thread:
    """Stream one container's output into the log store (scanning it for metrics) until the container
    ends; then call `on_end`. The thread only reads Docker: the writer stores."""
    def run() -> None:
        try:
            for timestamp, message in backend.logs(container_id, since=since):
                message = message.replace("\t", "#011")
                metrics.scan(timestamp, message)
                writer.line(group, stream, timestamp, message)
        except Exception:  # the container may vanish mid-stream (force removal, daemon restart)
            log.debug("log stream of %s ended", container_id, exc_info=True)
        finally:
            if on_end is not None:
                on_end()
    thread = threading.Thread(target=run, name=f"follow-{stream}", daemon=True)
    thread.start()
    return thread


def rescan(services: Services, group: str, stream: str | None, metrics: MetricSeries) -> float | None:
    """Scan a stream's stored lines for metrics again (a job adopted after a restart); returns the time
    to follow its container's output from, just after the last stored line."""
    if not stream:
        return None
    after, last = 0, None
    while True:
        page = services.logs.read_stream(group, stream, start=None, end=None, after_id=after, before_id=None,
                                         limit=10_000, from_head=True)
        for event in page.events:
            metrics.scan(event["timestamp"] / 1000, event["message"])
            last = event["timestamp"]
        if not page.events:
            return None if last is None else last / 1000 + 0.001
        after = int(page.forward.split("/", 1)[1])
