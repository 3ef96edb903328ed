"""`serve` for script-mode models: the user's inference script behind SageMaker's hosting contract, in the
emulator's framework images (scikit-learn, PyTorch, XGBoost script mode, JumpStart's tabular scripts).

Follows AWS's sagemaker-inference toolkit (read for behaviour): the code named by SAGEMAKER_PROGRAM lives
in SAGEMAKER_SUBMIT_DIRECTORY, which is `/opt/ml/model/code` when the SDK repacked it into model.tar.gz or
an S3 / local sourcedir.tar.gz; the script supplies `model_fn` and either `transform_fn` or `input_fn` /
`predict_fn` / `output_fn`. What it leaves out comes from the image's defaults (the module named by
SAGEMAKER_DEFAULT_HANDLERS, e.g. XGBoost's model loader), then the toolkit's decoders and encoders
(application/json, text/csv, application/x-npy).

One process, stdlib HTTP server on SAGEMAKER_BIND_TO_PORT (8080), TCP_NODELAY (a response's head and
body are written separately; with Nagle they meet the client's delayed ACK and cost 40 ms a call):
GET /ping, POST /invocations, GET /execution-parameters (batch transform). An exception with a
`status_code` (the toolkit's GenericInferenceToolkitError) answers with it, any other with 500. A
`transform_fn`/`output_fn` that returns an iterator streams its chunks (chunked transfer encoding), which
InvokeEndpointWithResponseStream relays.

With SAGEMAKER_MULTI_MODEL=true the server speaks the multi-model API (mms-container-apis.md): POST /models
{"model_name", "url"} loads a model from its folder (409 if loaded), GET /models, GET|DELETE
/models/<name> (404 if absent), POST /models/<name>/invoke; each model's code is its own `code/` folder
if it has one, else the container's.
"""

from __future__ import annotations

import importlib
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
from types import ModuleType
from typing import Any

MODEL_DIR = Path("/opt/ml/model")
CODE_DIR = Path("/opt/ml/code")
DEFAULT_ACCEPT = "application/json"
MAX_CONTENT_LENGTH = 6 * 1024 * 1024 * 4  # SageMaker caps at 6 MB; batch payloads may be larger
SUPPORTED = ("application/json", "text/csv", "application/x-npy")


class UnsupportedMediaType(ValueError):
    status_code = 415


def _base(media_type: str) -> str:
    return media_type.split(";")[0].strip().lower()


def default_input_fn(body: bytes, content_type: str):
    import numpy as np
    kind = _base(content_type or "")
    if kind == "application/json":
        return np.asarray(json.loads(body))
    if kind == "text/csv":
        return np.genfromtxt(io.StringIO(body.decode("utf-8")), delimiter=",", ndmin=2)
    if kind == "application/x-npy":
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise UnsupportedMediaType(f"Content type {content_type} is not supported by the default input_fn")


def default_output_fn(prediction, accept: str):
    """The first type of `accept` (a header may list several) the toolkit's encoders know."""
    import numpy as np
    kinds = [_base(a) for a in (accept or DEFAULT_ACCEPT).split(",") if a.strip()]
    kind = next((k for k in kinds if k in SUPPORTED), None)
    if kind is None:
        raise UnsupportedMediaType(f"Accept {accept} is not supported by the default output_fn")
    array = np.asarray(prediction)
    if kind == "application/json":
        return json.dumps(array.tolist()), "application/json"
    if kind == "text/csv":
        buffer = io.StringIO()
        np.savetxt(buffer, array if array.ndim else array.reshape(1), delimiter=",", fmt="%s")
        return buffer.getvalue(), "text/csv"
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue(), "application/x-npy"


def _image_defaults() -> ModuleType | None:
    name = os.environ.get("SAGEMAKER_DEFAULT_HANDLERS")
    return importlib.import_module(name) if name else None


class Handler:
    """One model: the user module's functions, with the image's and the toolkit's defaults for the rest."""

    def __init__(self, module: ModuleType | None, model_dir: Path) -> None:
        self.module = module
        self.defaults = _image_defaults()
        model_fn = self._fn("model_fn")
        if model_fn is None:
            where = module.__file__ if module is not None else "the model"
            raise RuntimeError(f"{where} defines no model_fn(model_dir)")
        self.model = model_fn(str(model_dir))
        self.lock = threading.Lock()

    def _fn(self, name: str):
        for source in (self.module, self.defaults):
            fn = getattr(source, name, None) if source is not None else None
            if fn is not None:
                return fn
        return None

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[Any, str]:
        with self.lock:
            transform_fn = getattr(self.module, "transform_fn", None)  # the user's only: it replaces the rest
            if transform_fn is not None:
                result = transform_fn(self.model, body, content_type, accept)
            else:
                data = (self._fn("input_fn") or default_input_fn)(body, content_type)
                predict_fn = self._fn("predict_fn")
                prediction = predict_fn(data, self.model) if predict_fn else self.model.predict(data)
                result = (self._fn("output_fn") or default_output_fn)(prediction, accept)
        payload, response_type = result if isinstance(result, tuple) else (result, accept)
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
        return payload, response_type


def code_directory(model_dir: Path = MODEL_DIR) -> Path:
    """Where the inference script is, fetching/unpacking SAGEMAKER_SUBMIT_DIRECTORY when it is a tarball."""
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", str(model_dir / "code"))
    if Path(submit).is_dir():
        return Path(submit)
    if not submit.startswith(("s3://", "file://")) and not submit.endswith(".tar.gz"):
        return Path(submit)
    from sagemaker_training import files  # S3 through S3_ENDPOINT_URL, or a local tarball
    CODE_DIR.mkdir(parents=True, exist_ok=True)
    files.download_and_extract(submit, str(CODE_DIR))
    return CODE_DIR


def load_module(directory: Path, required: bool = True) -> ModuleType | None:
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    path = directory / program
    if not path.is_file():
        if required and not os.environ.get("SAGEMAKER_DEFAULT_HANDLERS"):
            raise RuntimeError(f"SAGEMAKER_PROGRAM {program} not found in {directory}")
        return None
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    name = f"{path.stem}_{abs(hash(str(path)))}" if not required else path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Models:
    """The multi-model registry: model name -> Handler."""

    def __init__(self) -> None:
        self.loaded: dict[str, tuple[str, Handler]] = {}
        self.lock = threading.Lock()
        self._shared: ModuleType | None = None
        self._shared_loaded = False

    def _module_for(self, model_dir: Path) -> ModuleType | None:
        own = model_dir / "code"
        if (own / os.environ.get("SAGEMAKER_PROGRAM", "inference.py")).is_file():
            return load_module(own, required=False)
        if not self._shared_loaded:
            self._shared_loaded = True
            if os.environ.get("SAGEMAKER_PROGRAM") or os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY"):
                self._shared = load_module(code_directory(model_dir), required=False)
        return self._shared

    def load(self, name: str, url: str) -> int:
        with self.lock:
            if name in self.loaded:
                return 409
            model_dir = Path(url)
            self.loaded[name] = (url, Handler(self._module_for(model_dir), model_dir))
            return 200


def _status_of(exc: Exception) -> int:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 600 else 500


def make_request_handler(handler: Handler | None, models: Models | None = None):
    default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", DEFAULT_ACCEPT)

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args) -> None:  # one access line per request, as the toolkit's server
            sys.stdout.write(f"{self.address_string()} - {fmt % args}\n")

        def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, message: str) -> None:
            self.reply(status, json.dumps({"code": status, "message": message}).encode())

        def stream(self, chunks, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
                if data:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def do_GET(self) -> None:
            if self.path == "/ping":
                self.reply(200, b"")
            elif self.path == "/execution-parameters":
                self.reply(200, json.dumps({"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD",
                                            "MaxPayloadInMB": 6}).encode())
            elif models is not None and self.path == "/models":
                self.reply(200, json.dumps({"models": [{"modelName": n, "modelUrl": u}
                                                       for n, (u, _) in models.loaded.items()]}).encode())
            elif models is not None and self.path.startswith("/models/"):
                name = self.path[len("/models/"):]
                if name not in models.loaded:
                    self.error(404, f"Model {name} is not loaded")
                else:
                    self.reply(200, json.dumps([{"modelName": name, "modelUrl": models.loaded[name][0]}]).encode())
            else:
                self.error(404, f"no route {self.path}")

        def do_DELETE(self) -> None:
            name = self.path[len("/models/"):] if self.path.startswith("/models/") else None
            if models is None or name is None:
                self.error(404, f"no route {self.path}")
            elif models.loaded.pop(name, None) is None:
                self.error(404, f"Model {name} is not loaded")
            else:
                self.reply(200, json.dumps({"status": f"Model {name} unloaded"}).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_CONTENT_LENGTH:
                self.rfile.read(length)
                self.error(413, "payload too large")
                return
            body = self.rfile.read(length)
            target = handler
            if models is not None and self.path == "/models":
                self.load_model(body)
                return
            if models is not None and self.path.startswith("/models/") and self.path.endswith("/invoke"):
                entry = models.loaded.get(self.path[len("/models/"):-len("/invoke")])
                if entry is None:
                    self.error(404, "Model is not loaded")
                    return
                target = entry[1]
            elif self.path != "/invocations" or target is None:
                self.error(404, f"no route {self.path}")
                return
            content_type = self.headers.get("Content-Type") or "text/csv"
            accept = self.headers.get("Accept") or default_accept
            if accept.strip() in ("*/*", ""):
                accept = default_accept
            try:
                payload, response_type = target.invoke(body, content_type, accept)
            except Exception as exc:  # noqa: BLE001 - the client gets a ModelError carrying this message
                traceback.print_exc()
                self.error(_status_of(exc), str(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"))
                return
            if isinstance(payload, bytes):
                self.reply(200, payload, response_type)
            else:
                self.stream(payload, response_type)

        def load_model(self, body: bytes) -> None:
            try:
                request = json.loads(body or b"{}")
                name, url = request["model_name"], request["url"]
            except (ValueError, KeyError, TypeError):
                self.error(400, "expected {\"model_name\": ..., \"url\": ...}")
                return
            try:
                status = models.load(name, url)
            except MemoryError:
                self.error(507, "Insufficient memory to load the model")
                return
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                self.error(500, f"Could not load model {name}: {type(exc).__name__}: {exc}")
                return
            if status == 409:
                self.error(409, f"Model {name} is already loaded")
            else:
                self.reply(200, json.dumps({"status": f"Model {name} loaded"}).encode())

    return RequestHandler


def main() -> None:
    # As PID 1 a process ignores SIGTERM unless it handles it; DeleteEndpoint should not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    if os.environ.get("SAGEMAKER_MULTI_MODEL", "").lower() == "true":
        server = ThreadingHTTPServer(("0.0.0.0", port), make_request_handler(None, Models()))
        print(f"multi-model server listening on :{port}", flush=True)
    else:
        handler = Handler(load_module(code_directory()), MODEL_DIR)
        server = ThreadingHTTPServer(("0.0.0.0", port), make_request_handler(handler))
        print(f"model server listening on :{port} ({os.environ.get('SAGEMAKER_PROGRAM', 'inference.py')})",
              flush=True)
    server.daemon_threads = True
    server.serve_forever()
