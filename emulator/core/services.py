"""The emulator's domain services, created once per server and shared by the API handlers, the job
runtime and the pipeline executor. Nothing here knows about HTTP."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from emulator.config import Settings
from emulator.store.db import Database

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Import the modules that own tables so their schemas are registered before the DB opens.
        from emulator.core import logstore, records  # noqa: F401

        self.db = Database(settings.db_path)
        self.records = records.Records(self.db)
        self.logs = logstore.LogStore(self.db)
        self.objects: Any = None  # the S3 object store (emulator.core.objectstore.ObjectStore)
        try:
            from emulator.core.objectstore import ObjectStore
        except ImportError:  # pragma: no cover - during bring-up
            ObjectStore = None
        if ObjectStore is not None:
            self.db.ensure_schema()
            self.objects = ObjectStore(self.db, settings.objects_dir)
        self.db.ensure_schema()
        # Components that own external resources (containers, threads) register here so that
        # POST /_emulator/reset and shutdown reach them. Core never imports the runtime.
        self.runtime: Any = None  # the job runtime, when started (emulator.runtime.supervisor.Runtime)
        self.pipelines: Any = None  # the pipeline engine (emulator.pipelines.executor.PipelineEngine)
        self._tuning_manager: Any = None  # tuning-job controllers (emulator.core.tuning)
        self.reset_hooks: list[Callable[[], None]] = []
        self.shutdown_hooks: list[Callable[[], None]] = []
        # Run after a reset wiped everything (e.g. re-seeding built-in data).
        self.after_reset_hooks: list[Callable[[], None]] = []
        # Called with (event, kind, name) -- event "created" or "stop" -- so a supervisor acts at once
        # instead of polling the store.
        self.job_listeners: list[Callable[[str, str, str], None]] = []

    @property
    def account_id(self) -> str:
        return self.settings.account_id

    def notify_job(self, event: str, kind: str, name: str) -> None:
        for listener in list(self.job_listeners):
            try:
                listener(event, kind, name)
            except Exception:  # a listener failing must never fail the API call
                log.exception("job listener failed for %s %s", kind, name)

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
        if self.objects is not None and hasattr(self.objects, "after_reset"):
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
