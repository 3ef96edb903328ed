"""The job controller: training and processing jobs.

A sync reads the job record and the job's containers (found by label) and does the next step:

  not started, no containers    launch: stage, start one container per host (at most
                                Settings.max_concurrent_jobs jobs run at once; the rest wait)
  containers, not in memory     adopt them (after a restart); if the emulator stopped while starting
                                them, a job none of whose containers ran is launched afresh, and one
                                with only some started fails
  started, containers gone      the job cannot be finished: Failed (Stopped if it was Stopping)
  running                       observe: stop on request or at MaxRuntimeInSeconds (SIGTERM, SIGKILL
                                120 s later), stop the peers of a failed host, continuous uploads
  every container exited        collect the outputs, write the final status, remove containers
  finished, leftovers           remove them (containers, network, scratch folder)

A container's log stream ending (it exited) syncs its job at once; deadlines are requeues at their
time. Nothing is ever launched twice: a job is launched only while it has no containers and was
never marked started.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from emulator.core import jobs
from emulator.core.jobs import KINDS, TERMINAL
from emulator.core.services import Services
from emulator.runtime.contracts import CONTRACTS
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key
from emulator.runtime.runner import JobRun, clean_up, host_count
from emulator.runtime.staging import PlantedLink, StagingError
from emulator.runtime.supervisor import LABEL, JobFailure, Runtime

log = logging.getLogger(__name__)

QUEUED_RETRY_SECONDS = 1.0    # a job waiting for a free slot looks again this often


def failure_reason(failure: JobFailure | StagingError) -> str:
    if isinstance(failure, JobFailure):
        return str(failure)
    if isinstance(failure, PlantedLink):  # the job's own doing, as a script that deletes its outputs
        return f"AlgorithmError: {failure}"
    return f"ClientError: {failure}"


class JobController(Controller):
    kinds = tuple(CONTRACTS)
    workers = 4

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.runtime = Runtime(services)
        services.image_checks.append(self.runtime.unavailable_image_reason)
        self.runs: dict[Key, JobRun] = {}

    def keys(self) -> Iterable[Key]:
        keys = {(kind.kind, job[kind.name_field]) for kind, job in jobs.active_jobs(self.services)}
        try:
            containers = self.runtime.containers()  # finished jobs' leftovers too
        except Exception as exc:  # noqa: BLE001 - no engine now: the unfinished jobs are still listed
            log.warning("cannot list containers: %s", exc)
            containers = []
        for container in containers:
            kind, name = container.labels.get(f"{LABEL}.kind"), container.labels.get(f"{LABEL}.job")
            if kind in KINDS and name:
                keys.add((kind, name))
        if not self.runtime.keep_job_dirs:
            for kind, contract in CONTRACTS.items():
                folder = self.services.settings.jobs_dir / contract.SCRATCH
                if folder.is_dir():
                    keys |= {(kind, path.name) for path in folder.iterdir()}
        if keys:  # jobs of an earlier run may hold the jobs network: give it back at shutdown
            self.runtime.jobs_network_used = True
        return keys

    def reset(self) -> None:
        self.runs.clear()
        self.runtime.remove_all()

    def shutdown(self) -> None:
        self.runtime.shutdown()

    def give_up(self, key: Key, error: Exception) -> None:
        kind = KINDS[key[0]]
        run = self.runs.pop(key, None)
        jobs.finish_job(self.services, kind, key[1], "Failed", failure_reason=(
            f"InternalServerError: the emulator could not run the job: {type(error).__name__}: {error}"),
            final_metrics=run.metrics.final() if run else None)
        if run is not None:
            run.cleanup()

    # --- the sync -------------------------------------------------------------------------------------
    def sync(self, key: Key) -> Requeue | None:
        kind, contract = KINDS[key[0]], CONTRACTS[key[0]]
        job = jobs.get_job(self.services, kind, key[1])
        if job is None:
            self._clean_up(key)
            return None
        key = (kind.kind, job[kind.name_field])
        status = job[kind.status_field]
        if status in TERMINAL:
            self._clean_up(key)
            return None
        containers = self.runtime.containers(kind.kind, key[1])
        run = self.runs.get(key)
        try:
            if run is None:
                run = self._begin(key, contract, job, containers)
                if run is None or isinstance(run, Requeue):
                    return run
                if run.launched:
                    containers = run.started_states()
            now = self.now()
            if status == "Stopping":
                run.stop("Stopped", now)
            seen = run.observe(containers, now)
            if seen.finished:
                run.complete(seen.codes)
        except (JobFailure, StagingError) as failure:
            reason = failure_reason(failure)
            run = run if isinstance(run, JobRun) else self.runs.get(key)
            if run is not None:
                run.fail(reason)
            else:
                jobs.finish_job(self.services, kind, key[1], "Failed", failure_reason=reason)
            self._clean_up(key)
            return None
        if seen.finished:
            self._clean_up(key)
            return None
        return Requeue(at=seen.wake_at) if seen.wake_at is not None else None

    def _begin(self, key: Key, contract, job: dict, containers: list) -> JobRun | Requeue | None:
        """A job this emulator is not running yet: adopt its containers, launch it, or end it."""
        kind = contract.KIND
        status = job[kind.status_field]
        if containers and not jobs.started(kind, job):
            # The emulator stopped while it was starting them. If none ran, nothing happened yet: launch
            # afresh. If only some did, the cluster cannot be completed.
            ran = [c for c in containers if c.started]
            if len(ran) < host_count(contract, job):
                for c in containers:
                    self.runtime.backend.remove(c.id)
                if ran:
                    raise JobFailure("InternalServerError: the emulator stopped while it was starting the job's "
                                     "containers.")
                containers = []
        if containers:
            run = JobRun(self.runtime, contract, job, wake=lambda: self.enqueue(key))
            log.info("adopting %s %s (%d containers)", kind.kind, key[1], len(containers))
            # Their AWS_ENDPOINT_URL names the forwarder the previous run of the emulator started:
            # bring it back up (on the same port) before they need it, or they lose the emulator.
            self.runtime.container_endpoint()
            run.adopt(containers)
            self.runs[key] = run
            if not jobs.started(kind, job):  # every container had started: only the record lagged
                jobs.mark_started(self.services, kind, key[1])
            return run
        if jobs.started(kind, job):
            if status == "Stopping":
                jobs.finish_job(self.services, kind, key[1], "Stopped")
            else:
                jobs.finish_job(self.services, kind, key[1], "Failed", failure_reason=(
                    "InternalServerError: the emulator restarted and the job's containers no longer exist."))
            self._clean_up(key)
            return None
        if status == "Stopping":
            jobs.finish_job(self.services, kind, key[1], "Stopped")
            return None
        if len(self.runs) >= self.services.settings.max_concurrent_jobs:
            return Requeue(after=QUEUED_RETRY_SECONDS)
        run = self.runs[key] = JobRun(self.runtime, contract, job, wake=lambda: self.enqueue(key))
        try:
            launched = run.launch(lambda: self._stopping(key))
        except (JobFailure, StagingError):
            raise
        except Exception as exc:
            log.exception("job %s could not be launched", key[1])
            raise JobFailure(f"InternalServerError: the emulator could not run the job: {type(exc).__name__}: "
                             f"{exc}") from exc
        if not launched:
            jobs.finish_job(self.services, kind, key[1], "Stopped")
            self._clean_up(key)
            return None
        return run

    def _stopping(self, key: Key) -> bool:
        job = jobs.get_job(self.services, KINDS[key[0]], key[1])
        return job is None or job[KINDS[key[0]].status_field] != "InProgress"

    def _clean_up(self, key: Key) -> None:
        """Remove what a finished (or vanished) job left: its containers, network and scratch folder."""
        run = self.runs.pop(key, None)
        if run is not None:
            run.cleanup()
        else:
            clean_up(self.runtime, CONTRACTS[key[0]], key[1])
