"""Serving instances in Docker: one instance of an endpoint variant is one container per container of its
model (an inference pipeline has several), started with `serve`, labelled so that a restarted emulator
finds it again, its output followed into /aws/sagemaker/Endpoints/<endpoint>, stream
<variant>/<instance-id> (the stream the SDK's live logging filters on, inference_and_monitoring.md §1.6).

`launch` stages each container's model (the artifact unpacked into a host folder mounted at
/opt/ml/model) and starts the containers; `adopt` rebuilds an instance from containers found by label;
`ping` is the health check (GET /ping, 2 s timeout, as SageMaker's).
"""

from __future__ import annotations

import http.client
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.runtime import staging
from emulator.runtime.backend import ContainerSpec, ContainerState, Mount
from emulator.runtime.contracts import serving
from emulator.runtime.instance_types import limits_for
from emulator.runtime.logpump import MetricSeries, follow
from emulator.runtime.serving.routes import Instance, Target
from emulator.runtime.supervisor import LABEL, Runtime

log = logging.getLogger(__name__)

KIND = "Endpoint"
LOG_GROUP = "/aws/sagemaker/Endpoints"
PING_TIMEOUT = 2.0


@dataclass
class Member:
    """One instance of a deployment, as the controller tracks it."""
    endpoint: str
    deployment: str
    instance: Instance
    container_ids: list[str]
    started: float                       # wall clock
    healthy: bool = False
    next_ping: float = 0.0
    ping_delay: float = 0.05
    followers: list[threading.Thread] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return self.instance.variant, self.instance.index


def labels(runtime: Runtime, endpoint: str, deployment: str, variant: str, index: int, instance_id: str,
           position: int, stream: str) -> dict[str, str]:
    return {**runtime.job_labels(KIND, endpoint), f"{LABEL}.deployment": deployment, f"{LABEL}.variant": variant,
            f"{LABEL}.index": str(index), f"{LABEL}.instance": instance_id, f"{LABEL}.position": str(position),
            f"{LABEL}.stream": stream}


def instance_folder(runtime: Runtime, endpoint: str, deployment: str, variant: str, index: int) -> Path:
    return runtime.services.settings.jobs_dir / "endpoints" / endpoint / deployment / f"{variant}-{index}"


def stream_name(variant: str, instance_id: str, position: int, count: int, definition: dict[str, Any]) -> str:
    stream = f"{variant}/{instance_id}"
    return stream if count == 1 else f"{stream}/{serving.hostname(definition, position)}"


def _stage(runtime: Runtime, definition: dict[str, Any], folder: Path, name: str) -> list[Mount]:
    source = serving.model_source(definition)
    if source is not None and source.kind == "multi-model":
        models = folder / "models"
        models.mkdir(parents=True, exist_ok=True)
        return [Mount(str(models), serving.MODELS_DIR)]
    model = folder / "model"
    model.mkdir(parents=True, exist_ok=True)
    if source is not None and source.kind == "archive":
        staging.extract_model(runtime.services, source.uri, model, container=name)
    elif source is not None:
        staging.copy_model_prefix(runtime.services, source.uri, model)
    return [Mount(str(model), serving.MODEL_DIR)]


def launch(runtime: Runtime, endpoint: str, region: str, deployment: str, variant: dict[str, Any], index: int,
           images: dict[str, str], wake: Callable[[], None]) -> Member:
    """Start one instance of `variant` (its model snapshot in variant["Model"]); `images` maps each
    container's image URI to the local image already resolved. Raises StagingError for the model."""
    model = variant["Model"]
    definitions = serving.definitions(model)
    instance_id = "i-" + secrets.token_hex(9)[:17]
    folder = instance_folder(runtime, endpoint, deployment, variant["VariantName"], index)
    shutil.rmtree(folder, ignore_errors=True)
    limits = limits_for(variant.get("InstanceType") or "")
    memory = limits.memory_bytes
    if variant.get("ServerlessConfig"):
        memory = int(variant["ServerlessConfig"]["MemorySizeInMB"]) * 1024 * 1024
    isolated = bool(model.get("EnableNetworkIsolation"))
    base = runtime.container_environment(region, isolated)
    targets, ids, models_dir = [], [], None
    member = Member(endpoint, deployment, Instance(instance_id, variant["VariantName"], index, targets,
                                                   stream_name(variant["VariantName"], instance_id, 0, 1, {})),
                    ids, time.time())
    try:
        for position, definition in enumerate(definitions):
            name = serving.container_name(definition, position, len(definitions))
            container_folder = folder / f"container-{position + 1}"
            mounts = _stage(runtime, definition, container_folder, f"container_{position + 1}")
            if serving.is_multi_model(definition):
                models_dir = container_folder / "models"
            stream = stream_name(variant["VariantName"], instance_id, position, len(definitions), definition)
            spec = ContainerSpec(
                name=f"{runtime.container_prefix}-ep-{endpoint}-{deployment[:6]}-{variant['VariantName']}-{index}"
                     f"-{position + 1}"[:200],
                image=images[definition["Image"]], hostname=serving.hostname(definition, position),
                environment={**base, **serving.environment(definition)},
                labels=labels(runtime, endpoint, deployment, variant["VariantName"], index, instance_id, position,
                              stream),
                mounts=mounts, command=serving.command(), cpus=limits.vcpus, memory_bytes=memory,
                network=runtime.serving_network)
            runtime.backend.remove(spec.name)
            container_id = runtime.backend.start(spec)
            ids.append(container_id)
            address = runtime.backend.address(container_id)
            targets.append(Target((address or "127.0.0.1", serving.port(definition)), name, container_id))
            member.followers.append(_follow(runtime, endpoint, container_id, stream, None, wake))
    except BaseException:
        for container_id in ids:
            runtime.backend.remove(container_id)
        raise
    member.instance.models_dir = models_dir
    return member


def adopt(runtime: Runtime, endpoint: str, variant: dict[str, Any], states: list[ContainerState],
          wake: Callable[[], None]) -> Member | None:
    """An instance from its containers (found by label after a restart); None when one is missing."""
    definitions = serving.definitions(variant["Model"])
    by_position = {int(s.labels.get(f"{LABEL}.position", "0")): s for s in states}
    if sorted(by_position) != list(range(len(definitions))) or not all(s.running for s in states):
        return None
    first = by_position[0].labels
    deployment, index = first[f"{LABEL}.deployment"], int(first[f"{LABEL}.index"])
    instance_id = first[f"{LABEL}.instance"]
    folder = instance_folder(runtime, endpoint, deployment, variant["VariantName"], index)
    targets, ids, models_dir = [], [], None
    member = Member(endpoint, deployment, Instance(instance_id, variant["VariantName"], index, targets,
                                                   f"{variant['VariantName']}/{instance_id}"), ids, time.time())
    for position, definition in enumerate(definitions):
        state = by_position[position]
        address = runtime.backend.address(state.id)
        if address is None:
            return None
        ids.append(state.id)
        targets.append(Target((address, serving.port(definition)),
                              serving.container_name(definition, position, len(definitions)), state.id))
        if serving.is_multi_model(definition):
            models_dir = folder / f"container-{position + 1}" / "models"
        stream = state.labels.get(f"{LABEL}.stream", member.instance.log_stream)
        member.followers.append(_follow(runtime, endpoint, state.id, stream, _last_event(runtime, endpoint, stream),
                                        wake))
    member.instance.models_dir = models_dir
    return member


def _follow(runtime: Runtime, endpoint: str, container_id: str, stream: str, since: float | None,
            wake: Callable[[], None]) -> threading.Thread:
    return follow(runtime.backend, container_id, runtime.logs, f"{LOG_GROUP}/{endpoint}", stream, MetricSeries([]),
                  since=since, on_end=wake)


def _last_event(runtime: Runtime, endpoint: str, stream: str) -> float | None:
    for found in runtime.services.logs.streams(f"{LOG_GROUP}/{endpoint}", stream):
        if found["name"] == stream and found["last_event"]:
            return found["last_event"] / 1000 + 0.001
    return None


def ping(target: Target, timeout: float = PING_TIMEOUT) -> bool:
    """GET /ping answered 200 within `timeout`."""
    connection = http.client.HTTPConnection(*target.address, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def remove(runtime: Runtime, member: Member) -> None:
    """The member's containers and its host folder (its staged model)."""
    for container_id in member.container_ids:
        runtime.backend.remove(container_id)
    shutil.rmtree(instance_folder(runtime, member.endpoint, member.deployment, member.instance.variant,
                                  member.instance.index), ignore_errors=True)


def deployed_images(runtime: Runtime, model: dict[str, Any], images: dict[str, str]) -> list[dict[str, Any]]:
    """DeployedImages: each container's image as specified and as resolved (its digest) when it was."""
    out = []
    for definition in serving.definitions(model):
        uri = definition["Image"]
        local = images.get(uri)
        image_id = runtime.backend.image_id(local) if local else None
        repository = uri.split("@")[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        entry = {"SpecifiedImage": uri, "ResolutionTime": time.time()}
        if image_id:
            entry["ResolvedImage"] = f"{repository}@{image_id}"  # the local image's sha256, as a digest
        out.append(entry)
    return out
