"""One training, processing or transform job's containers: staged, started, watched, collected.

A JobRun carries out its kind's container contract (emulator.runtime.contracts): it stages every
host's /opt/ml from the contract's plan and starts one container per host (`launch`), or, after an
emulator restart, adopts the containers it finds by label (`adopt`). The job controller then calls
`observe` on each sync -- it never blocks: it stops hosts, escalates to SIGKILL after the grace
period, uploads continuous outputs, and says when to look again -- and `complete` once every
container has exited. Every status change goes through emulator.core.jobs.

A kind whose containers serve (batch transform) is driven once they are up (`batch`, a
emulator.runtime.batch.driver.TransformRun started by `launch` or, after a restart, `adopt`); when the
driving ends its containers are stopped, and the driver's result is the job's outcome.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from emulator.core import arns, experiments, jobs
from emulator.core.cloudwatch import sagemaker as cloudwatch
from emulator.runtime import staging
from emulator.runtime.backend import ContainerSpec, ContainerState, Mount
from emulator.runtime.batch.driver import Host as DriverHost
from emulator.runtime.contracts import serving
from emulator.runtime.contracts.plan import OPT_ML, HostPlan, Input, Upload
from emulator.runtime.images.catalogue import version_note
from emulator.runtime.instance_types import limits_for
from emulator.runtime.logpump import MetricSeries, follow, rescan
from emulator.runtime.staging import StagingError
from emulator.runtime.supervisor import LABEL, JobFailure, Runtime

log = logging.getLogger(__name__)

CONTINUOUS_UPLOAD_SECONDS = 2.0
STOP_TIMEOUT_SECONDS = 120   # SIGTERM, then SIGKILL after 120 s, as StopTrainingJob documents
PEER_STOP_SECONDS = 10       # when one host fails, its peers get this long to exit
LOG_TAIL_SECONDS = 10        # after the containers exit, how long their last lines may take to arrive


@dataclass
class Host:
    index: int
    name: str
    root: Path              # per-host scratch dir
    ml: Path                # mounted at /opt/ml
    mounts: list[Mount] = field(default_factory=list)
    container_id: str | None = None
    stream: str | None = None
    follower: threading.Thread | None = None
    kill_at: float | None = None     # SIGKILL then, if still running


def host_count(contract: ModuleType, job: dict[str, Any]) -> int:
    return int(contract.resources(job).get("InstanceCount", 1))


def network_name(runtime: Runtime, kind: jobs.JobKind, name: str) -> str:
    """The private network of a multi-host job."""
    return f"{runtime.container_prefix}-{kind.prefix.lower()}-{name}"[:200]


def clean_up(runtime: Runtime, contract: ModuleType, name: str) -> None:
    """Remove what a job no longer run here left behind: containers (found by label), network, scratch."""
    containers = runtime.containers(contract.KIND.kind, name)
    scratch = runtime.services.settings.jobs_dir / contract.SCRATCH / name
    if not containers and not scratch.exists():
        return
    for container in containers:
        runtime.backend.remove(container.id)
    runtime.backend.remove_network(network_name(runtime, contract.KIND, name))
    if not runtime.keep_job_dirs:
        runtime.remove_scratch(scratch)


def _exit_code(state: ContainerState | None) -> int:
    if state is None:
        return 137  # removed while it was being stopped
    return 0 if state.running else state.exit_code or 0


@dataclass
class Observation:
    finished: bool
    codes: list[int] = field(default_factory=list)
    wake_at: float | None = None


class JobRun:
    def __init__(self, runtime: Runtime, contract: ModuleType, job: dict[str, Any],
                 wake: Callable[[], None]) -> None:
        self.rt = runtime
        self.services = runtime.services
        self.contract = contract
        self.kind: jobs.JobKind = contract.KIND
        self.job = job
        self.name = job[self.kind.name_field]
        self.wake = wake                  # sync the job again (a container's output ended)
        self.hosts: list[Host] = []
        self.network: str | None = None
        self.stop_reason: str | None = None
        self.launched = False             # by this run (not adopted)
        self.first_failed: Host | None = None
        self.next_upload = 0.0
        self.batch = None                 # a serving kind's driving (TransformRun)
        self.scratch = self.services.settings.jobs_dir / contract.SCRATCH / self.name
        self.image_uri = contract.image_uri(job)
        defs = contract.metric_definitions(job)
        self.metrics = MetricSeries(defs + self.rt.builtin_metric_definitions(self.image_uri, defs))

    @property
    def host_count(self) -> int:
        return host_count(self.contract, self.job)

    @property
    def isolated(self) -> bool:
        return self.contract.isolated(self.job)

    @property
    def deadline(self) -> float | None:
        seconds = self.job.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        return self.job["CreationTime"] + seconds if seconds else None

    # --- starting -----------------------------------------------------------------------------------
    def launch(self, stopping: Callable[[], bool]) -> bool:
        """Stage every host and start its container; False when a Stop came first (nothing started)."""
        count = self.host_count
        jobs.mark_downloading(self.services, self.kind, self.name)
        image = self.rt.resolve_image(
            self.image_uri, self.name, lambda message: jobs.set_status_message(self.services, self.kind, self.name, message))
        if stopping():
            return False
        shutil.rmtree(self.scratch, ignore_errors=True)
        names = [f"algo-{i}" for i in range(1, count + 1)]
        for index, host_name in enumerate(names):
            root = self.scratch / host_name
            host = Host(index, host_name, root, root / "ml")
            host.ml.mkdir(parents=True, exist_ok=True)
            host.mounts.append(Mount(str(host.ml), "/opt/ml"))
            self._stage(host, self.contract.staging_plan(self.job, host_name, names), count)
            self.hosts.append(host)
        if stopping():
            return False
        if count > 1:
            self.network = self._network_name()
            self.rt.create_job_network(self.network, internal=self.isolated)
        limits = limits_for(self.contract.resources(self.job).get("InstanceType", ""))
        entrypoint, command = self.contract.command(self.job)
        environment = self._environment()
        note = version_note(self.image_uri)  # a framework version that runs on another one here
        epoch = int(time.time())
        for host in self.hosts:
            host.stream = f"{self.name}/{host.name}-{epoch}"
            spec = ContainerSpec(
                name=f"{self.rt.container_prefix}-{self.kind.prefix.lower()}-{self.name}-{host.name}",
                image=image, hostname=host.name, environment=environment,
                labels={**self.rt.job_labels(self.kind.kind, self.name), f"{LABEL}.host": host.name,
                        f"{LABEL}.stream": host.stream},
                mounts=host.mounts, network=self._network(),
                # A serving container is reached over the network even when isolated (from S3 and the rest).
                network_disabled=self.isolated and count == 1 and not self.serves,
                cpus=limits.vcpus, memory_bytes=limits.memory_bytes, aliases=[host.name] if self.network else [],
                entrypoint=entrypoint, command=command)
            self.rt.backend.remove(spec.name)  # a leftover from a crashed earlier run of this name
            host.container_id = self.rt.backend.start(spec)
            self._follow(host)
            if note:
                self.rt.logs.line(self.kind.log_group, host.stream, time.time(), note)
        self.launched = True
        jobs.mark_started(self.services, self.kind, self.name)
        self._drive()
        return True

    @property
    def serves(self) -> bool:
        return getattr(self.contract, "serves", False)

    def _drive(self) -> None:
        """A serving kind's containers are up: start feeding them (from the start, after a restart too)."""
        if not self.serves:
            return
        hosts = [DriverHost(h.name, (self.rt.backend.address(h.container_id) or "127.0.0.1", serving.PORT),
                            h.stream or f"{self.name}/{h.name}") for h in self.hosts]
        self.batch = self.rt.transforms.start(self.job, hosts, self.wake)

    def adopt(self, containers: list[ContainerState]) -> None:
        """After a restart: take over the containers found by label, and follow their output from the
        last line stored (the lines stored before are scanned again for metrics)."""
        for state in sorted(containers, key=lambda c: c.labels.get(f"{LABEL}.host", "")):
            host_name = state.labels.get(f"{LABEL}.host", "algo-1")
            root = self.scratch / host_name
            host = Host(int(host_name.split("-")[-1]) - 1, host_name, root, root / "ml",
                        container_id=state.id, stream=state.labels.get(f"{LABEL}.stream"))
            self.hosts.append(host)
            self._follow(host, since=rescan(self.services, self.kind.log_group, host.stream, self.metrics))
        if len(self.hosts) > 1:
            self.network = self._network_name()
        self._drive()

    def _network_name(self) -> str:
        return network_name(self.rt, self.kind, self.name)

    def _network(self) -> str | None:
        """Multi-host jobs get a private network of their own (internal when isolated) where algo-N
        resolve; single-host jobs join the emulator's jobs network (never the default bridge), or none
        at all when isolated -- but for a serving kind, whose containers the emulator calls over the jobs
        network. The endpoint forwarder admits the emulator's non-internal networks only."""
        if self.network or (self.isolated and not self.serves):
            return self.network
        return self.rt.serving_network if self.serves else self.rt.jobs_network

    def _follow(self, host: Host, since: float | None = None) -> None:
        host.follower = follow(self.rt.backend, host.container_id, self.rt.logs, self.kind.log_group, host.stream,
                               self.metrics, since=since, on_end=self.wake)

    # --- watching ---------------------------------------------------------------------------------------
    def stop(self, reason: str, now: float, grace: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM every container now, SIGKILL after `grace` (kept by `observe`)."""
        if self.stop_reason:
            return
        self.stop_reason = reason
        if self.batch is not None:
            self.batch.cancel()
        for host in self.hosts:
            self._terminate(host, now + grace)

    def _terminate(self, host: Host, kill_at: float) -> None:
        if host.container_id and (host.kill_at is None or kill_at < host.kill_at):
            host.kill_at = kill_at
            self.rt.backend.kill(host.container_id, "SIGTERM")

    def observe(self, containers: list[ContainerState], now: float) -> Observation:
        """Act on what the containers are doing; `finished` once every one has exited."""
        by_id = {c.id: c for c in containers}
        vanished = [h for h in self.hosts if h.container_id not in by_id]
        if vanished and not self.stop_reason:
            raise JobFailure("InternalServerError: the job's containers were removed while it ran.")
        running = [h for h in self.hosts if h.container_id in by_id and by_id[h.container_id].running]
        codes = [_exit_code(by_id.get(h.container_id)) for h in self.hosts]
        if not self.stop_reason:
            for host, code in zip(self.hosts, codes):
                if code != 0 and self.first_failed is None:
                    # AWS fails the whole job when one host fails: stop the others.
                    self.first_failed = host
                    for other in running:
                        self._terminate(other, now + PEER_STOP_SECONDS)
            if self.deadline is not None and now >= self.deadline and running:
                self.stop("MaxRuntimeExceeded", now)
                jobs.update_job(self.services, self.kind, self.name,
                                lambda b: b.update({self.kind.status_field: "Stopping"})
                                if b[self.kind.status_field] == "InProgress" else None)
        if self.batch is not None and not self.stop_reason:
            wake_at = self._observe_batch(running, codes, now)
            if wake_at is not None:
                return Observation(False, codes, wake_at)
        for host in running:
            if host.kill_at is not None and now >= host.kill_at:
                self.rt.backend.kill(host.container_id)
            elif host.follower is not None and not host.follower.is_alive():
                self._follow(host, since=self._last_event_time(host))  # the log stream broke off early
        if not running:
            self._await_logs()
            return Observation(True, codes)
        wake = [h.kill_at for h in running if h.kill_at is not None]
        if self.deadline is not None and not self.stop_reason:
            wake.append(self.deadline)
        if self.contract.continuous_outputs(self.job):
            if now >= self.next_upload:
                self._upload_continuous()
                self.next_upload = now + CONTINUOUS_UPLOAD_SECONDS
            wake.append(self.next_upload)
        return Observation(False, codes, min(wake) if wake else None)

    def _observe_batch(self, running: list[Host], codes: list[int], now: float) -> float | None:
        """A serving kind: its containers are stopped once the driving ends; a container that exits before
        that fails the job. None: go on observing the containers (they are being stopped)."""
        if not self.batch.done:
            if len(running) == len(self.hosts):
                return now + 30.0   # the driver wakes the job when it ends; this is only a safety net
            code = next((c for c in codes if c != 0), 0)
            self.batch.failure = self.batch.failure or (
                f"AlgorithmError: the model server exited (exit code {code}) before the transform finished. "
                "See job logs for more information")
            self.batch.cancel()
        for host in running:
            if host.kill_at is None:
                self._terminate(host, now + PEER_STOP_SECONDS)
        return None

    def _await_logs(self) -> None:
        """The log streams end with their containers: wait for the last lines (and final metrics)."""
        deadline = time.monotonic() + LOG_TAIL_SECONDS
        for host in self.hosts:
            if host.follower is not None:
                host.follower.join(max(0.0, deadline - time.monotonic()))
        self.rt.logs.flush()

    def _last_event_time(self, host: Host) -> float | None:
        for s in self.services.logs.streams(self.kind.log_group, host.stream or ""):
            if s["name"] == host.stream and s["last_event"]:
                return s["last_event"] / 1000 + 0.001
        return None

    def _upload_continuous(self) -> None:
        """S3UploadMode=Continuous: upload what the job has written so far."""
        for container_path, uri in self.contract.continuous_outputs(self.job):
            for host in self.hosts:
                try:
                    staging.upload_tree(self.services, host.ml, container_path, uri, copy=True)
                except Exception:
                    log.debug("continuous upload failed", exc_info=True)

    # --- finishing ----------------------------------------------------------------------------------
    def complete(self, codes: list[int]) -> None:
        texts = {name: self._read_first(name, self._failure_order(codes)) for name in self.contract.result_files}
        if self.batch is not None:
            texts["driver"] = self.batch.failure or ""
        outcome = self.contract.outcome(self.job, codes, self.stop_reason, texts)
        self._record_metric_series()
        if outcome.uploading:
            jobs.mark_uploading(self.services, self.kind, self.name)
        for upload in outcome.uploads:
            self._collect(upload)
        jobs.finish_job(self.services, self.kind, self.name, outcome.status, failure_reason=outcome.failure_reason,
                        exit_message=outcome.exit_message, secondary=outcome.secondary,
                        final_metrics=self.metrics.final())
        self._publish_cloudwatch_metrics(outcome.status)

    def fail(self, reason: str) -> None:
        jobs.finish_job(self.services, self.kind, self.name, "Failed", failure_reason=reason,
                        final_metrics=self.metrics.final())

    def _failure_order(self, codes: list[int]) -> list[Host]:
        # The first host that failed holds the cause; its peers only report the broken collective.
        first = [self.first_failed] if self.first_failed else []
        failed = [h for h, c in zip(self.hosts, codes) if c != 0 and h is not self.first_failed]
        return first + failed + [h for h, c in zip(self.hosts, codes) if c == 0]

    def _read_first(self, name: str, hosts: list[Host]) -> str | None:
        for host in hosts:
            text = staging.read_text(host.ml, OPT_ML + name)
            if text:
                return text
        return None

    def _record_metric_series(self) -> None:
        """Every metric point, not just the final values, into the job's trial component (AWS keeps
        the time series of jobs created with an ExperimentConfig)."""
        if not self.job.get("ExperimentConfig") or not self.metrics.points:
            return
        points = [{"MetricName": name, "Value": value, "Timestamp": stamp, "Step": step}
                  for name, series in self.metrics.points.items()
                  for step, (stamp, value) in enumerate(series)]
        try:
            experiments.record_job_metrics(self.services, self.kind.kind, self.name, points)
        except Exception:
            log.exception("could not record the metric series of %s", self.name)

    def _publish_cloudwatch_metrics(self, status: str) -> None:
        """What the platform sends CloudWatch once the job is over (core/cloudwatch/sagemaker.py): a
        training job's metric definitions over its stored log, a completed monitoring job's metric file."""
        try:
            if self.kind is jobs.TRAINING:
                cloudwatch.publish_training_metrics(self.services, self.name, self.metrics.definitions)
            elif status == "Completed":
                lines = [line for host in self.hosts for line in _metric_file_lines(host.ml)]
                if lines:
                    cloudwatch.publish_monitoring_metrics(self.services, self.job, lines)
        except Exception:
            log.exception("could not publish the CloudWatch metrics of %s", self.name)

    def _collect(self, upload: Upload) -> None:
        if upload.archive:
            self._upload_archive(upload)
        else:
            for host in self.hosts:
                staging.upload_tree(self.services, host.ml, upload.container_path, upload.uri)

    def _upload_archive(self, upload: Upload) -> None:
        if upload.if_any and not any(staging.has_files(h.ml, upload.container_path) for h in self.hosts):
            return
        archive = self.scratch / f".{upload.uri.rsplit('/', 1)[-1]}"
        staging.tar_directories([(h.ml, upload.container_path) for h in self.hosts], archive)
        staging.upload_file(self.services, archive, upload.uri, content_type="application/x-tar")

    def cleanup(self) -> None:
        if self.batch is not None and not self.batch.done:
            self.batch.cancel()
        for host in self.hosts:
            if host.container_id:
                self.rt.backend.remove(host.container_id)
        if self.network:
            self.rt.backend.remove_network(self.network)
        if not self.rt.keep_job_dirs:
            self.rt.remove_scratch(self.scratch)

    def started_states(self) -> list[ContainerState]:
        """The containers `launch` just started, as running (an exit ends its log stream and wakes the job)."""
        return [ContainerState(h.container_id, {}, True, None) for h in self.hosts if h.container_id]

    # --- staging ------------------------------------------------------------------------------
    def _stage(self, host: Host, plan: HostPlan, count: int) -> None:
        for container_path, content in plan.files.items():
            staging.write_json(staging.host_path(host.ml, container_path), content)
        if plan.model is not None:
            if plan.model.kind == "archive":
                staging.extract_model(self.services, plan.model.uri, host.ml / "model")
            else:
                staging.copy_model_prefix(self.services, plan.model.uri, host.ml / "model")
        for item in plan.inputs:
            self._mount_input(host, self._source(item, host, count), item.container_path, item.tag)
        if plan.checkpoints:
            self._stage_checkpoints(host, plan.checkpoints.container_path, plan.checkpoints.uri)
        for container_path in plan.directories:
            staging.host_path(host.ml, container_path).mkdir(parents=True, exist_ok=True)

    def _mount_input(self, host: Host, objects_or_path, container_path: str, tag: str) -> None:
        if isinstance(objects_or_path, Path):  # file:// input: bind the host folder read-only
            host.mounts.append(Mount(str(objects_or_path), container_path, read_only=True))
            return
        inside = staging.host_path(host.ml, container_path)
        total = sum(info.size for _, info in objects_or_path)
        if total > staging.COPY_LIMIT_BYTES:
            staged = staging.materialise(self.services, objects_or_path, host.root / "links" / tag)
            inside.mkdir(parents=True, exist_ok=True)
            host.mounts.append(Mount(str(staged.host_dir), container_path, read_only=True))
        else:
            staging.materialise(self.services, objects_or_path, inside)

    def _source(self, item: Input, host: Host, count: int):
        if item.uri.startswith("file://"):
            settings = self.services.settings
            return staging.file_uri_path(item.uri, settings.file_roots, settings.engine_sockets)
        objects = staging.list_source_objects(self.services, item.uri, item.data_type)
        return staging.shard(objects, item.distribution, host.index, count)

    def _stage_checkpoints(self, host: Host, container_path: str, uri: str) -> None:
        """A job resuming from checkpoints finds them in place before it starts."""
        target = staging.host_path(host.ml, container_path)
        bucket, _ = staging.s3_location(uri)
        target.mkdir(parents=True, exist_ok=True)
        if self.services.objects.bucket_exists(bucket):
            try:
                existing = staging.list_source_objects(self.services, uri)
            except StagingError:
                existing = []
            staging.materialise(self.services, existing, target)

    # --- the container's view ------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = self.rt.container_environment(arns.region_of(self.job[self.kind.arn_field]), self.isolated)
        env.update(self.contract.environment(self.job))
        env.update(self.job.get("Environment") or {})
        return env


METRIC_FILE_LIMIT = 16 * 1024 * 1024


def _metric_file_lines(ml: Path) -> list[str]:
    """Lines of /opt/ml/output/metrics/cloudwatch/*.jsonl as the container left them: regular files
    inside the host's folder only (a planted link is not followed), at most METRIC_FILE_LIMIT bytes."""
    folder = ml / "output" / "metrics" / "cloudwatch"
    root = ml.resolve()
    if folder.is_symlink() or not folder.is_dir() or not folder.resolve().is_relative_to(root):
        return []
    lines: list[str] = []
    budget = METRIC_FILE_LIMIT
    for path in sorted(folder.glob("*.jsonl")):
        if path.is_symlink() or not path.is_file() or budget <= 0:
            continue
        with path.open("rb") as handle:
            data = handle.read(budget)
        budget -= len(data)
        lines += data.decode(errors="replace").splitlines()
    return lines

