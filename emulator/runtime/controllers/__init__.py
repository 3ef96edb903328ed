"""Background work, one pattern: a controller per kind of resource, on one small base.

`base.Controller` (what a controller implements: `sync`, `keys`, `give_up`), `queue.WorkQueue` (the
de-duplicating, delaying, back-off queue), `waiters.Waiters` (wait until a resource finishes) and
`manager.ControllerManager` (workers, resyncs, the store's change hook). The controllers: jobs
(`jobs`), tuning jobs (`tuning`); pipeline executions live with the pipelines
(emulator.pipelines.executor).
"""

from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.manager import ControllerManager
from emulator.runtime.controllers.queue import WorkQueue
from emulator.runtime.controllers.waiters import Waiters

__all__ = ["Controller", "ControllerManager", "Requeue", "Waiters", "WorkQueue"]
