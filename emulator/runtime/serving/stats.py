"""Invocation counts and latencies of the data path, kept in memory per endpoint, variant and minute and
stored (emulator.core.invocation_stats) every few seconds by one thread, which also publishes them as
the CloudWatch metrics SageMaker publishes for endpoints (emulator.core.cloudwatch.sagemaker).
"""

from __future__ import annotations

import logging
import threading

from emulator.core import invocation_stats
from emulator.core.cloudwatch import sagemaker as cloudwatch
from emulator.core.invocation_stats import MinuteCounts
from emulator.core.services import Services

log = logging.getLogger(__name__)


class InvocationStats:
    def __init__(self, services: Services, flush_seconds: float = 5.0) -> None:
        self.services = services
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], MinuteCounts] = {}
        # min and max of the model and overhead latencies (sums are in the counts)
        self._extremes: dict[tuple[str, str, int], list[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="invocation-stats", daemon=True)
        self._thread.start()

    def record(self, endpoint: str, variant: str, now: float, status: int, model_us: int, overhead_us: int) -> None:
        """One invocation answered with `status` (what the client got: 424 for a model error is counted by
        the model's own status class, as AWS counts Invocation4XX/5XXErrors)."""
        key = (endpoint, variant, int(now // 60))
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = MinuteCounts(endpoint, variant, key[2])
            counts.invocations += 1
            if 400 <= status < 500:
                counts.errors_4xx += 1
            elif status >= 500:
                counts.errors_5xx += 1
            counts.model_latency_us += model_us
            counts.overhead_latency_us += overhead_us
            low_high = self._extremes.get(key)
            if low_high is None:
                self._extremes[key] = [model_us, model_us, overhead_us, overhead_us]
            else:
                low_high[0], low_high[1] = min(low_high[0], model_us), max(low_high[1], model_us)
                low_high[2], low_high[3] = min(low_high[2], overhead_us), max(low_high[3], overhead_us)

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = list(self._counts.values()), {}
            extremes, self._extremes = self._extremes, {}
        if not counts:
            return
        try:
            invocation_stats.add(self.services.db, counts)
        except Exception:
            log.exception("could not store invocation counts")
        try:
            cloudwatch.publish_endpoint_metrics(self.services, counts, extremes)
        except Exception:
            log.exception("could not publish endpoint metrics")

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.flush()

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._extremes.clear()
