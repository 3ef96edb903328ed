"""Runs one training or processing job: stage, start one container per host, follow, finish.

A run either launches the job's containers or, after an emulator restart, re-attaches to the
containers it finds by label. Every status change goes through emulator.core.jobs.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.core import jobs
from emulator.core.jobs import PROCESSING, TRAINING, JobKind
from emulator.runtime import staging
from emulator.runtime.backend import ContainerSpec, Mount
from emulator.runtime.images import version_note
from emulator.runtime.instance_types import limits_for
from emulator.runtime.logpump import LogPump, MetricSeries
from emulator.runtime.staging import StagingError

if TYPE_CHECKING:
    from emulator.runtime.supervisor import Runtime

log = logging.getLogger(__name__)

CONTINUOUS_UPLOAD_SECONDS = 2.0
STOP_TIMEOUT_SECONDS = 120  # SIGTERM, then SIGKILL after 120 s, as StopTrainingJob documents
LABEL = "sagemaker-emulator"
# Failure-file texts reported as they are rather than as AlgorithmError: built-in algorithms report
# client mistakes as `ClientError: ...` as AWS's do; the others let a container simulate platform
# failures (which pipeline retry policies match).
SIMULATED_PLATFORM_ERRORS = ("ClientError:", "CapacityError:", "InternalServerError:")


class JobFailure(Exception):
    """Ends a job as Failed with this FailureReason."""


@dataclass
class Host:
    index: int
    name: str
    root: Path              # per-host scratch dir
    ml: Path                # mounted at /opt/ml
    mounts: list[Mount]
    container_id: str | None = None
    stream: str | None = None


class JobRun:
    def __init__(self, runtime: Runtime, kind: JobKind, job: dict[str, Any]) -> None:
        self.rt = runtime
        self.services = runtime.services
        self.kind = kind
        self.job = job
        self.name = job[kind.name_field]
        self.stop_reason: str | None = None
        self._stop_lock = threading.Lock()
        self.hosts: list[Host] = []
        self.followers: list[threading.Thread] = []
        self.first_failed: Host | None = None
        self.network: str | None = None
        self.scratch = self.services.settings.jobs_dir / ("training" if kind is TRAINING else "processing") / self.name
        spec = job["AlgorithmSpecification"] if kind is TRAINING else job["AppSpecification"]
        self.image_uri = spec.get("TrainingImage") or spec.get("ImageUri") or ""
        metric_defs = spec.get("MetricDefinitions", []) if kind is TRAINING else []
        self.metrics = MetricSeries(metric_defs + self.rt.builtin_metric_definitions(self.image_uri, metric_defs))
        self.pump = LogPump(self.services, kind.log_group, self.metrics)

    # --- configuration that differs per kind ----------------------------------------------
    @property
    def resources(self) -> dict[str, Any]:
        if self.kind is TRAINING:
            return self.job["ResourceConfig"]
        return self.job["ProcessingResources"]["ClusterConfig"]

    @property
    def isolated(self) -> bool:
        if self.kind is TRAINING:
            return bool(self.job.get("EnableNetworkIsolation"))
        return bool(self.job.get("NetworkConfig", {}).get("EnableNetworkIsolation"))

    @property
    def max_runtime(self) -> int | None:
        return self.job.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")

    # --- the run ------------------------------------------------------------------------------
    def run(self, attach: list | None = None) -> None:
        try:
            if attach:
                self._reattach(attach)
            else:
                self._launch()
            codes = self._wait()
            self._complete(codes)
        except JobFailure as failure:
            self._fail(str(failure))
        except StagingError as err:
            self._fail(f"ClientError: {err}")
        except Exception as exc:  # noqa: BLE001 - never leave a job InProgress
            log.exception("job %s crashed in the runtime", self.name)
            self._fail(f"InternalServerError: the emulator could not run the job: {type(exc).__name__}: {exc}")
        finally:
            self.pump.close()
            self._cleanup()

    def _launch(self) -> None:
        count = int(self.resources.get("InstanceCount", 1))
        if self.kind is TRAINING:
            jobs.set_secondary_status(self.services, self.name, "Downloading")
        image = self.rt.resolve_image(self.image_uri, self.name)
        if self.stop_reason:
            return
        shutil.rmtree(self.scratch, ignore_errors=True)
        names = [f"algo-{i}" for i in range(1, count + 1)]
        for index, host_name in enumerate(names):
            root = self.scratch / host_name
            ml = root / "ml"
            ml.mkdir(parents=True, exist_ok=True)
            host = Host(index, host_name, root, ml, [Mount(str(ml), "/opt/ml")])
            if self.kind is TRAINING:
                self._stage_training(host, names)
            else:
                self._stage_processing(host, names)
            self.hosts.append(host)
        if self.stop_reason:
            return
        if count > 1:
            self.network = f"{self.rt.container_prefix}-{self.kind.prefix.lower()}-{self.name}"[:200]
            self.rt.backend.remove_network(self.network)
            self.rt.backend.create_network(self.network, internal=self.isolated,
                                           labels={LABEL: self.rt.instance_id})
        limits = limits_for(self.resources.get("InstanceType", ""))
        note = version_note(self.image_uri)  # a framework version that runs on another one here
        epoch = int(time.time())
        for host in self.hosts:
            host.stream = f"{self.name}/{host.name}-{epoch}"
            spec = ContainerSpec(
                name=f"{self.rt.container_prefix}-{self.kind.prefix.lower()}-{self.name}-{host.name}",
                image=image, hostname=host.name, environment=self._environment(host),
                labels={LABEL: self.rt.instance_id, f"{LABEL}.kind": self.kind.kind,
                        f"{LABEL}.job": self.name, f"{LABEL}.host": host.name, f"{LABEL}.stream": host.stream},
                mounts=host.mounts, network=self.network, network_disabled=self.isolated and count == 1,
                cpus=limits.vcpus, memory_bytes=limits.memory_bytes, aliases=[host.name],
                **self._command())
            self.rt.backend.remove(spec.name)  # a leftover from a crashed earlier run of this name
            host.container_id = self.rt.backend.start(spec)
            self.followers.append(self.pump.follow(self.rt.backend, host.container_id, host.stream))
            if note:
                self.pump.line(host.stream, time.time(), note)
        jobs.mark_started(self.services, self.kind, self.name)

    def _reattach(self, containers: list) -> None:
        """After a restart: adopt the containers we find, and follow their logs from where we were."""
        for state in sorted(containers, key=lambda c: c.labels.get(f"{LABEL}.host", "")):
            host_name = state.labels.get(f"{LABEL}.host", "algo-1")
            root = self.scratch / host_name
            host = Host(int(host_name.split("-")[-1]) - 1, host_name, root, root / "ml", [],
                        container_id=state.id, stream=state.labels.get(f"{LABEL}.stream"))
            self.hosts.append(host)
            last = self._last_event_time(host.stream)
            self.followers.append(self.pump.follow(self.rt.backend, state.id, host.stream, since=last))
        if len(self.hosts) > 1:
            self.network = f"{self.rt.container_prefix}-{self.kind.prefix.lower()}-{self.name}"[:200]

    def _last_event_time(self, stream: str | None) -> float | None:
        if not stream:
            return None
        for s in self.services.logs.streams(self.kind.log_group, stream):
            if s["name"] == stream and s["last_event"]:
                return s["last_event"] / 1000 + 0.001
        return None

    def _wait(self) -> list[int]:
        if self.stop_reason or not self.hosts:
            return [0 for _ in self.hosts]
        timer = None
        if self.max_runtime:
            elapsed = time.time() - self.job["CreationTime"]
            timer = threading.Timer(max(0.0, self.max_runtime - elapsed), self.stop, args=("MaxRuntimeExceeded",))
            timer.daemon = True
            timer.start()
        codes: list[int] = [0] * len(self.hosts)
        finished = threading.Event()
        if self._continuous_outputs():
            threading.Thread(target=self._sync_continuous, args=(finished,), daemon=True).start()

        def wait_one(i: int, host: Host) -> None:
            codes[i] = self.rt.backend.wait(host.container_id)
            if codes[i] != 0 and not self.stop_reason:
                with self._stop_lock:
                    if self.first_failed is None:
                        self.first_failed = host
                # AWS fails the whole job when one host fails: stop the others.
                for other in self.hosts:
                    if other is not host:
                        threading.Thread(target=self.rt.backend.stop, args=(other.container_id, 10),
                                         daemon=True).start()
        threads = [threading.Thread(target=wait_one, args=(i, h), daemon=True) for i, h in enumerate(self.hosts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        finished.set()
        if timer:
            timer.cancel()
        # The log streams end with their containers: wait for the last lines (and final metrics).
        for follower in self.followers:
            follower.join(timeout=10)
        return codes

    def _continuous_outputs(self) -> list[dict[str, Any]]:
        if self.kind is not PROCESSING:
            return []
        return [o["S3Output"] for o in self.job.get("ProcessingOutputConfig", {}).get("Outputs", [])
                if o.get("S3Output", {}).get("S3UploadMode") == "Continuous"]

    def _sync_continuous(self, finished: threading.Event) -> None:
        """S3UploadMode=Continuous: upload what the job has written so far, every few seconds."""
        while not finished.wait(CONTINUOUS_UPLOAD_SECONDS):
            for output in self._continuous_outputs():
                for host in self.hosts:
                    try:
                        staging.upload_tree(self.services, host.ml / output["LocalPath"][len("/opt/ml/"):],
                                            output["S3Uri"], copy=True)
                    except Exception:  # noqa: BLE001 - the final upload at the end reports problems
                        log.debug("continuous upload failed", exc_info=True)

    def stop(self, reason: str = "Stopped") -> None:
        with self._stop_lock:
            if self.stop_reason:
                return
            self.stop_reason = reason
        if reason == "MaxRuntimeExceeded":
            jobs.update_job(self.services, self.kind, self.name,
                            lambda b: b.update({self.kind.status_field: "Stopping"})
                            if b[self.kind.status_field] == "InProgress" else None)
        for host in self.hosts:
            if host.container_id:
                threading.Thread(target=self.rt.backend.stop, args=(host.container_id, STOP_TIMEOUT_SECONDS),
                                 daemon=True).start()

    # --- finishing ----------------------------------------------------------------------------
    def _complete(self, codes: list[int]) -> None:
        if self.kind is TRAINING:
            self._complete_training(codes)
        else:
            self._complete_processing(codes)

    def _complete_training(self, codes: list[int]) -> None:
        self._record_metric_series()
        out = self.job["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{self.name}/output"
        succeeded = all(c == 0 for c in codes) and not self.stop_reason
        if self.hosts:
            if succeeded or self.stop_reason:
                jobs.set_secondary_status(self.services, self.name, "Uploading")
            self._upload_checkpoints()
            data_dirs = [h.ml / "output" / "data" for h in self.hosts]
            if any(d.is_dir() and any(d.iterdir()) for d in data_dirs):
                self._upload_archive(data_dirs, f"{out}/output.tar.gz")
            if succeeded or self.stop_reason:
                self._upload_archive([h.ml / "model" for h in self.hosts], f"{out}/model.tar.gz")
        if self.stop_reason:
            secondary = "MaxRuntimeExceeded" if self.stop_reason == "MaxRuntimeExceeded" else "Stopped"
            jobs.finish_job(self.services, TRAINING, self.name, "Stopped", secondary=secondary,
                            final_metrics=self.metrics.final())
        elif succeeded:
            jobs.finish_job(self.services, TRAINING, self.name, "Completed", final_metrics=self.metrics.final())
        else:
            jobs.finish_job(self.services, TRAINING, self.name, "Failed", failure_reason=self._failure_reason(codes),
                            final_metrics=self.metrics.final())

    def _record_metric_series(self) -> None:
        """Every metric point, not just the final values, into the job's trial component (AWS keeps
        the time series of jobs created with an ExperimentConfig)."""
        if not self.job.get("ExperimentConfig") or not self.metrics.points:
            return
        from emulator.core import experiments
        points = [{"MetricName": name, "Value": value, "Timestamp": stamp, "Step": step}
                  for name, series in self.metrics.points.items()
                  for step, (stamp, value) in enumerate(series)]
        try:
            experiments.record_job_metrics(self.services, TRAINING.kind, self.name, points)
        except Exception:  # noqa: BLE001 - metrics must never fail the job
            log.exception("could not record the metric series of %s", self.name)

    def _complete_processing(self, codes: list[int]) -> None:
        exit_message = self._read_first(["output/message"])
        if self.stop_reason:
            jobs.finish_job(self.services, PROCESSING, self.name, "Stopped", exit_message=exit_message)
            return
        if any(c != 0 for c in codes):
            jobs.finish_job(self.services, PROCESSING, self.name, "Failed", exit_message=exit_message,
                            failure_reason="AlgorithmError: See job logs for more information")
            return
        for output in self.job.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3 = output.get("S3Output")
            if not s3 or output.get("AppManaged"):
                continue
            rel = s3["LocalPath"][len("/opt/ml/"):]
            for host in self.hosts:
                staging.upload_tree(self.services, host.ml / rel, s3["S3Uri"])
        jobs.finish_job(self.services, PROCESSING, self.name, "Completed", exit_message=exit_message)

    def _failure_reason(self, codes: list[int]) -> str:
        # The first host that failed holds the cause; its peers only report the broken collective.
        order = ([self.first_failed] if self.first_failed else []) + \
            [h for h, c in zip(self.hosts, codes) if c != 0 and h is not self.first_failed] + \
            [h for h, c in zip(self.hosts, codes) if c == 0]
        text = self._read_first(["output/failure"], order)
        if text:
            if text.startswith(SIMULATED_PLATFORM_ERRORS):
                return text
            return "AlgorithmError: " + text
        code = next((c for c in codes if c != 0), 1)
        if code == 137:
            return "AlgorithmError: Please check the logs; the container was killed (exit code 137), " \
                   "which usually means it ran out of memory."
        return f"AlgorithmError: , exit code: {code}"

    def _read_first(self, names: list[str], hosts: list[Host] | None = None) -> str | None:
        for host in hosts or self.hosts:
            for name in names:
                path = host.ml / name
                if path.is_file():
                    text = path.read_text(errors="replace").strip()
                    if text:
                        return text[:1024]
        return None

    def _upload_archive(self, dirs: list[Path], uri: str) -> None:
        archive = self.scratch / f".{uri.rsplit('/', 1)[-1]}"
        staging.tar_directories(dirs, archive)
        staging.upload_file(self.services, archive, uri, content_type="application/x-tar")

    def _upload_checkpoints(self) -> None:
        config = self.job.get("CheckpointConfig")
        if not config:
            return
        local = config.get("LocalPath") or "/opt/ml/checkpoints"
        for host in self.hosts:
            directory = self._host_path(host, local)
            if directory is not None:
                staging.upload_tree(self.services, directory, config["S3Uri"])

    def _fail(self, reason: str) -> None:
        jobs.finish_job(self.services, self.kind, self.name, "Failed", failure_reason=reason,
                        final_metrics=self.metrics.final() if self.kind is TRAINING else None)

    def _cleanup(self) -> None:
        for host in self.hosts:
            if host.container_id:
                self.rt.backend.remove(host.container_id)
        if self.network:
            self.rt.backend.remove_network(self.network)
        if not self.rt.keep_job_dirs:
            self.rt.remove_scratch(self.scratch)

    # --- staging ------------------------------------------------------------------------------
    def _host_path(self, host: Host, container_path: str) -> Path | None:
        """Where a path under /opt/ml lives on the host for this host's container."""
        if not container_path.startswith("/opt/ml/"):
            return None
        return host.ml / container_path[len("/opt/ml/"):]

    def _mount_input(self, host: Host, objects_or_path, container_path: str, tag: str) -> None:
        if isinstance(objects_or_path, Path):  # file:// input: bind the host folder read-only
            host.mounts.append(Mount(str(objects_or_path), container_path, read_only=True))
            return
        inside = self._host_path(host, container_path)
        if inside is None:
            raise StagingError(f"Local path {container_path} must be under /opt/ml/")
        total = sum(info.size for _, info in objects_or_path)
        if total > staging.COPY_LIMIT_BYTES:
            staged = staging.materialise(self.services, objects_or_path, host.root / "links" / tag)
            inside.mkdir(parents=True, exist_ok=True)
            host.mounts.append(Mount(str(staged.host_dir), container_path, read_only=True))
        else:
            staging.materialise(self.services, objects_or_path, inside)

    def _source(self, uri: str, data_type: str, distribution: str, host: Host, count: int):
        if uri.startswith("file://"):
            return staging.file_uri_path(uri)
        objects = staging.list_source_objects(self.services, uri, data_type)
        return staging.shard(objects, distribution, host.index, count)

    def _stage_training(self, host: Host, names: list[str]) -> None:
        job = self.job
        config = host.ml / "input" / "config"
        mode = job["AlgorithmSpecification"].get("TrainingInputMode", "File")
        channels = {}
        for channel in job.get("InputDataConfig", []):
            entry = {"TrainingInputMode": channel.get("InputMode", mode),
                     "S3DistributionType": "FullyReplicated", "RecordWrapperType": channel.get("RecordWrapperType",
                                                                                               "None")}
            if channel.get("ContentType"):
                entry = {"ContentType": channel["ContentType"], **entry}
            source = channel["DataSource"].get("S3DataSource")
            if source:
                entry["S3DistributionType"] = source.get("S3DataDistributionType", "FullyReplicated")
                if entry["TrainingInputMode"] == "Pipe":
                    raise StagingError(f"Pipe input mode (channel {channel['ChannelName']}) is not supported by "
                                       "the emulator; use File or FastFile.")
                data = self._source(source["S3Uri"], source.get("S3DataType", "S3Prefix"),
                                    entry["S3DistributionType"], host, len(names))
                self._mount_input(host, data, f"/opt/ml/input/data/{channel['ChannelName']}",
                                  channel["ChannelName"])
            elif channel["DataSource"].get("FileSystemDataSource"):
                raise StagingError("FileSystemDataSource (EFS/FSx) channels are not supported by the emulator.")
            channels[channel["ChannelName"]] = entry
        staging.write_json(config / "hyperparameters.json", job.get("HyperParameters", {}))
        staging.write_json(config / "inputdataconfig.json", channels)
        instance_type = self.resources.get("InstanceType", "ml.m5.large")
        staging.write_json(config / "resourceconfig.json", {
            "current_host": host.name, "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster", "hosts": names, "network_interface_name": "eth0",
            "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                                 "hosts": names}]})
        checkpoint = job.get("CheckpointConfig")
        if checkpoint:
            local = checkpoint.get("LocalPath") or "/opt/ml/checkpoints"
            staging.write_json(config / "checkpointconfig.json", {"LocalPath": local, "S3Uri": checkpoint["S3Uri"]})
            target = self._host_path(host, local)
            if target is None:
                raise StagingError("CheckpointConfig.LocalPath must be under /opt/ml/")
            bucket, _ = staging.parse_s3_uri(checkpoint["S3Uri"])
            target.mkdir(parents=True, exist_ok=True)
            if self.services.objects.bucket_exists(bucket):
                try:
                    existing = staging.list_source_objects(self.services, checkpoint["S3Uri"])
                except StagingError:
                    existing = []
                staging.materialise(self.services, existing, target)
        for sub in ("model", "output/data", "code", "output/intermediate"):
            (host.ml / sub).mkdir(parents=True, exist_ok=True)

    def _stage_processing(self, host: Host, names: list[str]) -> None:
        job = self.job
        config = host.ml / "config"
        request_view = {k: v for k, v in job.items() if k in (
            "ProcessingJobArn", "ProcessingJobName", "AppSpecification", "Environment", "ProcessingInputs",
            "ProcessingOutputConfig", "ProcessingResources", "RoleArn", "StoppingCondition", "NetworkConfig")}
        staging.write_json(config / "processingjobconfig.json", request_view)
        staging.write_json(config / "resourceconfig.json", {
            "current_host": host.name, "hosts": names, "network_interface_name": "eth0",
            "current_instance_type": self.resources.get("InstanceType")})
        for item in job.get("ProcessingInputs", []):
            s3 = item.get("S3Input")
            if item.get("AppManaged") or not s3:
                if item.get("DatasetDefinition"):
                    raise StagingError("DatasetDefinition (Athena/Redshift) inputs are not supported by the emulator.")
                continue
            if s3.get("S3InputMode") == "Pipe":
                raise StagingError(f"Pipe input mode (input {item['InputName']}) is not supported by the emulator.")
            data = self._source(s3["S3Uri"], s3.get("S3DataType", "S3Prefix"),
                                s3.get("S3DataDistributionType", "FullyReplicated"), host, len(names))
            self._mount_input(host, data, s3["LocalPath"], f"input-{item['InputName']}")
        for output in job.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3 = output.get("S3Output")
            if s3:
                path = self._host_path(host, s3["LocalPath"])
                if path is not None:
                    path.mkdir(parents=True, exist_ok=True)
        (host.ml / "output").mkdir(parents=True, exist_ok=True)

    # --- the container's view ------------------------------------------------------------------
    def _command(self) -> dict[str, list[str] | None]:
        spec = self.job["AlgorithmSpecification"] if self.kind is TRAINING else self.job["AppSpecification"]
        entrypoint = spec.get("ContainerEntrypoint")
        arguments = spec.get("ContainerArguments")
        if self.kind is TRAINING and not entrypoint and not arguments:
            return {"entrypoint": None, "command": ["train"]}
        return {"entrypoint": entrypoint, "command": arguments}

    def _environment(self, host: Host) -> dict[str, str]:
        region = self.job[self.kind.arn_field].split(":")[3]
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region,
               "AWS_ACCESS_KEY_ID": os.environ.get("SAGEMAKER_EMULATOR_JOB_ACCESS_KEY_ID", "test"),
               "AWS_SECRET_ACCESS_KEY": os.environ.get("SAGEMAKER_EMULATOR_JOB_SECRET_ACCESS_KEY", "test")}
        if self.kind is TRAINING:
            env.update(TRAINING_JOB_NAME=self.name, TRAINING_JOB_ARN=self.job["TrainingJobArn"])
        else:
            env.update(PROCESSING_JOB_NAME=self.name, PROCESSING_JOB_ARN=self.job["ProcessingJobArn"])
        if not self.isolated:
            endpoint = self.rt.container_endpoint()
            if endpoint:
                env.update(AWS_ENDPOINT_URL=endpoint, S3_ENDPOINT_URL=endpoint)
        env.update(self.job.get("Environment") or {})
        return env
