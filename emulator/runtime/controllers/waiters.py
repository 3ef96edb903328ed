"""One way to wait for a resource to finish: a controller asks to be woken when another resource
(a training job, a tuning job, a pipeline execution...) changes, and its next sync looks again.

Registrations are one-shot: the target's next change wakes every waiter and forgets them, and a
waiter that must keep waiting asks again in that sync. `wait_for` registers first and looks at the
target second, so a target that finishes in between is never missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from emulator.runtime.controllers.queue import Key

Target = tuple[str, str]   # (resource kind, name)


def _normal(target: Target) -> Target:
    # SageMaker names are case-insensitive (records are looked up so); wake-ups must match too.
    return target[0], target[1].lower()


class Waiters:
    def __init__(self, is_finished: Callable[[str, str], bool], wake: Callable[[Key], None]) -> None:
        self._is_finished = is_finished
        self._wake = wake
        self._lock = threading.Lock()
        self._waiting: dict[Target, set[Key]] = {}

    def wait_for(self, target: Target, waiter: Key) -> bool:
        """Wake `waiter` when `target` next changes. True when the target has already finished
        (or does not exist): the waiter is then woken at once as well."""
        with self._lock:
            self._waiting.setdefault(_normal(target), set()).add(waiter)
        if self._is_finished(*target):
            self.notify(*target)
            return True
        return False

    def notify(self, kind: str, name: str) -> None:
        """The resource changed: wake (and forget) everything waiting for it."""
        with self._lock:
            waiters = self._waiting.pop(_normal((kind, name)), set())
        for waiter in waiters:
            self._wake(waiter)

    def waiting(self, target: Target) -> set[Key]:
        with self._lock:
            return set(self._waiting.get(_normal(target), ()))

    def clear(self) -> None:
        with self._lock:
            self._waiting.clear()
