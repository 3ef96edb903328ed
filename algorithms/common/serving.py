"""`serve`: the hosting contract (GET /ping, POST /invocations on port 8080) for the first-party
algorithms, with their request and response formats (container_contracts.md §4.1, §6).

Requests: text/csv (no label column), application/json ({"instances": [{"features": [...]}]} or
{"instances": [{"data": {"features": {"values": [...], "keys": [...], "shape": [n]}}}]}),
application/jsonlines (one such instance per line), application/x-recordio-protobuf.
Responses (Accept): application/json {"predictions": [{...}, ...]} (the default), application/jsonlines
(one object per line), application/x-recordio-protobuf (outputs in each record's `label` map, as
float32 tensors) — what LinearLearnerPredictor / KNNPredictor / FactorizationMachinesPredictor
(RecordSerializer + RecordDeserializer) send and read.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np

from algorithms.common import data, recordio

log = logging.getLogger("algorithm")

JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"


class Predictor(Protocol):
    feature_dim: int

    def predict(self, features: Any, options: dict[str, str]) -> list[dict[str, Any]]:
        """One dict of outputs per row (e.g. {"score": 0.4, "predicted_label": 0})."""


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_request(body: bytes, content_type: str | None, feature_dim: int | None) -> Any:
    """A dense float32 matrix or a CSR matrix of the request's rows."""
    base, options = data.parse_content_type(content_type or CSV)
    try:
        if base == CSV:
            batch = data.read_csv(body, int(options.get("label_size", "0")))
            features = batch.features
        elif base in (JSON, "application/jsonlines", "application/json-lines", "application/x-jsonlines"):
            if base == JSON:
                document = json.loads(body)
                instances = document.get("instances") if isinstance(document, dict) else document
                if instances is None and isinstance(document, dict):
                    instances = [document]  # a single {"features": [...]} / {"data": ...}
            else:
                instances = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            features = _instances(instances or [], feature_dim)
        elif base in (RECORDIO, "application/x-recordio"):
            features = recordio.read_matrix(body).features
        else:
            raise RequestError(
                415,
                f"Content type {content_type} is not supported. Supported: {CSV}, {JSON}, "
                f"{JSONLINES}, {RECORDIO}",
            )
    except RequestError:
        raise
    except (ValueError, TypeError, KeyError, recordio.RecordIOError) as exc:
        raise RequestError(400, f"Unable to parse the request body as {base}: {exc}") from exc
    if feature_dim is not None:
        width = features.shape[1]
        from scipy import sparse

        if width != feature_dim and not (sparse.issparse(features) and width <= feature_dim):
            raise RequestError(
                400, f"The request has {width} features per record; the model expects {feature_dim}"
            )
        features = data.as_width(features, feature_dim)
    return features


def _instances(instances: list[Any], feature_dim: int | None) -> Any:
    rows: list[recordio.Tensor] = []
    for item in instances:
        if isinstance(item, list):
            rows.append(recordio.Tensor(np.asarray(item, dtype=np.float32)))
            continue
        features = item["features"] if "features" in item else item["data"]["features"]
        if isinstance(features, dict):
            keys = features.get("keys")
            shape = features.get("shape")
            values = np.asarray(features["values"], dtype=np.float32)
            rows.append(
                recordio.Tensor(
                    values,
                    np.asarray(keys, dtype=np.int64) if keys else None,
                    list(shape) if shape else ([feature_dim] if keys and feature_dim else None),
                )
            )
        else:
            rows.append(recordio.Tensor(np.asarray(features, dtype=np.float32)))
    records = [recordio.Record({"values": t}, {}) for t in rows]
    return recordio.records_to_matrix(records).features


def choose_accept(accept: str | None) -> tuple[str, dict[str, str]]:
    """The first supported media type of an Accept header (JSON when absent or */*)."""
    for candidate in (accept or "").split(","):
        base, options = data.parse_content_type(candidate)
        if not candidate.strip() or base in ("*/*", "application/*"):
            return JSON, options
        if base in (JSON, RECORDIO, "application/x-recordio"):
            return (RECORDIO if base == "application/x-recordio" else base), options
        if base in (JSONLINES, "application/json-lines", "application/x-jsonlines"):
            return JSONLINES, options
    if not accept:
        return JSON, {}
    raise RequestError(
        406, f"Accept type {accept} is not supported. Supported: {JSON}, {JSONLINES}, {RECORDIO}"
    )


def encode_response(rows: list[dict[str, Any]], accept: str, key: str = "predictions") -> bytes:
    if accept == RECORDIO:
        return recordio.write_label_records(rows)
    plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
    if accept == JSONLINES:
        return "".join(json.dumps(row) + "\n" for row in plain).encode()
    return json.dumps({key: plain}).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def make_handler(predictor: Predictor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The head and the body are written separately: without TCP_NODELAY they meet the client's delayed
        # ACK and every call takes 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:  # quieter than stderr per request
            log.debug(fmt, *args)

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._reply(status, json.dumps({"error": message}).encode(), JSON)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._reply(200, b"", "text/plain")
            elif self.path == "/execution-parameters":
                body = {
                    "MaxConcurrentTransforms": os.cpu_count() or 1,
                    "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": 6,
                }
                self._reply(200, json.dumps(body).encode(), JSON)
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path != "/invocations":
                self._error(404, f"no route {self.path}")
                return
            if not body.strip():
                self._reply(204, b"", "text/plain")
                return
            try:
                accept, options = choose_accept(self.headers.get("Accept"))
                features = decode_request(body, self.headers.get("Content-Type"), predictor.feature_dim)
                rows = predictor.predict(features, options)
                key = getattr(predictor, "response_key", "predictions")  # Random Cut Forest: "scores"
                self._reply(200, encode_response(rows, accept, key), accept)
            except RequestError as exc:
                self._error(exc.status, str(exc))
            except Exception as exc:
                log.exception("invocation failed")
                self._error(500, f"{type(exc).__name__}: {exc}")

    return Handler


def serve(load_predictor: Callable[[], Predictor]) -> None:
    # As PID 1 a process ignores SIGTERM unless it handles it; DeleteEndpoint should not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    predictor = load_predictor()
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(predictor))
    server.daemon_threads = True
    log.info("model server listening on port %d", port)
    server.serve_forever()
