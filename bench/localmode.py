"""Helpers for benches that run the SageMaker SDK's local mode, which leaves its docker-compose
containers and network behind."""

from __future__ import annotations

from contextlib import contextmanager

import docker


@contextmanager
def cleaned_up_local_mode():
    client = docker.from_env()
    before = {c.id for c in client.containers.list(all=True)}
    try:
        yield
    finally:
        for container in client.containers.list(all=True):
            if container.id not in before and "com.docker.compose.project" in container.labels:
                container.remove(force=True)
        for network in client.networks.list(names=["sagemaker-local"]):
            try:
                network.remove()
            except docker.errors.APIError:
                pass
