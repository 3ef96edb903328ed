"""The job controller: starts runs for new jobs, stops them on request, and reconciles after a
restart (containers still running are re-attached; vanished ones fail the job with a reason), so no
job is ever left InProgress."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from emulator.core import jobs
from emulator.core.jobs import KINDS
from emulator.core.services import Services
from emulator.runtime.docker_backend import DockerBackend
from emulator.runtime.runner import LABEL, JobFailure, JobRun

log = logging.getLogger(__name__)

MAX_CONCURRENT_JOBS = int(os.environ.get("SAGEMAKER_EMULATOR_MAX_CONCURRENT_JOBS", "32"))


class Runtime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.backend = DockerBackend()
        # Containers are labelled with a hash of the data dir, so two emulators on one engine
        # never adopt each other's containers.
        self.instance_id = hashlib.sha1(str(services.settings.data_dir).encode()).hexdigest()[:10]
        self.container_prefix = f"smemu-{self.instance_id[:6]}"
        self.keep_job_dirs = os.environ.get("SAGEMAKER_EMULATOR_KEEP_JOB_DIRS", "") in ("1", "true")
        self.runs: dict[tuple[str, str], JobRun] = {}
        self._lock = threading.Lock()
        # Daemon threads, not an executor: an emulator shutting down must not wait for jobs (their
        # containers keep running and are re-attached on the next start).
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_JOBS)
        self._proxy = None
        self._endpoint: str | None = None
        self._endpoint_lock = threading.Lock()

    # --- events -------------------------------------------------------------------------------
    def on_job_event(self, event: str, kind_name: str, name: str) -> None:
        kind = KINDS.get(kind_name)
        if kind is None:
            return
        if event == "created":
            job = jobs.get_job(self.services, kind, name)
            if job is not None:
                self._submit(JobRun(self, kind, job))
        elif event == "stop":
            with self._lock:
                run = self.runs.get((kind.kind, name))
            if run is not None:
                run.stop()
            else:
                jobs.finish_job(self.services, kind, name, "Stopped")

    def _submit(self, run: JobRun, attach: list | None = None) -> None:
        key = (run.kind.kind, run.name)
        with self._lock:
            self.runs[key] = run

        def go() -> None:
            with self._slots:
                try:
                    run.run(attach)
                finally:
                    with self._lock:
                        self.runs.pop(key, None)
        threading.Thread(target=go, name=f"job-{run.name}", daemon=True).start()

    # --- restart reconciliation -----------------------------------------------------------------
    def reconcile(self) -> None:
        active = jobs.active_jobs(self.services)
        if not active:
            return
        try:
            containers = self.backend.find({LABEL: self.instance_id})
        except Exception as exc:  # no engine: nothing can be re-attached
            containers = []
            log.warning("cannot list containers while reconciling: %s", exc)
        for kind, job in active:
            name = job[kind.name_field]
            mine = [c for c in containers if c.labels.get(f"{LABEL}.kind") == kind.kind
                    and c.labels.get(f"{LABEL}.job") == name]
            run = JobRun(self, kind, job)
            if job[kind.status_field] == "Stopping":
                run.stop_reason = "Stopped"
            if mine:
                log.info("re-attaching %s %s (%d containers)", kind.kind, name, len(mine))
                self._submit(run, attach=mine)
                if run.stop_reason:
                    for c in mine:
                        threading.Thread(target=self.backend.stop, args=(c.id, 120), daemon=True).start()
            elif job[kind.status_field] == "Stopping":
                jobs.finish_job(self.services, kind, name, "Stopped")
            elif kind.kind == "TrainingJob" and job.get("SecondaryStatus") == "Starting":
                # Recorded but never launched (the emulator stopped right after Create): launch now.
                self._submit(run)
            else:
                jobs.finish_job(self.services, kind, name, "Failed", failure_reason=(
                    "InternalServerError: the emulator restarted and the job's containers no longer exist."))

    # --- images and the endpoint containers use --------------------------------------------------
    def resolve_image(self, uri: str, job_name: str) -> str:
        from emulator.runtime import images
        from emulator.runtime.docker_backend import client
        try:
            return images.image_for_uri(uri, client(), lambda line: log.info("[%s] %s", job_name, line))
        except images.ImageUnavailableError as exc:
            raise JobFailure(f"ClientError: {exc}") from exc
        except images.ImageBuildError as exc:
            raise JobFailure(f"InternalServerError: building the local image for {uri} failed: {exc}") from exc

    def unavailable_image_reason(self, image_uri: str) -> str | None:
        """Why a SageMaker image cannot run here, when it is one the emulator does not provide."""
        from docker.errors import DockerException

        from emulator.runtime.docker_backend import client
        from emulator.runtime.images import resolve_image_uri
        try:
            resolved = resolve_image_uri(image_uri, client())
        except (DockerException, OSError):  # no engine answering: judge by the URI alone
            resolved = resolve_image_uri(image_uri, None)
        return resolved.failure_reason if resolved is not None else None

    def builtin_metric_definitions(self, image_uri: str, user_defs: list[dict]) -> list[dict]:
        """Built-in algorithms' platform metric definitions (filled in even when the request has none)."""
        from emulator.runtime.builtin_metrics import builtin_metric_definitions
        names = {d["Name"] for d in user_defs}
        return [d for d in builtin_metric_definitions(image_uri) if d["Name"] not in names]

    def container_endpoint(self) -> str | None:
        """AWS_ENDPOINT_URL for containers: a forwarder on the Docker bridge gateway."""
        settings = self.services.settings
        if settings.container_endpoint:
            return settings.container_endpoint
        with self._endpoint_lock:
            if self._endpoint is None:
                gateway = self.backend.gateway_ip()
                if gateway is None:
                    return None
                if settings.host in ("0.0.0.0", "::", gateway):
                    self._endpoint = f"{settings.scheme}://{gateway}:{settings.port}"
                else:
                    from emulator.runtime.endpoint_proxy import EndpointProxy
                    self._proxy = EndpointProxy(gateway, settings.host, settings.port)
                    port = self._proxy.start(settings.port)
                    self._endpoint = f"{settings.scheme}://{gateway}:{port}"
            return self._endpoint

    # --- housekeeping -----------------------------------------------------------------------------
    def remove_scratch(self, path: Path) -> None:
        if not path.exists():
            return
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() and os.geteuid() != 0:
            # Files written by root inside containers: remove them from a container, so nothing
            # root-owned is left behind in the user's data dir.
            subprocess.run(["docker", "run", "--rm", "-v", f"{path.parent}:/scratch", "--entrypoint", "rm",
                            self._any_image(), "-rf", f"/scratch/{path.name}"], capture_output=True)

    def _any_image(self) -> str:
        from emulator.runtime import images
        return images.ensure_image("base", None)

    def stop_all(self, wait: bool = True) -> None:
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.stop()
        for c in self.backend.find({LABEL: self.instance_id}):
            self.backend.remove(c.id)
        for net in self.backend.find_networks({LABEL: self.instance_id}):
            self.backend.remove_network(net)

    def shutdown(self) -> None:
        # Containers keep running across an emulator restart (reconcile re-attaches them).
        if self._proxy is not None:
            self._proxy.stop()


def start_supervisor(services: Services) -> Runtime:
    runtime = Runtime(services)
    services.runtime = runtime
    services.job_listeners.append(runtime.on_job_event)
    services.reset_hooks.append(runtime.stop_all)
    services.shutdown_hooks.append(runtime.shutdown)
    threading.Thread(target=runtime.reconcile, name="reconcile", daemon=True).start()
    return runtime
