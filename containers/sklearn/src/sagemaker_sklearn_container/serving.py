"""Placeholder model server for `serve`.

AWS's image serves the user's model_fn/input_fn/predict_fn/output_fn through sagemaker-inference;
that comes with the emulator's inference work. Until then the container starts and answers the
hosting contract's health check on SAGEMAKER_BIND_TO_PORT (default 8080), and /invocations says
plainly that it cannot predict yet rather than the container dying at start.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, {"status": "healthy"})
        else:
            self._reply(404, {"message": f"no route {self.path}"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/invocations":
            self._reply(
                501, {"message": "scikit-learn model serving is not implemented in this emulator image yet"}
            )
        else:
            self._reply(404, {"message": f"no route {self.path}"})


def main() -> None:
    # As PID 1 a process ignores SIGTERM unless it handles it; DeleteEndpoint should not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    print(f"sagemaker-emulator sklearn placeholder server listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), _Handler).serve_forever()
