"""Endpoint data capture, laid out exactly as SageMaker writes it (inference_and_monitoring.md §2,
container_contracts.md §4.3), so Model Monitor and user code read it unchanged:

  <DestinationS3Uri>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<HH>/<MM>-<SS>-<mmm>-<uuid4>.jsonl

(UTC hour of the inference; the file is named after its first record), one compact JSON object per
request:

  {"captureData":{"endpointInput":{"observedContentType":..,"mode":"INPUT","data":..,"encoding":"CSV"},
                  "endpointOutput":{..,"mode":"OUTPUT",..}},
   "eventMetadata":{"eventId":..,"inferenceId":..(only when sent),"inferenceTime":"2022-04-18T00:21:48Z"},
   "eventVersion":"0"}

`encoding` is CSV or JSON (data kept as text) when the observed content type, without its parameters,
is in CsvContentTypes / JsonContentTypes, otherwise BASE64; only the configured modes appear.

An invocation only appends the raw request and response to a buffer (no formatting, no I/O, never
blocking on S3); one writer thread formats and stores them every `flush_seconds`, when the buffer grows
past FLUSH_BYTES, on DeleteEndpoint (`flush(endpoint)`) and at shutdown, so nothing captured is lost when
the emulator stops cleanly. Past MAX_BUFFER_BYTES (the writer cannot keep up) records are dropped and
counted, as AWS drops capture under pressure rather than slow the endpoint down.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from emulator.core.objectstore import S3UriError, parse_s3_uri
from emulator.core.services import Services

log = logging.getLogger(__name__)

FLUSH_BYTES = 8 * 1024 * 1024
MAX_BUFFER_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class CaptureConfig:
    """An endpoint deployment's DataCaptureConfig, prepared for the data path."""
    destination: str
    sampling: float                 # percent
    capture_input: bool
    capture_output: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> CaptureConfig | None:
        if not config or not config.get("EnableCapture", True):
            return None
        modes = {o["CaptureMode"] for o in config.get("CaptureOptions") or []}
        headers = config.get("CaptureContentTypeHeader") or {}
        return cls(destination=config["DestinationS3Uri"].rstrip("/"),
                   sampling=float(config.get("InitialSamplingPercentage", 0)),
                   capture_input=bool(modes & {"Input", "InputAndOutput"}),
                   capture_output=bool(modes & {"Output", "InputAndOutput"}),
                   csv_types=frozenset(_base_type(t) for t in headers.get("CsvContentTypes") or []),
                   json_types=frozenset(_base_type(t) for t in headers.get("JsonContentTypes") or []))


@dataclass
class Captured:
    """One sampled invocation, as the data path saw it."""
    endpoint: str
    variant: str
    config: CaptureConfig
    time: float
    inference_id: str | None
    request: bytes
    request_type: str
    response: bytes
    response_type: str

    @property
    def size(self) -> int:
        return len(self.request) + len(self.response) + 512


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _payload(data: bytes, content_type: str, mode: str, config: CaptureConfig) -> dict[str, str]:
    base = _base_type(content_type)
    encoding = "CSV" if base in config.csv_types else "JSON" if base in config.json_types else "BASE64"
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # declared text that is not: keep it exact
            encoding, text = "BASE64", ""
    if encoding == "BASE64":
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_line(record: Captured, event_id: str | None = None) -> str:
    """The JSON line SageMaker writes for one invocation (key order and separators as AWS's)."""
    config = record.config
    data: dict[str, Any] = {}
    if config.capture_input:
        data["endpointInput"] = _payload(record.request, record.request_type, "INPUT", config)
    if config.capture_output:
        data["endpointOutput"] = _payload(record.response, record.response_type, "OUTPUT", config)
    stamp = dt.datetime.fromtimestamp(record.time, dt.UTC)
    metadata = {"eventId": event_id or str(uuid.uuid4())}
    if record.inference_id is not None:
        metadata["inferenceId"] = record.inference_id
    metadata["inferenceTime"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"},
                      separators=(",", ":"))


def capture_key(prefix: str, endpoint: str, variant: str, first: float) -> str:
    """<prefix>/<endpoint>/<variant>/yyyy/mm/dd/HH/MM-SS-mmm-<uuid4>.jsonl for a file whose first record
    was at `first` (UTC)."""
    stamp = dt.datetime.fromtimestamp(first, dt.UTC)
    name = f"{stamp:%M-%S}-{stamp.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return "/".join(p for p in (prefix, endpoint, variant, f"{stamp:%Y/%m/%d/%H}", name) if p)


class CaptureWriter:
    """The one writer of every endpoint's captured records."""

    def __init__(self, services: Services, flush_seconds: float) -> None:
        self.services = services
        self.flush_seconds = flush_seconds
        self._lock = threading.Condition()
        self._buffer: list[Captured] = []
        self._bytes = 0
        self._waiters: list[threading.Event] = []
        self.dropped = 0
        self._warned: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def add(self, record: Captured) -> None:
        """From the data path: O(1), never blocks on I/O."""
        with self._lock:
            if self._bytes + record.size > MAX_BUFFER_BYTES:
                self.dropped += 1
                return
            self._buffer.append(record)
            self._bytes += record.size
            if self._bytes >= FLUSH_BYTES:
                self._lock.notify()

    def flush(self, timeout: float = 60.0) -> bool:
        """Store everything captured so far (DeleteEndpoint, shutdown, tests)."""
        done = threading.Event()
        with self._lock:
            if self._closed:
                return True
            self._waiters.append(done)
            self._lock.notify()
        return done.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        self.flush(timeout)
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._buffer and not self._waiters and not self._closed or self._bytes < FLUSH_BYTES and not self._waiters and not self._closed:
                    self._lock.wait(self.flush_seconds)
                batch, self._buffer, self._bytes = self._buffer, [], 0
                waiters, self._waiters = self._waiters, []
                closed = self._closed
            if batch:
                self._store(batch)
            for waiter in waiters:
                waiter.set()
            if closed:
                return

    def _store(self, batch: list[Captured]) -> None:
        files: dict[tuple[str, str, str, str], list[Captured]] = defaultdict(list)
        for record in batch:
            hour = dt.datetime.fromtimestamp(record.time, dt.UTC).strftime("%Y%m%d%H")
            files[(record.config.destination, record.endpoint, record.variant, hour)].append(record)
        for (destination, endpoint, variant, _), records in files.items():
            try:
                bucket, prefix = parse_s3_uri(destination)
            except S3UriError:
                self._warn(destination, "is not an S3 URI")
                continue
            key = capture_key(prefix.rstrip("/"), endpoint, variant, records[0].time)
            data = "".join(capture_line(r) + "\n" for r in records).encode("utf-8")
            try:
                if not self.services.objects.bucket_exists(bucket):
                    self._warn(destination, f"names bucket {bucket}, which does not exist")
                    continue
                self.services.objects.put_object_bytes(bucket, key, data, content_type="application/octet-stream")
            except Exception:
                log.exception("could not store captured data at s3://%s/%s", bucket, key)

    def _warn(self, destination: str, problem: str) -> None:
        if destination not in self._warned:
            self._warned.add(destination)
            log.warning("data capture destination %s %s: captured records are dropped", destination, problem)
