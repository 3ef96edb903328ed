"""A real emulator for tests: started as a subprocess (the default), run in a thread of the test
process, or found at a URL someone else started. All three give the same handle: where it is,
boto3 clients and an environment pointed at it, and a reset."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from emulator.testing.waiting import health, wait_for_health

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
START_TIMEOUT = 60.0
LOG_TAIL = 4000


class EmulatorStartError(RuntimeError):
    """The emulator did not answer its health check in time; the message ends with its log."""


class Emulator:
    """A running emulator. Clients made by `client()` share one botocore session, so a test pays
    for loading a service model once per service, not once per client."""

    def __init__(self, endpoint_url: str = "", data_dir: Path | None = None, *, region: str = REGION) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.data_dir = Path(data_dir) if data_dir else None
        self.region = region
        self.sdk_https_port: int | None = None  # the SDK's https listener (emulator/listeners.py), if known
        self._session = None
        self._session_lock = threading.Lock()

    # The project's tests say `server.endpoint`; it is the same URL.
    @property
    def endpoint(self) -> str:
        return self.endpoint_url

    @property
    def tls(self) -> bool:
        return self.endpoint_url.startswith("https:")

    @property
    def ca_bundle(self) -> str | None:
        """The CA bundle that trusts a --tls emulator whose data dir we know (else None)."""
        from emulator.tls import ca_bundle_path

        bundle = ca_bundle_path(self.data_dir / "tls") if self.data_dir and self.tls else None
        return str(bundle) if bundle and bundle.exists() else None

    def health(self) -> dict | None:
        return health(self.endpoint_url)

    def reset(self) -> None:
        """Empty every store (POST /_emulator/reset), as a fresh emulator would be."""
        import requests

        # A JSON request: the emulator refuses state-changing calls a cross-site browser form could send.
        response = requests.post(f"{self.endpoint_url}/_emulator/reset", json={}, timeout=120, verify=False)
        response.raise_for_status()

    def client(self, service: str, **config):
        """A boto3 client for `service` pointed at this emulator (botocore Config keywords allowed)."""
        from botocore.config import Config

        with self._session_lock:  # creating clients from one session is not thread-safe
            if self._session is None:
                import boto3
                self._session = boto3.session.Session(
                    region_name=self.region, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
            return self._session.client(service, endpoint_url=self.endpoint_url,
                                        verify=(self.ca_bundle or False) if self.tls else None,
                                        config=Config(**config) if config else None)

    def env(self) -> dict[str, str]:
        """What a process needs to use this emulator: endpoint, test credentials and region."""
        env = {"AWS_ENDPOINT_URL": self.endpoint_url, **CREDENTIALS, "AWS_DEFAULT_REGION": self.region,
               "AWS_REGION": self.region}
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env

    def client_env(self) -> dict[str, str]:
        """os.environ plus env(): the environment for a subprocess client (aws CLI, an SDK script)."""
        return {**os.environ, **self.env()}

    def stop(self) -> None:
        """Nothing to stop for an emulator someone else runs."""

    def discard(self) -> None:
        """Stop it for good (emulators this process started also lose their leftover job containers)."""
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint_url} data_dir={self.data_dir}>"


class ExternalEmulator(Emulator):
    """An emulator started elsewhere (docker compose, a CI service, `sagemaker-emulator serve`)."""

    def __init__(self, url: str, *, timeout: float = START_TIMEOUT, region: str = REGION) -> None:
        try:
            body = wait_for_health(url, timeout=timeout)
        except TimeoutError as exc:
            raise EmulatorStartError(str(exc)) from None
        data_dir = body.get("dataDir")
        super().__init__(url, Path(data_dir) if data_dir and Path(data_dir).is_dir() else None, region=region)
        self.sdk_https_port = body.get("sdkHttpsPort", -1)


class SubprocessEmulator(Emulator):
    """`python -m emulator.cli serve --port 0 --sdk-https-port 0` in its own process group; the ports it
    bound are read back from --port-file. restart() keeps them, so clients (and SDK set-ups) made
    before it keep working."""

    def __init__(self, data_dir: Path | None = None, *, tls: bool = False, env: dict[str, str] | None = None,
                 port: int = 0, start_timeout: float = START_TIMEOUT, region: str = REGION) -> None:
        super().__init__("", Path(data_dir or tempfile.mkdtemp(prefix="smemu-")), region=region)
        self.want_tls = tls
        self.port = port
        self.sdk_https_port = 0
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.port_file = self.data_dir.parent / f"{self.data_dir.name}-server.json"

    def start(self) -> SubprocessEmulator:
        import json

        self.port_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "emulator.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--port-file", str(self.port_file),
               "--sdk-https-port", str(self.sdk_https_port)]
        if self.want_tls:
            cmd.append("--tls")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env={**os.environ, **self.extra_env}, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        try:
            while not self.port_file.exists():
                if self.proc.poll() is not None:
                    raise TimeoutError("the emulator exited while starting")
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the emulator did not bind a port within {self.start_timeout:g} s")
                time.sleep(0.05)
            bound = json.loads(self.port_file.read_text())
            self.port, self.endpoint_url = bound["port"], bound["url"]
            self.sdk_https_port = bound.get("sdkHttpsPort", -1)
            wait_for_health(self.endpoint_url, timeout=max(1.0, deadline - time.monotonic()),
                            alive=lambda: self.proc is not None and self.proc.poll() is None)
        except TimeoutError as exc:
            self.kill()
            raise EmulatorStartError(f"{exc}; the end of its log ({self.log_path}):\n{self.log_tail()}") from None
        return self

    def log_tail(self, size: int = LOG_TAIL) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as a user stopping it would; SIGKILL if it does not exit within `timeout`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the server's process group: a crash, with no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.kill() if kill else self.stop()
        self.start()

    def discard(self) -> None:
        """Stop it and remove its job containers (a stopped emulator leaves them running, to re-attach
        on its next start)."""
        self.stop()
        remove_job_containers(self.data_dir)


class ThreadEmulator(Emulator):
    """uvicorn in a daemon thread of the test process (with the SDK's https listener on a free port):
    the quickest start, and breakpoints work in server code. Jobs still run in Docker containers."""

    def __init__(self, data_dir: Path | None = None, *, tls: bool = False, name_tag: str = "",
                 start_timeout: float = START_TIMEOUT, region: str = REGION) -> None:
        super().__init__("", Path(data_dir or tempfile.mkdtemp(prefix="smemu-")), region=region)
        self.want_tls = tls
        self.name_tag = name_tag
        self.start_timeout = start_timeout
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadEmulator:
        from emulator.config import Settings
        from emulator.listeners import bind_sdk_socket, serve, servers
        from emulator.server import create_app, listening_socket

        settings = Settings(host="127.0.0.1", port=0, data_dir=self.data_dir, tls=self.want_tls,
                            name_tag=self.name_tag, region=self.region, sdk_https_port=0)
        sock = listening_socket(settings.host, 0)
        settings.port = sock.getsockname()[1]
        sdk_socket = bind_sdk_socket(settings)
        self.sdk_https_port = settings.sdk_https_port
        self._server, follower = servers(create_app(settings), settings, sdk_socket)
        self._thread = threading.Thread(target=serve, args=(self._server, follower, sock, sdk_socket), daemon=True,
                                        name=f"sagemaker-emulator-{settings.port}")
        self._thread.start()
        self.endpoint_url = settings.url
        try:
            wait_for_health(self.endpoint_url, timeout=self.start_timeout, alive=self._thread.is_alive)
        except TimeoutError as exc:
            self.stop()
            raise EmulatorStartError(str(exc)) from None
        return self

    def stop(self, timeout: float = 30) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
        self._server = self._thread = None

    def discard(self) -> None:
        self.stop()
        remove_job_containers(self.data_dir)


def remove_job_containers(data_dir: Path | None) -> None:
    """Remove the containers an emulator with this data dir left behind, if Docker answers."""
    if data_dir is None:
        return
    try:
        from emulator.runtime.supervisor import remove_containers
        remove_containers(data_dir)
    except Exception:  # noqa: BLE001 - no Docker engine, no containers to remove
        pass
