"""The work queue under every controller (Kubernetes' client-go workqueue, in small):

- a key waiting in the queue is held once, however often it is added;
- a key is handed to one worker at a time: added again while a worker holds it, it comes back
  once that worker is done (so a change during a sync is never lost, and never synced twice at once);
- `add_after` / `add_at` hold a key until a time (the earliest request wins), for polling a
  deadline or waiting out a back-off;
- `add_rate_limited` re-queues a failed key with exponential back-off, `forget` resets it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

Key = Hashable


class WorkQueue:
    def __init__(self, *, base_delay: float = 0.2, max_delay: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self._cond = threading.Condition()
        self._ready: deque[Key] = deque()
        self._queued: set[Key] = set()       # in _ready, or to go back there when its worker is done
        self._processing: set[Key] = set()
        self._due: dict[Key, float] = {}     # held until a time (earliest request)
        self._timers: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()
        self._failures: dict[Key, int] = {}
        self._closed = False

    # --- adding ---------------------------------------------------------------------------------
    def add(self, key: Key) -> None:
        with self._cond:
            self._add(key)

    def _add(self, key: Key) -> None:
        if self._closed or key in self._queued:
            return
        self._queued.add(key)
        if key not in self._processing:
            self._ready.append(key)
            self._cond.notify()

    def add_after(self, key: Key, delay: float) -> None:
        self.add_at(key, self.clock() + delay)

    def add_at(self, key: Key, when: float) -> None:
        with self._cond:
            if when <= self.clock():
                self._add(key)
                return
            if self._closed or self._due.get(key, float("inf")) <= when:
                return
            self._due[key] = when
            heapq.heappush(self._timers, (when, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: Key) -> float:
        """Re-queue a key whose sync failed, after base_delay * 2^(failures-1), capped; returns the delay."""
        with self._cond:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(self.base_delay * 2 ** (failures - 1), self.max_delay)
        self.add_after(key, delay)
        return delay

    def failures(self, key: Key) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def forget(self, key: Key) -> None:
        with self._cond:
            self._failures.pop(key, None)

    # --- taking ---------------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> Key | None:
        """The next key to sync (the caller must call done(key)), or None once shut down or timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    return None
                self._release_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = self._timers[0][0] - self.clock() if self._timers else None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def _release_due(self) -> None:
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            when, _, key = heapq.heappop(self._timers)
            if self._due.get(key) == when:
                del self._due[key]
                self._add(key)

    def done(self, key: Key) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._queued:
                self._ready.append(key)
                self._cond.notify()

    # --- state ------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Look at the held keys again: the clock moved (a test's clock, or the wall clock jumped)."""
        with self._cond:
            self._cond.notify_all()

    def busy(self) -> bool:
        with self._cond:
            return bool(self._processing)

    def clear(self) -> None:
        """Drop every waiting key and all back-off state (keys being synced finish normally)."""
        with self._cond:
            self._ready.clear()
            self._queued.clear()
            self._due.clear()
            self._timers.clear()
            self._failures.clear()

    def shut_down(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
