"""Run an algorithm image's `serve` the way an endpoint would, for serving tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

TEST_LABEL = {"sagemaker-emulator.test": "serving"}


@contextmanager
def serve_container(image: str, model_dir: Path, *, environment: dict[str, str] | None = None,
                    writable: bool = False, timeout: float = 60,
                    labels: dict[str, str] | None = None) -> Iterator[str]:
    """`docker run <image> serve` with `model_dir` at /opt/ml/model; yields the base URL once /ping
    answers, and removes the container afterwards."""
    import docker

    client = docker.from_env()
    container = client.containers.run(
        image, ["serve"], detach=True, labels=labels or TEST_LABEL, ports={"8080/tcp": ("127.0.0.1", None)},
        environment=environment or {},
        volumes={str(model_dir): {"bind": "/opt/ml/model", "mode": "rw" if writable else "ro"}})
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            container.reload()
            if container.status == "exited":
                raise AssertionError(f"serve exited: {container.logs().decode()}")
            port = (container.ports.get("8080/tcp") or [{}])[0].get("HostPort")
            if port:
                url = f"http://127.0.0.1:{port}"
                try:
                    if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                        yield url
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer /ping: {container.logs().decode()}")
    finally:
        container.remove(force=True)
        client.close()
