"""What every job run shares: the container backend, the labels and names that tell this emulator's
containers apart, the one container-log writer, image resolution, and the address job containers
reach the emulator at. The job controller (emulator.runtime.controllers.jobs) decides what runs;
this only provides the means.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from docker.errors import DockerException

from emulator.core.builtin_metrics import builtin_metric_definitions
from emulator.core.services import Services
from emulator.runtime import images
from emulator.runtime.docker_backend import DockerBackend, client
from emulator.runtime.logpump import LogWriter

log = logging.getLogger(__name__)

LABEL = "sagemaker-emulator"
# The Docker network the SageMaker SDK's local mode (docker-compose) creates for its containers.
SDK_LOCAL_MODE_NETWORK = "sagemaker-local"


class JobFailure(Exception):
    """Ends a job as Failed with this FailureReason."""


def instance_id(data_dir: Path) -> str:
    """The value of the `sagemaker-emulator` label on the containers and networks of the emulator
    whose data dir this is."""
    return hashlib.sha1(str(data_dir).encode()).hexdigest()[:10]


def remove_containers(data_dir: Path) -> int:
    """Remove every container and network of the emulator with this data dir (for test teardown:
    a stopped emulator otherwise leaves running jobs to re-attach on its next start)."""
    backend, labels = DockerBackend(), {LABEL: instance_id(Path(data_dir).resolve())}
    found = backend.find(labels)
    for container in found:
        backend.remove(container.id)
    for network in backend.find_networks(labels):
        backend.remove_network(network)
    return len(found)


class Runtime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.backend = DockerBackend()
        # Containers are labelled with a hash of the data dir, so two emulators on one engine
        # never adopt each other's containers.
        self.instance_id = instance_id(services.settings.data_dir)
        tag = services.settings.name_tag
        self.container_prefix = f"smemu-{tag + '-' if tag else ''}{self.instance_id[:6]}"
        self.keep_job_dirs = services.settings.keep_job_dirs
        self.logs = LogWriter(services)
        self._transforms = None
        self._transforms_lock = threading.Lock()
        self._proxy = None
        self._endpoint: str | None = None
        # The jobs network was used, by this run or by jobs that ran before a restart: give it back at shutdown.
        self.jobs_network_used = False
        self._endpoint_lock = threading.Lock()

    # --- names and labels --------------------------------------------------------------------------
    def job_labels(self, kind: str, name: str) -> dict[str, str]:
        return {LABEL: self.instance_id, f"{LABEL}.kind": kind, f"{LABEL}.job": name}

    def containers(self, kind: str | None = None, name: str | None = None) -> list:
        """This emulator's containers, of one job when `kind` and `name` are given."""
        labels = self.job_labels(kind, name) if kind and name else {LABEL: self.instance_id}
        return self.backend.find(labels)

    @property
    def transforms(self):
        """The one event loop that drives every batch transform job's containers (started on first use)."""
        with self._transforms_lock:
            if self._transforms is None:
                from emulator.runtime.batch.driver import TransformEngine
                self._transforms = TransformEngine(self.services, self.logs)
            return self._transforms

    # --- images and the endpoint containers use --------------------------------------------------
    def resolve_image(self, uri: str, job_name: str, on_status: Callable[[str], None] | None = None) -> str:
        """The local image for `uri`, built first if need be: the build's progress goes to the server log
        and, one line per change ("Building local image sagemaker-emulator/xgboost (step 3/7)"), to
        `on_status`. A job waiting for another's build of the same image hears the same."""
        last = [""]

        def progress(event: images.BuildEvent) -> None:
            log.debug("[%s] %s", job_name, event)
            if event.status != last[0]:
                last[0] = event.status
                log.info("[%s] %s", job_name, event.status)
                if on_status is not None:
                    on_status(event.status)
        try:
            return images.image_for_uri(uri, client(), progress)
        except images.ImageUnavailableError as exc:
            raise JobFailure(f"ClientError: {exc}") from exc
        except images.ImageBuildError as exc:
            raise JobFailure(f"InternalServerError: building the local image for {uri} failed: {exc}") from exc

    def unavailable_image_reason(self, image_uri: str) -> str | None:
        """Why a SageMaker image cannot run here, when it is one the emulator does not provide."""
        try:
            resolved = images.resolve_image_uri(image_uri, client())
        except (DockerException, OSError):  # no engine answering: judge by the URI alone
            resolved = images.resolve_image_uri(image_uri, None)
        return resolved.failure_reason if resolved is not None else None

    def builtin_metric_definitions(self, image_uri: str, user_defs: list[dict]) -> list[dict]:
        """Built-in algorithms' platform metric definitions (filled in even when the request has none)."""
        names = {d["Name"] for d in user_defs}
        return [d for d in builtin_metric_definitions(image_uri) if d["Name"] not in names]

    @property
    def jobs_network(self) -> str:
        """The Docker network every job container that may reach the emulator joins (not the default
        bridge, where every container on the host could reach the forwarder)."""
        return f"{self.container_prefix}-jobs"

    def _job_subnets(self) -> list[str]:
        # Besides our own job networks: the network the SageMaker SDK's local mode puts its containers
        # on (`sagemaker-emulator env --local-mode` hands them the forwarder as their S3 endpoint). They
        # are started by the user's own SDK code, as deliberately as a job (docs/security.md).
        return (self.backend.network_subnets({LABEL: self.instance_id})
                + self.backend.network_subnets(names=(SDK_LOCAL_MODE_NETWORK,)))

    def create_job_network(self, name: str, *, internal: bool) -> None:
        self.backend.remove_network(name)
        self.backend.create_network(name, internal=internal, labels={LABEL: self.instance_id})
        if self._proxy is not None:
            self._proxy.networks_changed()

    @property
    def serving_network(self) -> str:
        """The Docker network serving containers join: the jobs network (the emulator reaches them at their
        address on it, and they reach the emulator's forwarder on its gateway)."""
        self.container_endpoint()   # makes sure the network (and the forwarder) exist
        return self.jobs_network

    def container_environment(self, region: str, isolated: bool) -> dict[str, str]:
        """What every container of ours gets: its region, the credentials it signs with and, unless it is
        network-isolated, the address of this emulator (AWS_ENDPOINT_URL)."""
        key, secret = self.services.settings.job_credentials
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": key,
               "AWS_SECRET_ACCESS_KEY": secret}
        if not isolated:
            endpoint = self.container_endpoint()
            if endpoint:
                env.update(AWS_ENDPOINT_URL=endpoint, S3_ENDPOINT_URL=endpoint)
        return env

    def container_endpoint(self) -> str | None:
        """AWS_ENDPOINT_URL for containers: a forwarder on the jobs network's gateway that accepts
        connections from the subnets of this emulator's own (non-internal) job networks only."""
        settings = self.services.settings
        with self._endpoint_lock:
            if self._endpoint is None:
                self.jobs_network_used = True
                address = self.backend.ensure_network(self.jobs_network, labels={
                    LABEL: self.instance_id, f"{LABEL}.role": "jobs"})
                if settings.container_endpoint:
                    self._endpoint = settings.container_endpoint
                elif address is None:
                    return None
                elif settings.host in ("0.0.0.0", "::", address.gateway):
                    self._endpoint = f"{settings.scheme}://{address.gateway}:{settings.port}"
                else:
                    from emulator.runtime.endpoint_proxy import EndpointProxy
                    self._proxy = EndpointProxy(address.gateway, settings.host, settings.port,
                                                admitted=self._job_subnets)
                    port = self._proxy.start(settings.port)
                    self._endpoint = f"{settings.scheme}://{address.gateway}:{port}"
            return self._endpoint

    # --- housekeeping -----------------------------------------------------------------------------
    def remove_scratch(self, path: Path) -> None:
        if not path.exists():
            return
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() and os.geteuid() != 0:
            # Files written by root inside containers: remove them from a container, so nothing
            # root-owned is left behind in the user's data dir.
            subprocess.run(["docker", "run", "--rm", "-v", f"{path.parent}:/scratch", "--entrypoint", "rm",
                            images.ensure_image("base", None), "-rf", f"/scratch/{path.name}"], capture_output=True)

    def remove_all(self) -> None:
        """Every container and network of this emulator (a reset)."""
        for c in self.containers():
            self.backend.remove(c.id)
        for net in self.backend.find_networks({LABEL: self.instance_id}):
            if net != self.jobs_network:  # the forwarder listens on it
                self.backend.remove_network(net)

    def shutdown(self) -> None:
        # Containers keep running across an emulator restart (the job controller adopts them).
        if self._transforms is not None:
            self._transforms.stop()
        self.logs.close()
        if self._proxy is not None:
            self._proxy.stop()
        if self.jobs_network_used:
            # Docker has room for a few dozen bridge networks: give ours back. Docker refuses while
            # job containers are still attached; then the next start reuses it.
            self.backend.remove_network(self.jobs_network)
