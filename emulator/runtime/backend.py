"""The small interface a job runtime backend offers (Docker now; a process runner or Kubernetes
could follow). Runners speak only this, never the Docker SDK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass
class ContainerSpec:
    name: str
    image: str
    hostname: str
    environment: dict[str, str]
    labels: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    network: str | None = None          # a network name; None = the default bridge
    network_disabled: bool = False      # EnableNetworkIsolation on a single host
    cpus: float | None = None
    memory_bytes: int | None = None
    aliases: list[str] = field(default_factory=list)
    # An init process as PID 1 forwards SIGTERM: `train` entry points ignore it when they are PID 1.
    init: bool = True
    pids_limit: int = 4096


@dataclass
class NetworkAddress:
    gateway: str    # the host's address on the network
    subnet: str     # CIDR of the containers' addresses


@dataclass
class ContainerState:
    id: str
    labels: dict[str, str]
    running: bool
    exit_code: int | None
    started: bool = True    # False: created but never started


class Backend(Protocol):
    def create_network(self, name: str, *, internal: bool, labels: dict[str, str]) -> None: ...
    def ensure_network(self, name: str, *, labels: dict[str, str]) -> NetworkAddress | None: ...
    def network_subnets(self, labels: dict[str, str]) -> list[str]: ...
    def remove_network(self, name: str) -> None: ...
    def start(self, spec: ContainerSpec) -> str: ...
    def logs(self, container_id: str, since: float | None = None) -> Iterator[tuple[float, str]]: ...
    def kill(self, container_id: str, signal: str = "SIGKILL") -> None: ...
    def remove(self, container_id: str) -> None: ...
    def find(self, labels: dict[str, str]) -> list[ContainerState]: ...
    def find_networks(self, labels: dict[str, str]) -> list[str]: ...
    def address(self, container_id: str) -> str | None: ...
    def image_id(self, reference: str) -> str | None: ...
