"""Runs a real emulator server in a subprocess on a free loopback port, for tests and benches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
import urllib3
from botocore.config import Config

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatorProcess:
    def __init__(self, *, tls: bool = False, data_dir: Path | None = None, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.tls = tls
        self.port = port or free_port()
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="smemu-"))
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> "EmulatorProcess":
        cmd = [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir)]
        if self.tls:
            cmd.append("--tls")
        env = {**os.environ, **self.env}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.endpoint}/_emulator/health", timeout=1, verify=False).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("emulator did not start within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def reset(self) -> None:
        # A JSON request: the emulator refuses state-changing calls a cross-site browser form could send.
        requests.post(f"{self.endpoint}/_emulator/reset", json={}, timeout=60, verify=False).raise_for_status()

    def client(self, service: str, **config):
        return boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
            service, endpoint_url=self.endpoint, verify=False, config=Config(**config) if config else None)

    def client_env(self) -> dict[str, str]:
        """Environment for subprocess clients (aws CLI, SDK scripts) pointed at this emulator."""
        return {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
