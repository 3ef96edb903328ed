"""Container output -> the log store (CloudWatch Logs) and metric time series.

Each container's lines go to stream `<job>/algo-<n>-<epoch>`. Tabs become `#011` first, as
syslog does on real instances, because AWS's own metric regexes (e.g. XGBoost's
`.*\\[[0-9]+\\].*#011validation-rmse:([-+]?[0-9]*\\.?[0-9]+...)`) expect that
(container_contracts.md §1.7). A single writer thread batches inserts so a chatty container
never turns into one SQLite transaction per line.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
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


class LogPump:
    """Collects lines from many containers of one job and writes them in batches."""

    def __init__(self, services: Services, group: str, metrics: MetricSeries | None = None) -> None:
        self.services = services
        self.group = group
        self.metrics = metrics
        self._queue: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name=f"logs-{group}", daemon=True)
        self._writer.start()

    def line(self, stream: str, timestamp: float, message: str) -> None:
        message = message.replace("\t", "#011")
        if self.metrics is not None:
            self.metrics.scan(timestamp, message)
        self._queue.put((stream, int(timestamp * 1000), message))

    def follow(self, backend, container_id: str, stream: str, since: float | None = None) -> threading.Thread:
        def run() -> None:
            try:
                for timestamp, message in backend.logs(container_id, since=since):
                    self.line(stream, timestamp, message)
            except Exception:  # the container may vanish mid-stream (force removal, daemon restart)
                log.debug("log stream of %s ended", container_id, exc_info=True)
        thread = threading.Thread(target=run, name=f"follow-{stream}", daemon=True)
        thread.start()
        return thread

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < 1000:
                try:
                    nxt = self._queue.get(timeout=0.05)
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._flush(batch)
            if stop:
                return

    def _flush(self, batch: list[tuple[str, int, str]]) -> None:
        by_stream: dict[str, list[tuple[int, str]]] = {}
        for stream, ts, message in batch:
            by_stream.setdefault(stream, []).append((ts, message))
        for stream, events in by_stream.items():
            try:
                self.services.logs.put_events(self.group, stream, events)
            except Exception:
                log.exception("could not store log events for %s", stream)

    def close(self) -> None:
        """Flush everything queued so far and stop the writer."""
        self._queue.put(None)
        self._writer.join(timeout=30)
