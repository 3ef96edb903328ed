"""The Docker backend: job containers through the docker SDK."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from collections.abc import Iterator

import docker
from docker.errors import APIError, NotFound
from docker.types import Mount as DockerMount

from emulator.runtime.backend import ContainerSpec, ContainerState, NetworkAddress

_local = threading.local()

# What a job container may do. SageMaker containers run as root and need to own, chmod and signal
# their own files and processes; they need no raw sockets (ARP or IP spoofing on the job network),
# device nodes, chroot, audit or capability juggling. `no-new-privileges` stops setuid binaries from
# gaining more; the pids limit stops a fork bomb from taking the host down.
JOB_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"]
JOB_SECURITY_OPTIONS = ["no-new-privileges"]


def client() -> docker.DockerClient:
    """One client per thread: the SDK's HTTP session is not meant to be shared across threads."""
    c = getattr(_local, "client", None)
    if c is None:
        c = docker.from_env(timeout=300)
        _local.client = c
    return c


def _parse_docker_time(text: str) -> float:
    # Docker prints RFC 3339 with nanoseconds: 2026-11-27T22:15:52.123456789Z
    head, _, frac = text.rstrip("Z").partition(".")
    stamp = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp()
    return stamp + (float("0." + frac[:6]) if frac else 0.0)


class DockerBackend:
    def create_network(self, name: str, *, internal: bool, labels: dict[str, str]) -> None:
        client().networks.create(name, driver="bridge", internal=internal, labels=labels)

    def ensure_network(self, name: str, *, labels: dict[str, str]) -> NetworkAddress | None:
        """A bridge network of ours, created when missing; its gateway (a host address) and subnet."""
        try:
            network = client().networks.get(name)
        except NotFound:
            try:
                network = client().networks.create(name, driver="bridge", labels=labels)
            except APIError:  # created concurrently by another thread
                network = client().networks.get(name)
        network.reload()
        for entry in network.attrs.get("IPAM", {}).get("Config") or []:
            subnet = entry.get("Subnet")
            if not subnet or ":" in subnet:
                continue
            gateway = entry.get("Gateway") or str(next(ipaddress.ip_network(subnet).hosts()))
            return NetworkAddress(gateway=gateway, subnet=subnet)
        return None

    def network_subnets(self, labels: dict[str, str] | None = None, names: tuple[str, ...] = ()) -> list[str]:
        """The IPv4 subnets of the non-internal networks with these labels, or with these names."""
        if labels:
            networks = client().networks.list(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        else:
            networks = [n for n in client().networks.list(names=list(names)) if n.name in names] if names else []
        subnets = []
        for network in networks:
            network.reload()
            if network.attrs.get("Internal"):
                continue
            for entry in network.attrs.get("IPAM", {}).get("Config") or []:
                if entry.get("Subnet") and ":" not in entry["Subnet"]:
                    subnets.append(entry["Subnet"])
        return subnets

    def remove_network(self, name: str) -> None:
        try:
            client().networks.get(name).remove()
        except (NotFound, APIError):
            pass

    def start(self, spec: ContainerSpec) -> str:
        mounts = [DockerMount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                  for m in spec.mounts]
        kwargs = dict(
            image=spec.image, name=spec.name, hostname=spec.hostname, environment=spec.environment,
            labels=spec.labels, mounts=mounts, detach=True, entrypoint=spec.entrypoint, command=spec.command,
            init=spec.init, privileged=False, cap_drop=["ALL"], cap_add=JOB_CAPABILITIES,
            security_opt=JOB_SECURITY_OPTIONS, pids_limit=spec.pids_limit,
        )
        if spec.cpus:
            kwargs["nano_cpus"] = int(spec.cpus * 1e9)
        if spec.memory_bytes:
            kwargs["mem_limit"] = spec.memory_bytes
        if spec.network_disabled:
            kwargs["network_mode"] = "none"
            # With no network Docker writes no /etc/hosts entry for the hostname, and the training
            # toolkit then spends 15 minutes trying to resolve algo-1.
            kwargs["extra_hosts"] = {spec.hostname: "127.0.0.1"}
        elif spec.network:
            # Aliases on the job network make algo-1..N resolve from every host.
            kwargs["network"] = spec.network
            kwargs["networking_config"] = {
                spec.network: client().api.create_endpoint_config(aliases=spec.aliases or None)}
        container = client().containers.create(**kwargs)
        container.start()
        return container.id

    def logs(self, container_id: str, since: float | None = None) -> Iterator[tuple[float, str]]:
        container = client().containers.get(container_id)
        kwargs = {"stream": True, "follow": True, "timestamps": True}
        if since is not None:
            kwargs["since"] = since
        buffer = b""
        for chunk in container.logs(**kwargs):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                yield self._split(raw)
        if buffer.strip():
            yield self._split(buffer)

    @staticmethod
    def _split(raw: bytes) -> tuple[float, str]:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        stamp, _, message = text.partition(" ")
        try:
            return _parse_docker_time(stamp), message
        except ValueError:
            return dt.datetime.now(dt.UTC).timestamp(), text

    def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        """Send a signal without waiting (a stop's grace period is the caller's to keep)."""
        try:
            client().containers.get(container_id).kill(signal=signal)
        except (NotFound, APIError):
            pass  # gone, or no longer running

    def remove(self, container_id: str) -> None:
        try:
            client().containers.get(container_id).remove(force=True)
        except (NotFound, APIError):
            pass

    def find(self, labels: dict[str, str]) -> list[ContainerState]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        out = []
        for c in client().containers.list(all=True, filters=filters):
            state = c.attrs.get("State", {})
            running = state.get("Running", False)
            out.append(ContainerState(c.id, c.labels, running, None if running else state.get("ExitCode"),
                                      started=state.get("Status") != "created"))
        return out

    def address(self, container_id: str) -> str | None:
        """The container's IPv4 address on its (first) network: how the emulator reaches a serving
        container (a published port would add docker-proxy's copy to every call)."""
        try:
            networks = client().api.inspect_container(container_id)["NetworkSettings"]["Networks"] or {}
        except (NotFound, APIError, KeyError):
            return None
        for settings in networks.values():
            if settings.get("IPAddress"):
                return settings["IPAddress"]
        return None

    def image_id(self, reference: str) -> str | None:
        try:
            return client().images.get(reference).id
        except (NotFound, APIError):
            return None

    def find_networks(self, labels: dict[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        return [n.name for n in client().networks.list(filters=filters)]
