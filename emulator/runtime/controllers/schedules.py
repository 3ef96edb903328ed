"""The monitoring schedule controller: SageMaker's scheduler for Model Monitor.

It owns two kinds. A `MonitoringSchedule` sync moves a new or updated schedule from Pending to
Scheduled, records the run that has fallen due on the schedule's clock (core.monitoring.schedules) —
the execution record first, keyed by its scheduled time, so a restart neither loses a due run nor
starts one twice — and asks to be synced again when the next run falls due (`Requeue(at=...)`). A
`MonitoringExecution` sync does the execution's next step (core.monitoring.executions.advance: create
its processing jobs, derive its status from theirs) and waits for the job it started.

After a restart the resync looks at every schedule that is not Stopped: each run that fell due while the
emulator was down is recorded and run then, once (at most the last MAX_CATCH_UP of them, so a long outage
does not start a flood of jobs); every unfinished execution is advanced.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import jobs
from emulator.core.monitoring import executions, schedules
from emulator.core.monitoring.cron import HOUR, Schedule
from emulator.core.services import Services
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key

log = logging.getLogger(__name__)
IDLE = ("Stopped", "Failed")
MAX_CATCH_UP = 24


def flush_capture(services: Services) -> None:
    """Store what endpoints captured so far, so a run starting now sees it (capture is written every
    Settings.capture_flush_seconds)."""
    serving = services.serving
    if serving is not None:
        serving.capture.flush(timeout=30)


def run_now(services: Services, name: str, now: float) -> dict[str, Any] | None:
    """POST /_emulator/monitoring-schedules/{name}/run (see core.monitoring.executions.run_now)."""
    flush_capture(services)
    return executions.run_now(services, name, now)


class MonitoringScheduleController(Controller):
    kinds = (schedules.KIND, executions.KIND)
    workers = 2

    def keys(self) -> Iterable[Key]:
        for body in self.services.records.list_where(schedules.KIND, schedules.STATUS, exclude=IDLE):
            yield schedules.KIND, body[schedules.NAME]
        for name in executions.unfinished(self.services):
            yield executions.KIND, name

    def give_up(self, key: Key, error: Exception) -> None:
        reason = f"InternalServerError: {type(error).__name__}: {error}"
        if key[0] == executions.KIND:
            executions.finish(self.services, key[1], "Failed", reason)
            return

        def change(body: dict[str, Any]) -> None:
            body.update({schedules.STATUS: "Failed", "FailureReason": reason[:1024]})
        schedules.mark(self.services, key[1], change)

    def sync(self, key: Key) -> Requeue | None:
        if key[0] == executions.KIND:
            return self._sync_execution(key)
        return self._sync_schedule(key[1])

    def _sync_execution(self, key: Key) -> None:
        body = executions.get(self.services, key[1])
        if body is not None and body[executions.STATUS] == "Pending":
            flush_capture(self.services)
        job = executions.advance(self.services, key[1])
        # A job that has already ended (wait_for says so) is looked at again at once.
        while job is not None and self.wait_for((jobs.PROCESSING.kind, job), key):
            job = executions.advance(self.services, key[1])

    def _sync_schedule(self, name: str) -> Requeue | None:
        body = schedules.get(self.services, name)
        if body is None or body[schedules.STATUS] in IDLE:
            return None
        timing = self._timing(body)
        now = schedules.clock(self.services, body, self.now())
        runs: list[float] = []
        if timing.once:
            if not body["_ran_once"]:
                runs.append(body["_runs_from"])
            due = None
        else:
            after = max(body["_runs_from"], body.get("_last_run") or 0.0, now - MAX_CATCH_UP * 24 * HOUR)
            due = timing.next_run(after)
            while due <= now:
                runs.append(due)
                due = timing.next_run(due)
            if len(runs) > MAX_CATCH_UP:
                log.warning("monitoring schedule %s: %d runs fell due while the emulator was down; running the "
                            "last %d", name, len(runs), MAX_CATCH_UP)
                runs = runs[-MAX_CATCH_UP:]
        for run in runs:
            window = (schedules.wall(self.services, body, run + timing.start_offset),
                      schedules.wall(self.services, body, run + timing.end_offset))
            executions.record(self.services, body, run, window)  # None: recorded before a restart

        def change(record: dict[str, Any]) -> None:
            if record[schedules.STATUS] == "Pending":
                record[schedules.STATUS] = "Scheduled"
            if runs:
                record["_last_run"] = runs[-1]
                record["_ran_once"] = True
        schedules.mark(self.services, name, change)
        return None if due is None else Requeue(at=schedules.wall(self.services, body, due))

    def _timing(self, body: dict[str, Any]) -> Schedule:
        try:
            return schedules.timing(body, schedules.job_spec(self.services, body))
        except AwsError:  # its job definition is gone: runs still fall due (and fail, saying why)
            return schedules.timing(body)
