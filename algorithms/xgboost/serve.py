"""`serve`: the hosting contract's HTTP server for the built-in XGBoost algorithm.

GET /ping, GET /execution-parameters (batch transform asks it) and POST /invocations on
SAGEMAKER_BIND_TO_PORT (8080), with AWS's status codes: 204 for an empty body, 413 past
MAX_CONTENT_LENGTH (6 MB), 415 for an unreadable body or Content-Type, 406 for an Accept type it
cannot write, 400 when prediction fails. The model is loaded once at start; a model that cannot be
loaded stops the container, as a failing worker does on AWS. With SAGEMAKER_MULTI_MODEL=true it serves
the multi-model API instead (POST /models, GET /models[/<name>], DELETE /models/<name>,
POST /models/<name>/invoke), as AWS's XGBoost image does for multi-model endpoints.
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
    # The head and the body are written separately: without TCP_NODELAY they meet the client's delayed ACK
    # and every call takes 40 ms.
    disable_nagle_algorithm = True
    model: inference.Model | None = None
    models: dict[str, tuple[str, inference.Model]] | None = None   # multi-model: name -> (url, model)
    lock = threading.Lock()  # one prediction at a time: the CPU is the container's either way

    def log_message(self, fmt: str, *args) -> None:
        # No access line per request (as gunicorn without --access-logfile, which AWS's image runs): at
        # thousands of calls a second that is a log line each, shipped to CloudWatch Logs.
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, b"", "text/plain")
        elif self.models is not None and self.path == "/models":
            body = {"models": [{"modelName": n, "modelUrl": u} for n, (u, _) in self.models.items()]}
            self._reply(200, json.dumps(body).encode(), "application/json")
        elif self.models is not None and self.path.startswith("/models/"):
            name = self.path[len("/models/"):]
            if name in self.models:
                self._reply(200, json.dumps([{"modelName": name, "modelUrl": self.models[name][0]}]).encode(),
                            "application/json")
            else:
                self._reply(404, f"Model {name} is not loaded".encode(), "text/plain")
        elif self.path == "/execution-parameters":
            body = {"MaxConcurrentTransforms": os.cpu_count() or 1, "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": MAX_CONTENT_LENGTH // 1024 ** 2}
            self._reply(200, json.dumps(body).encode(), "application/json")
        else:
            self._reply(404, b"Not Found", "text/plain")

    def do_DELETE(self) -> None:
        name = self.path[len("/models/"):] if self.path.startswith("/models/") else None
        if self.models is None or name is None or self.models.pop(name, None) is None:
            self._reply(404, b"Not Found", "text/plain")
        else:
            self._reply(200, json.dumps({"status": f"Model {name} unloaded"}).encode(), "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_CONTENT_LENGTH:
            self.rfile.read(length)
            self._reply(413, b"Request Entity Too Large", "text/plain")
            return
        body = self.rfile.read(length)
        model = self.model
        if self.models is not None and self.path == "/models":
            self._load(body)
            return
        if self.models is not None and self.path.startswith("/models/") and self.path.endswith("/invoke"):
            entry = self.models.get(self.path[len("/models/"):-len("/invoke")])
            if entry is None:
                self._reply(404, b"Model is not loaded", "text/plain")
                return
            model = entry[1]
        elif self.path != "/invocations" or model is None:
            self._reply(404, b"Not Found", "text/plain")
            return
        if not body:
            self._reply(204, b"", "text/plain")
            return
        status, payload, content_type = invoke(model, body, self.headers.get("Content-Type"),
                                               self.headers.get("Accept"), self.lock)
        self._reply(status, payload, content_type)

    def _load(self, body: bytes) -> None:
        """Multi-model endpoints (mms-container-apis.md): load {"model_name", "url"}; 409 if it is loaded."""
        try:
            request = json.loads(body or b"{}")
            name, url = request["model_name"], request["url"]
        except (ValueError, KeyError, TypeError):
            self._reply(400, b'expected {"model_name": ..., "url": ...}', "text/plain")
            return
        with self.lock:
            if name in self.models:
                self._reply(409, f"Model {name} is already loaded".encode(), "text/plain")
                return
            try:
                self.models[name] = (url, inference.Model.load(Path(url)))
            except Exception as exc:
                log.exception("Unable to load model %s from %s", name, url)
                self._reply(500, f"Unable to load model {name}: {exc}".encode(), "text/plain")
                return
        self._reply(200, json.dumps({"status": f"Model {name} loaded"}).encode(), "application/json")

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
    if os.environ.get("SAGEMAKER_MULTI_MODEL", "").lower() == "true":
        Handler.models = {}   # models arrive through POST /models
        log.info("Multi-model server: models are loaded on request")
    else:
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
