"""Run an algorithm image's `serve` the way an endpoint would, for serving tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from emulator.testing.waiting import wait_until

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
    def answering() -> str | None:
        container.reload()
        if container.status == "exited":
            raise AssertionError(f"serve exited: {container.logs().decode()}")
        port = (container.ports.get("8080/tcp") or [{}])[0].get("HostPort")
        if not port:
            return None
        try:
            ok = requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
        except requests.ConnectionError:
            return None
        return f"http://127.0.0.1:{port}" if ok else None

    try:
        try:
            url = wait_until(answering, timeout=timeout, what="serve answering /ping")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {container.logs().decode()[-3000:]}") from None
        yield url
    finally:
        container.remove(force=True)
        client.close()
