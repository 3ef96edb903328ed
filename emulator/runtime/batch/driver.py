"""Driving a batch transform job's serving containers (inference_and_monitoring.md §3, container_contracts.md
§4.2). The job controller starts the containers (`serve`, model in /opt/ml/model, SAGEMAKER_BATCH=true);
a `TransformRun` then:

  1. waits for every container's /ping,
  2. asks the first for GET /execution-parameters; MaxConcurrentTransforms, BatchStrategy and MaxPayloadInMB
     come from the request, else that answer, else 1 / MultiRecord / 6, and are logged as SageMaker logs them,
  3. spreads the input objects (S3Prefix or ManifestFile) over the instances by key,
  4. for each object: reads it (Gzip decompressed), splits it into records, applies InputFilter, packs
     mini-batches and POSTs them to its instance's /invocations (Content-Type and Accept of the job), at
     most MaxConcurrentTransforms at a time per instance, each retried up to InvocationsMaxRetries times
     within InvocationsTimeoutInSeconds; joins and filters the outputs (DataProcessing), and stores
     `<S3OutputPath>/<key relative to the input prefix>.out` -- or, when it fails, nothing, and the job
     ends Failed once the other objects are done,
  5. writes the batch capture manifests (DataCaptureConfig).

Every transform job's driving runs on one event loop thread (`TransformEngine`): the calls are I/O, and
no job gets a thread of its own. Reading and writing objects goes through the object store in the
loop's default executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.core.services import Services
from emulator.runtime import staging
from emulator.runtime.batch import processing, records
from emulator.runtime.logpump import LogWriter
from emulator.runtime.serving.client import ClientPool, ContainerTimeout, ContainerUnreachable

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TransformJobs"
PING_TIMEOUT_SECONDS = 600     # AWS keeps pinging a transform job's container for a long time (examples#815)
DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
FAILURE = "AlgorithmError: See job logs for more information"


@dataclass
class Host:
    name: str                     # algo-1 ...
    address: tuple[str, int]
    stream: str                   # the container's log stream; the data log is <stream>/data-log


@dataclass
class ObjectFailure(Exception):
    message: str


@dataclass
class TransformRun:
    """One job's driving, as the job controller sees it."""
    future: concurrent.futures.Future | None = None
    failure: str | None = None
    done: bool = False
    objects: int = 0
    failed: list[str] = field(default_factory=list)

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel()


class TransformEngine:
    def __init__(self, services: Services, logs: LogWriter) -> None:
        self.services = services
        self.logs = logs
        self._loop = asyncio.new_event_loop()
        self._pool = ClientPool()
        thread = threading.Thread(target=self._loop.run_forever, name="batch-transform", daemon=True)
        thread.start()

    def start(self, job: dict[str, Any], hosts: list[Host], wake: Callable[[], None]) -> TransformRun:
        run = TransformRun()

        def finished(future: concurrent.futures.Future) -> None:
            if future.cancelled():
                run.failure = run.failure or "Stopped"
            elif future.exception() is not None:
                error = future.exception()
                log.error("transform job %s: %s", job["TransformJobName"], error, exc_info=error)
                run.failure = f"InternalServerError: {type(error).__name__}: {error}"
            run.done = True
            wake()
        run.future = asyncio.run_coroutine_threadsafe(_Job(self, job, hosts, run).drive(), self._loop)
        run.future.add_done_callback(finished)
        return run

    def say(self, job: dict[str, Any], host: Host, message: str) -> None:
        self.logs.line(LOG_GROUP, f"{host.stream}/data-log", time.time(), message)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


class _Job:
    def __init__(self, engine: TransformEngine, job: dict[str, Any], hosts: list[Host], run: TransformRun) -> None:
        self.engine = engine
        self.services = engine.services
        self.job = job
        self.hosts = hosts
        self.run = run
        self.pool = engine._pool
        config = job.get("ModelClientConfig") or {}
        self.timeout = float(config.get("InvocationsTimeoutInSeconds", 600))
        self.retries = int(config.get("InvocationsMaxRetries", 3))
        self.input = job["TransformInput"]
        self.output = job["TransformOutput"]
        self.processing = job.get("DataProcessing") or {}
        capture = job.get("DataCaptureConfig") or {}
        self.generate_ids = bool(capture.get("GenerateInferenceId"))
        self.started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def say(self, host: Host, message: str) -> None:
        self.engine.say(self.job, host, message)

    # --- the job -------------------------------------------------------------------------------------------
    async def drive(self) -> None:
        await asyncio.gather(*(self._healthy(host) for host in self.hosts))
        params = await self._parameters()
        source = self.input["DataSource"]["S3DataSource"]
        try:
            objects = await asyncio.to_thread(staging.list_source_objects, self.services, source["S3Uri"],
                                              source.get("S3DataType", "S3Prefix"))
        except staging.StagingError as exc:
            self.run.failure = f"ClientError: {exc}"
            return
        objects.sort(key=lambda item: item[1].key)
        self.run.objects = len(objects)
        tasks = []
        for index, (relative, info) in enumerate(objects):
            host = self.hosts[index % len(self.hosts)]
            tasks.append(self._object(host, params, relative, info))
        written = await asyncio.gather(*tasks)
        if self.run.failed:
            self.run.failure = FAILURE
            return
        capture = self.job.get("DataCaptureConfig")
        if capture:
            await asyncio.to_thread(self._capture_manifests, capture, [info for _, info in objects], written)

    async def _healthy(self, host: Host) -> None:
        deadline, delay = time.monotonic() + PING_TIMEOUT_SECONDS, 0.05
        while True:
            try:
                response = await self.pool.request(host.address, "GET", "/ping", [], b"", 2.0)
                if response.status == 200:
                    return
            except (ContainerTimeout, ContainerUnreachable):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the container of {host.name} did not pass the ping health check")
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)

    async def _parameters(self) -> dict[str, Any]:
        """Request values, else the container's /execution-parameters, else the defaults."""
        answered: dict[str, Any] = {}
        try:
            response = await self.pool.request(self.hosts[0].address, "GET", "/execution-parameters", [], b"", 10.0)
            if response.status == 200:
                answered = json.loads(response.body or b"{}")
        except (ContainerTimeout, ContainerUnreachable, ValueError):
            pass
        params = {}
        for key, default in DEFAULTS.items():
            value = self.job.get(key)
            if value is None:
                value = answered.get(key)
            params[key] = default if value is None else value
        params["BatchStrategy"] = {"SINGLE_RECORD": "SingleRecord", "MULTI_RECORD": "MultiRecord"}.get(
            params["BatchStrategy"], params["BatchStrategy"])
        if self.input.get("SplitType", "None") == "None":
            params["BatchStrategy"] = "SingleRecord"   # without a split each object is one request
        shown = "SINGLE_RECORD" if params["BatchStrategy"] == "SingleRecord" else "MULTI_RECORD"
        for host in self.hosts:
            self.say(host, f"[sagemaker logs]: MaxConcurrentTransforms={params['MaxConcurrentTransforms']}, "
                           f"MaxPayloadInMB={params['MaxPayloadInMB']}, BatchStrategy={shown}")
        params["semaphores"] = {host.name: asyncio.Semaphore(max(1, int(params["MaxConcurrentTransforms"])))
                                for host in self.hosts}
        return params

    # --- one input object ------------------------------------------------------------------------------------
    async def _object(self, host: Host, params: dict[str, Any], relative: str, info: Any) -> str | None:
        label = f"{info.bucket}/{info.key}"
        try:
            data = await asyncio.to_thread(self._read, info)
            data = records.decompress(data, self.input.get("CompressionType", "None"))
            semaphore = params["semaphores"][host.name]
            chunks = self._plain_line_batches(data, params)
            if chunks is not None:   # nothing per record to do: whole lines, cut at the payload limit
                responses = await asyncio.gather(*(self._invoke(host, semaphore, label, c) for c in chunks))
                body = records.assemble([r for r, _ in responses], self.output.get("AssembleWith", "None"))
            else:
                items = records.split(data, self.input.get("SplitType", "None"))
                input_filter = self.processing.get("InputFilter")
                filtered = items if input_filter in (None, "", "$") else [
                    processing.filter_input(r, self.input.get("ContentType", ""), input_filter) for r in items]
                groups = records.batches(filtered, params["BatchStrategy"], int(params["MaxPayloadInMB"]),
                                         self.input.get("SplitType", "None"))
                responses = await asyncio.gather(*(self._invoke(host, semaphore, label, b"".join(g))
                                                   for g in groups))
                body = self._outputs(items, groups, responses)
        except (records.RecordError, processing.FilterError, ObjectFailure) as failure:
            message = failure.message if isinstance(failure, ObjectFailure) else str(failure)
            self.say(host, f"[sagemaker logs]: {label}: {message}")
            self.run.failed.append(label)
            return None
        key = self._output_key(relative)
        bucket, _ = staging.s3_location(self.output["S3OutputPath"])
        await asyncio.to_thread(self._write, bucket, key, body)
        return key

    def _plain_line_batches(self, data: bytes, params: dict[str, Any]) -> list[bytes] | None:
        if self.input.get("SplitType") != "Line" or params["BatchStrategy"] != "MultiRecord" or self._per_record():
            return None
        return records.line_chunks(data, int(params["MaxPayloadInMB"]))

    def _per_record(self) -> bool:
        """Outputs are made record by record: joined, filtered, or given inference ids."""
        return (self.processing.get("JoinSource") == "Input" or self.generate_ids
                or self.processing.get("InputFilter") not in (None, "", "$")
                or self.processing.get("OutputFilter") not in (None, "", "$"))

    def _read(self, info: Any) -> bytes:
        with self.services.objects.open_object(info.bucket, info.key) as f:
            return f.read()

    def _write(self, bucket: str, key: str, body: bytes) -> None:
        if not self.services.objects.bucket_exists(bucket):
            raise staging.StagingError(f"The output bucket {bucket} does not exist.")
        self.services.objects.put_object_bytes(bucket, key, body,
                                               content_type=self.output.get("Accept") or "application/octet-stream")

    def _output_key(self, relative: str) -> str:
        _, prefix = staging.s3_location(self.output["S3OutputPath"])
        prefix = prefix.rstrip("/")
        return f"{prefix}/{relative}.out" if prefix else f"{relative}.out"

    async def _invoke(self, host: Host, semaphore: asyncio.Semaphore, label: str, body: bytes) -> tuple[bytes, str]:
        """One mini-batch, retried; (response body, its content type)."""
        headers = []
        if self.input.get("ContentType"):
            headers.append(("Content-Type", self.input["ContentType"]))
        if self.output.get("Accept"):
            headers.append(("Accept", self.output["Accept"]))
        problem = ""
        for _ in range(self.retries + 1):
            async with semaphore:
                try:
                    response = await self.pool.request(host.address, "POST", "/invocations", headers, body,
                                                       self.timeout)
                except ContainerTimeout:
                    problem = f"Model server did not respond to /invocations request within {self.timeout:g} seconds"
                    continue
                except ContainerUnreachable as exc:
                    problem = f"ClientError: the model server is not reachable: {exc}"
                    continue
            if 200 <= response.status < 300:
                return response.body, response.headers.get("content-type", self.output.get("Accept", ""))
            problem = f"ClientError: {response.status}"
            self.say(host, f"[sagemaker logs]: {label}: Bad HTTP status received from algorithm: {response.status}: "
                           f"{response.body[:1024].decode(errors='replace')}")
        raise ObjectFailure(problem)

    def _outputs(self, items: list[bytes], groups: list[list[bytes]], responses: list[tuple[bytes, str]]) -> bytes:
        join = self.processing.get("JoinSource") == "Input"
        output_filter = self.processing.get("OutputFilter")
        assemble_with = self.output.get("AssembleWith", "None")
        if not self._per_record():
            return records.assemble([body for body, _ in responses], assemble_with)
        outputs: list[bytes] = []
        position = 0
        for group, (body, content_type) in zip(groups, responses):
            parts = [body] if len(group) == 1 else records.lines(body)
            if len(parts) != len(group):
                raise ObjectFailure(f"the model returned {len(parts)} records for a mini-batch of {len(group)}; "
                                    "joining or filtering outputs needs one per input record")
            output_type = self.output.get("Accept") or content_type
            for part in parts:
                inference = (str(uuid.uuid4()), self.started) if self.generate_ids else None
                outputs.append(processing.join_and_filter(items[position], self.input.get("ContentType", ""),
                                                          part, output_type, join, output_filter, inference))
                position += 1
        return records.assemble(outputs, "Line" if assemble_with == "Line" else "None")

    # --- batch data capture ----------------------------------------------------------------------------------
    def _capture_manifests(self, capture: dict[str, Any], inputs: list[Any], outputs: list[str | None]) -> None:
        """Manifests of the input and output objects under <dest>/input|output/yyyy/mm/dd/hh/ (the job's start
        hour), as model-monitor-data-capture-batch.md shows: [{"prefix": ...}, key, key, ...]. The prefix is
        the bucket, so every key is listed whole whatever the input was (a prefix or a manifest)."""
        bucket, prefix = staging.s3_location(capture["DestinationS3Uri"])
        hour = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d/%H")
        out_bucket, _ = staging.s3_location(self.output["S3OutputPath"])
        name = f"{self.job['TransformJobName']}-{uuid.uuid4().hex[:8]}.manifest"
        in_bucket = inputs[0].bucket if inputs else out_bucket
        for folder, entries, base in (("input", [i.key for i in inputs], in_bucket),
                                      ("output", [o for o in outputs if o], out_bucket)):
            manifest = json.dumps([{"prefix": f"s3://{base}/"}, *entries]).encode()
            key = "/".join(p for p in (prefix.rstrip("/"), folder, hour, name) if p)
            self.services.objects.put_object_bytes(bucket, key, manifest, content_type="application/json")
