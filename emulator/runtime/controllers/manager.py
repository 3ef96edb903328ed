"""Runs the controllers of one emulator: a work queue and a fixed pool of worker threads each, the
one waiter registry, and the resyncs (at start-up and every `resync_seconds`).

The store's change hook (`Services.watch`) routes every written resource to the controller owning
its kind and to whatever waits for it. Threads are bounded: the workers, one resync thread; a
resource never gets a thread of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from emulator.core import lifecycle
from emulator.core.services import Services
from emulator.runtime.controllers.base import Controller
from emulator.runtime.controllers.queue import Key, WorkQueue
from emulator.runtime.controllers.waiters import Waiters

log = logging.getLogger(__name__)


class ControllerManager:
    def __init__(self, services: Services, *, resync_seconds: float = 30.0,
                 clock: Callable[[], float] = time.time, base_delay: float = 0.2,
                 max_delay: float = 30.0) -> None:
        self.services = services
        self.resync_seconds = resync_seconds
        self.clock = clock
        self._base_delay, self._max_delay = base_delay, max_delay
        self.controllers: list[Controller] = []
        self._pools: list[tuple[Controller, WorkQueue]] = []
        self._owner: dict[str, tuple[Controller, WorkQueue]] = {}
        self._threads: list[threading.Thread] = []
        self._paused = False
        self._stopped = threading.Event()
        self.waiters = Waiters(lambda kind, name: lifecycle.is_finished(services, kind, name), self.enqueue)

    def add(self, controller: Controller) -> Controller:
        queue = WorkQueue(base_delay=self._base_delay, max_delay=self._max_delay, clock=self.clock)
        for kind in controller.kinds:
            if kind in self._owner:
                raise ValueError(f"two controllers for {kind}")
            self._owner[kind] = (controller, queue)
        controller.manager = self
        self.controllers.append(controller)
        self._pools.append((controller, queue))
        return controller

    # --- running -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers, wire the store's change hook, and resync everything once."""
        for controller, queue in self._pools:
            for i in range(controller.workers):
                thread = threading.Thread(target=self._work, args=(controller, queue), daemon=True,
                                          name=f"{type(controller).__name__}-{i}")
                thread.start()
                self._threads.append(thread)
        self.services.watch(self.changed)
        self.services.reset_hooks.insert(0, self.pause)
        self.services.after_reset_hooks.append(self.resume)
        self.services.shutdown_hooks.insert(0, self.stop)
        self.resync()
        if self.resync_seconds > 0:
            thread = threading.Thread(target=self._resync_loop, name="controllers-resync", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self, controller: Controller, queue: WorkQueue) -> None:
        while (key := queue.get()) is not None:
            try:
                result = controller.sync(key)
            except Exception as exc:  # noqa: BLE001 - logged, re-queued, never swallowed
                self._failed(controller, queue, key, exc)
            else:
                queue.forget(key)
                if self._paused or result is None:
                    pass
                elif result.at is not None:
                    queue.add_at(key, result.at)
                elif result.after is not None:
                    queue.add_after(key, result.after)
            finally:
                queue.done(key)

    def _failed(self, controller: Controller, queue: WorkQueue, key: Key, error: Exception) -> None:
        attempts = queue.failures(key) + 1
        if self._paused:
            log.warning("sync of %s failed during a reset: %s", key, error)
            return
        if attempts < controller.max_attempts:
            delay = queue.add_rate_limited(key)
            log.exception("sync of %s failed (attempt %d); retrying in %.1f s", key, attempts, delay)
            return
        log.exception("sync of %s failed %d times; giving up", key, attempts)
        queue.forget(key)
        try:
            controller.give_up(key, error)
        except Exception:
            log.exception("could not end %s after its failures", key)

    def _resync_loop(self) -> None:
        while not self._stopped.wait(self.resync_seconds):
            self.resync()

    def resync(self) -> None:
        """Enqueue every key each controller lists (start-up, then periodically)."""
        for controller, _ in self._pools:
            try:
                keys = list(controller.keys())
            except Exception:
                log.exception("%s could not list its resources", type(controller).__name__)
                continue
            for key in keys:
                self.enqueue(key)

    # --- events ----------------------------------------------------------------------------------
    def enqueue(self, key: Key) -> None:
        owner = self._owner.get(key[0])
        if owner is not None and not self._paused:
            owner[1].add(key)

    def clock_moved(self) -> None:
        """Release every key held until a time that has now come (after a settable clock was advanced)."""
        for _, queue in self._pools:
            queue.wake()

    def changed(self, kind: str, name: str) -> None:
        """The store wrote resource (kind, name): its controller and its waiters look again."""
        if self._paused:
            return
        self.enqueue((kind, name))
        self.waiters.notify(kind, name)

    # --- reset and shutdown ------------------------------------------------------------------------
    def pause(self, drain_timeout: float = 30.0) -> None:
        """Before a reset wipes the store: stop taking work, let running syncs end, drop all state."""
        self._paused = True
        for _, queue in self._pools:
            queue.clear()
        deadline = time.monotonic() + drain_timeout
        while any(queue.busy() for _, queue in self._pools) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.waiters.clear()
        self._tell_each("reset")

    def resume(self) -> None:
        self._paused = False
        self.resync()

    def stop(self, join_timeout: float = 10.0) -> None:
        """Shutdown: no new syncs; running ones may finish (the store closes after this returns)."""
        self._paused = True
        self._stopped.set()
        for _, queue in self._pools:
            queue.shut_down()
        deadline = time.monotonic() + join_timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._tell_each("shutdown")

    def _tell_each(self, hook: str) -> None:
        for controller in self.controllers:
            try:
                getattr(controller, hook)()
            except Exception:
                log.exception("%s: %s failed", type(controller).__name__, hook)

