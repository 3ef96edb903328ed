"""The emulator's domain services, created once per server and shared by the API handlers and the
controllers (jobs, tuning jobs, pipeline executions). Nothing here knows about HTTP.

Every write of a resource record is announced to the watchers registered with `watch()` -- the
controllers, which then sync that resource and wake whatever waits for it. That is how core hands
work to the runtime without importing it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable

from emulator.config import Settings
from emulator.store.db import Database

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The modules owning tables register their schemas when imported, before the DB opens.
        from emulator.core import async_inference, invocation_stats, logstore, records  # noqa: F401 - their tables
        from emulator.core.objectstore import ObjectStore

        self.db = Database(settings.db_path)
        self._watchers: list[Callable[[str, str], None]] = []
        self.records = records.Records(self.db, on_change=self.changed)
        self.logs = logstore.LogStore(self.db)
        self.objects = ObjectStore(self.db, settings.objects_dir, fsync=settings.s3_fsync,
                                   min_part_size=settings.s3_min_part_size)
        # Components that own external resources (containers, threads) register here so that
        # POST /_emulator/reset and shutdown reach them. Core never imports the runtime.
        self.reset_hooks: list[Callable[[], None]] = []
        self.shutdown_hooks: list[Callable[[], None]] = []
        # Run after a reset wiped everything (e.g. re-seeding built-in data).
        self.after_reset_hooks: list[Callable[[], None]] = []
        # Why an image URI cannot run here (None: it can), answered by the job runtime, which knows
        # the images: a Create* request naming such an image (a tuning job's) is refused at once.
        self.image_checks: list[Callable[[str], str | None]] = []
        # The serving data path (emulator.runtime.serving.plane.DataPlane), set by the runtime when it
        # starts; opaque here. sagemaker-runtime calls go to it.
        self.serving = None

    @property
    def account_id(self) -> str:
        return self.settings.account_id

    def image_problem(self, uri: str) -> str | None:
        return next((problem for check in self.image_checks if (problem := check(uri))), None)

    def watch(self, watcher: Callable[[str, str], None]) -> None:
        """Call `watcher(kind, name)` after every write of a resource record."""
        self._watchers.append(watcher)

    def changed(self, kind: str, name: str) -> None:
        # Watchers only enqueue work; one that raises is a bug and surfaces as such.
        for watcher in list(self._watchers):
            watcher(kind, name)

    def reset(self) -> None:
        for hook in list(self.reset_hooks):
            try:
                hook()
            except Exception:
                log.exception("reset hook failed")
        self.db.wipe()
        for sub in (self.settings.objects_dir, self.settings.jobs_dir):
            if sub.exists():
                shutil.rmtree(sub, ignore_errors=True)
        self.objects.after_reset()
        for hook in list(self.after_reset_hooks):
            try:
                hook()
            except Exception:
                log.exception("after-reset hook failed")

    def shutdown(self) -> None:
        for hook in list(self.shutdown_hooks):
            try:
                hook()
            except Exception:
                log.exception("shutdown hook failed")
        self.db.close()
