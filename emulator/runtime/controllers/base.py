"""The shape of every controller (Kubernetes' sample-controller, in small).

Create*/Update*/Stop* only write the desired state into the store; the store's change hook enqueues
the resource's key. A controller's `sync(key)` then reads the record and the world (containers,
child resources, the clock), does the next idempotent step, and writes status through core. It
never blocks waiting: it asks to be woken instead, by a child resource (`wait_for`) or at a time
(return `Requeue(at=...)`). An exception is logged and the key re-queued with back-off; after
`max_attempts` failures in a row `give_up(key, error)` ends the resource (a job never hangs). At
start-up and every so often `keys()` — every resource that is not finished — is enqueued again, so
nothing an event missed stays missed, and a restarted emulator picks up where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from emulator.core.services import Services
from emulator.runtime.controllers.queue import Key
from emulator.runtime.controllers.waiters import Waiters


@dataclass(frozen=True)
class Requeue:
    """Sync this key again after `after` seconds, or at the wall-clock time `at`."""
    after: float | None = None
    at: float | None = None


class Host(Protocol):
    """What a controller gets from the manager running it (emulator.runtime.controllers.manager)."""
    waiters: Waiters

    def clock(self) -> float: ...
    def enqueue(self, key: Key) -> None: ...


class Controller:
    """Subclasses set `kinds` (the resource kinds whose keys they sync) and implement `sync` and `keys`.
    Keys are (kind, name) tuples."""

    kinds: tuple[str, ...] = ()
    workers: int = 2
    max_attempts: int = 8

    def __init__(self, services: Services) -> None:
        self.services = services
        self.manager: Host | None = None

    # --- to implement ---------------------------------------------------------------------------
    def sync(self, key: Key) -> Requeue | None:
        raise NotImplementedError

    def keys(self) -> Iterable[Key]:
        """Every resource this controller must look at after a restart (all that are not finished)."""
        return ()

    def give_up(self, key: Key, error: Exception) -> None:
        """`sync(key)` failed `max_attempts` times in a row: end the resource with a reason."""

    def reset(self) -> None:
        """The store was wiped (POST /_emulator/reset): drop in-memory state and owned resources."""

    def shutdown(self) -> None:
        """The emulator stops; owned containers keep running and are adopted on the next start."""

    # --- provided ---------------------------------------------------------------------------------
    def now(self) -> float:
        """The controllers' clock (wall time): time-driven kinds read it as part of the world."""
        assert self.manager is not None
        return self.manager.clock()

    def enqueue(self, key: Key) -> None:
        assert self.manager is not None
        self.manager.enqueue(key)

    def wait_for(self, target: tuple[str, str], key: Key) -> bool:
        """Sync `key` again when resource `target` changes; True if it has already finished."""
        assert self.manager is not None
        return self.manager.waiters.wait_for(target, key)
