"""`serve`: the hosting contract's HTTP server for the built-in XGBoost algorithm.

GET /ping, GET /execution-parameters (batch transform asks it) and POST /invocations on
SAGEMAKER_BIND_TO_PORT (8080), with AWS's status codes: 204 for an empty body, 413 past
MAX_CONTENT_LENGTH (6 MB), 415 for an unreadable body or Content-Type, 406 for an Accept type it
cannot write, 400 when prediction fails. The model is loaded once at start; a model that cannot be
loaded stops the container, as a failing worker does on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from algorithms.xgboost import inference

log = logging.getLogger(__name__)

MODEL_DIR = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
MAX_CONTENT_LENGTH = min(int(os.environ.get("MAX_CONTENT_LENGTH", "6291456")), 20 * 1024 ** 2)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the platform's clients expect
    model: inference.Model
    lock = threading.Lock()  # one prediction at a time: the CPU is the container's either way

    def log_message(self, fmt: str, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, b"", "text/plain")
        elif self.path == "/execution-parameters":
            body = {"MaxConcurrentTransforms": os.cpu_count() or 1, "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": MAX_CONTENT_LENGTH // 1024 ** 2}
            self._reply(200, json.dumps(body).encode(), "application/json")
        else:
            self._reply(404, b"Not Found", "text/plain")

    def do_POST(self) -> None:
        if self.path != "/invocations":
            self._reply(404, b"Not Found", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_CONTENT_LENGTH:
            self.rfile.read(length)
            self._reply(413, b"Request Entity Too Large", "text/plain")
            return
        body = self.rfile.read(length)
        if not body:
            self._reply(204, b"", "text/plain")
            return
        status, payload, content_type = invoke(self.model, body, self.headers.get("Content-Type"),
                                               self.headers.get("Accept"), self.lock)
        self._reply(status, payload, content_type)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def invoke(model: inference.Model, body: bytes, content_type: str | None, accept: str | None,
           lock: threading.Lock) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) for one /invocations request."""
    try:
        matrix = inference.decode(body, content_type, model.num_features)
    except inference.UnsupportedContent as exc:
        return 415, str(exc).encode(), "text/plain"
    try:
        accept_type = inference.parse_accept(accept)
    except inference.NotAcceptable as exc:
        return 406, str(exc).encode(), "text/plain"
    try:
        with lock:
            predictions = model.predict(matrix)
    except Exception as exc:  # XGBoost's message says what is wrong with the payload
        log.exception("prediction failed")
        return 400, f"Unable to evaluate payload provided: {exc}".encode(), "text/plain"
    try:
        payload, response_type = inference.encode(predictions, accept_type, model)
    except Exception as exc:
        log.exception("encoding the response failed")
        return 500, str(exc).encode(), "text/plain"
    return 200, payload, response_type


def main() -> None:
    # As PID 1 a process ignores SIGTERM unless it handles it; DeleteEndpoint should not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        Handler.model = inference.Model.load(MODEL_DIR)
    except Exception:
        log.exception("Unable to load the model from %s", MODEL_DIR)
        sys.exit(1)
    log.info("Loaded model (%s, %d booster(s), %d features)", Handler.model.objective,
             len(Handler.model.boosters), Handler.model.num_features)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    log.info("Listening on port %d", port)
    server.serve_forever()
