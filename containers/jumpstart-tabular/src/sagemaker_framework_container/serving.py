"""`serve` for script-mode models: the user's inference script behind SageMaker's hosting contract.

Follows AWS's sagemaker-inference toolkit (read for behaviour): the code named by SAGEMAKER_PROGRAM
lives in SAGEMAKER_SUBMIT_DIRECTORY, which is `/opt/ml/model/code` when the SDK repacked it into
model.tar.gz (JumpStart's case) or an S3 / local sourcedir.tar.gz; the script supplies `model_fn`
and either `transform_fn` or `input_fn` / `predict_fn` / `output_fn` (defaults below). One process,
stdlib HTTP server on SAGEMAKER_BIND_TO_PORT (8080): GET /ping, POST /invocations,
GET /execution-parameters (batch transform).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL_DIR = Path("/opt/ml/model")
CODE_DIR = Path("/opt/ml/code")
DEFAULT_ACCEPT = "application/json"
MAX_CONTENT_LENGTH = 6 * 1024 * 1024 * 4  # SageMaker caps at 6 MB; batch payloads may be larger


class UnsupportedMediaType(ValueError):
    pass


class Handler:
    """The user module's functions, with the toolkit's defaults for the missing ones."""

    def __init__(self, module) -> None:
        self.module = module
        model_fn = getattr(module, "model_fn", None)
        if model_fn is None:
            raise RuntimeError(f"{module.__file__} defines no model_fn(model_dir)")
        self.model = model_fn(str(MODEL_DIR))
        self.lock = threading.Lock()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        m = self.module
        with self.lock:
            if hasattr(m, "transform_fn"):
                result = m.transform_fn(self.model, body, content_type, accept)
            else:
                data = getattr(m, "input_fn", default_input_fn)(body, content_type)
                prediction = (m.predict_fn(data, self.model) if hasattr(m, "predict_fn")
                              else self.model.predict(data))
                result = getattr(m, "output_fn", default_output_fn)(prediction, accept)
        if isinstance(result, tuple):
            payload, response_type = result
        else:
            payload, response_type = result, accept
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return bytes(payload), response_type


def default_input_fn(body: bytes, content_type: str):
    import numpy as np
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        return np.asarray(json.loads(body))
    if kind == "text/csv":
        return np.genfromtxt(io.StringIO(body.decode("utf-8")), delimiter=",", ndmin=2)
    if kind == "application/x-npy":
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise UnsupportedMediaType(f"Content type {content_type} is not supported by the default input_fn")


def default_output_fn(prediction, accept: str):
    import numpy as np
    kind = (accept or DEFAULT_ACCEPT).split(";")[0].strip().lower()
    array = np.asarray(prediction)
    if kind == "application/json":
        return json.dumps(array.tolist()), "application/json"
    if kind == "text/csv":
        buffer = io.StringIO()
        np.savetxt(buffer, array if array.ndim else array.reshape(1), delimiter=",", fmt="%s")
        return buffer.getvalue(), "text/csv"
    if kind == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue(), "application/x-npy"
    raise UnsupportedMediaType(f"Accept {accept} is not supported by the default output_fn")


def code_directory() -> Path:
    """Where the inference script is, fetching/unpacking SAGEMAKER_SUBMIT_DIRECTORY when it is a tarball."""
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", str(MODEL_DIR / "code"))
    if Path(submit).is_dir():
        return Path(submit)
    from sagemaker_training import files  # S3 through S3_ENDPOINT_URL, or a local tarball
    CODE_DIR.mkdir(parents=True, exist_ok=True)
    files.download_and_extract(submit, str(CODE_DIR))
    return CODE_DIR


def load_module():
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    directory = code_directory()
    path = directory / program
    if not path.is_file():
        raise RuntimeError(f"SAGEMAKER_PROGRAM {program} not found in {directory}")
    sys.path.insert(0, str(directory))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def make_request_handler(handler: Handler):
    default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", DEFAULT_ACCEPT)

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args) -> None:  # one access line per request, as the toolkit's server
            sys.stdout.write(f"{self.address_string()} - {fmt % args}\n")

        def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self.reply(200, b"")
            elif self.path == "/execution-parameters":
                self.reply(200, json.dumps({"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD",
                                            "MaxPayloadInMB": 6}).encode())
            else:
                self.reply(404, json.dumps({"message": f"no route {self.path}"}).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_CONTENT_LENGTH:
                self.rfile.read(length)
                self.reply(413, b'{"message": "payload too large"}')
                return
            body = self.rfile.read(length)
            if self.path != "/invocations":
                self.reply(404, json.dumps({"message": f"no route {self.path}"}).encode())
                return
            content_type = self.headers.get("Content-Type") or "text/csv"
            accept = self.headers.get("Accept") or default_accept
            if accept.strip() in ("*/*", ""):
                accept = default_accept
            try:
                payload, response_type = handler.invoke(body, content_type, accept)
            except UnsupportedMediaType as exc:
                self.reply(415, json.dumps({"message": str(exc)}).encode())
            except Exception as exc:  # noqa: BLE001 - the client gets a ModelError carrying this message
                traceback.print_exc()
                self.reply(500, json.dumps({"message": f"{type(exc).__name__}: {exc}"}).encode())
            else:
                self.reply(200, payload, response_type)

    return RequestHandler


def main() -> None:
    # As PID 1 a process ignores SIGTERM unless it handles it; DeleteEndpoint should not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    handler = Handler(load_module())
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    print(f"model server listening on :{port} ({os.environ.get('SAGEMAKER_PROGRAM', 'inference.py')})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), make_request_handler(handler)).serve_forever()
