"""The endpoint controller: makes each endpoint's serving containers match its record.

A sync reads the endpoint record (core.endpoints) and its containers (found by label) and does the next
step; it never waits:

  deployments wanted     the current one (`_deployment`) and, while Updating, the pending one; a fleet of
                         instances per deployment (instances.Member), one per variant and index up to the
                         desired instance count (a serverless variant: one while it is in use)
  bring up               missing instances are launched (image resolved, model staged, containers started);
                         each is pinged until /ping answers (Requeue every 50 ms, after 10 s growing to 1 s) or its
                         ContainerStartupHealthCheckTimeoutInSeconds passes, or a container exits: the
                         deployment fails with AWS's reason
  switch                 a deployment whose every instance is healthy is published to the data path
                         (DataPlane.publish: traffic moves at once) and recorded InService; during an
                         update the old fleet keeps serving until then, so no call fails
  retire                 instances no longer wanted (an old deployment, a scale-in, an idle serverless
                         container) leave the route first and are removed once their in-flight calls end
  after a restart        containers found by label are adopted (pinged, then routed again) without being
                         re-created; an instance whose container died is relaunched
  Deleting               out of the route, captured data flushed, containers removed, record deleted
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emulator.core import arns, invocation_stats
from emulator.core import endpoints as core
from emulator.core.services import Services
from emulator.runtime.contracts import serving
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key
from emulator.runtime.serving import instances
from emulator.runtime.serving.capture import CaptureConfig
from emulator.runtime.serving.instances import KIND, Member
from emulator.runtime.serving.plane import DataPlane
from emulator.runtime.serving.routes import EndpointRoute, VariantRoute
from emulator.runtime.staging import StagingError
from emulator.runtime.supervisor import LABEL, JobFailure, Runtime

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 240    # AWS: /ping must pass within 4 minutes unless the variant says otherwise
MAX_PING_DELAY = 1.0
# A serving container usually answers /ping within seconds: ping every 50 ms for that long, so InService
# follows the first healthy /ping closely (bench/inference.py), and back off only for slow starters.
FAST_PING_SECONDS = 10.0
RELAUNCH_RETRY_SECONDS = 10.0
PING_FAILED = ("The primary container for production variant {variant} did not pass the ping health check. "
               "Please check CloudWatch logs for this endpoint.")


class DeploymentFailure(Exception):
    """The deployment cannot come up: the endpoint's FailureReason."""


@dataclass
class Fleet:
    deployment: dict[str, Any]
    members: dict[tuple[str, int], Member] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)                # image URI -> local image
    deployed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # variant -> DeployedImages


@dataclass
class EndpointState:
    fleets: dict[str, Fleet] = field(default_factory=dict)
    retiring: list[tuple[Member, float]] = field(default_factory=list)   # (member, remove by)
    demanded: bool = False
    signature: tuple | None = None                                       # of the published route
    deleting_since: float | None = None


class EndpointController(Controller):
    kinds = (KIND,)
    workers = 4

    def __init__(self, services: Services, runtime: Runtime) -> None:
        super().__init__(services)
        self.runtime = runtime
        settings = services.settings
        self.plane = DataPlane(services, invocation_timeout=settings.invocation_timeout_seconds,
                               capture_flush_seconds=settings.capture_flush_seconds,
                               serverless_wait=settings.serverless_wait_seconds)
        self.plane.demand = self._demand
        services.serving = self.plane
        self.states: dict[str, EndpointState] = {}
        self.drain_seconds = settings.invocation_timeout_seconds + 5

    # --- the controller's frame --------------------------------------------------------------------------
    def keys(self) -> Iterable[Key]:
        names = set(core.unfinished(self.services))
        try:
            containers = self.runtime.containers()
        except Exception as exc:  # noqa: BLE001 - no engine now: the endpoints are still listed
            log.warning("cannot list containers: %s", exc)
            containers = []
        names |= {c.labels[f"{LABEL}.job"] for c in containers
                  if c.labels.get(f"{LABEL}.kind") == KIND and c.labels.get(f"{LABEL}.job")}
        return {(KIND, name) for name in names}

    def reset(self) -> None:
        for name in list(self.plane.routes):
            self.plane.withdraw(name)
        self.states.clear()
        self.plane.stats.reset()

    def shutdown(self) -> None:
        # Containers keep running (the next start adopts them); what was captured is stored now.
        self.plane.close()

    def give_up(self, key: Key, error: Exception) -> None:
        record = core.find_endpoint(self.services, key[1])
        if record is None:
            return
        reason = f"InternalServerError: the emulator could not run the endpoint: {type(error).__name__}: {error}"
        if record["EndpointStatus"] == "Deleting":
            self._tear_down(record["EndpointName"])
            core.remove_endpoint(self.services, record["EndpointName"])
            return
        target = record.get("_pending") or record["_deployment"]
        core.mark_failed(self.services, record["EndpointName"], target["Id"], reason)

    def _state(self, name: str) -> EndpointState:
        return self.states.setdefault(name.lower(), EndpointState())

    def _demand(self, name: str) -> None:
        """A serverless variant was called with no container up (from the data path's thread)."""
        self._state(name).demanded = True
        self.enqueue((KIND, name))

    # --- the sync -----------------------------------------------------------------------------------------
    def sync(self, key: Key) -> Requeue | None:
        record = core.find_endpoint(self.services, key[1])
        if record is None:
            self._tear_down(key[1])
            return None
        name, status = record["EndpointName"], record["EndpointStatus"]
        state = self._state(name)
        containers = self.runtime.containers(KIND, name)
        if status == "Deleting":
            return self._delete(name, state)
        if status == "Failed":
            self._tear_down(name)
            return None
        current = record["_deployment"]
        pending = record.get("_pending") if status == "Updating" else None
        wanted = {d["Id"]: d for d in (current, pending) if d}
        now = self.now()
        self._forget_unwanted(name, state, wanted, now)
        self._adopt(name, state, containers, wanted)
        wake: list[float] = []
        region = arns.region_of(record["EndpointArn"])
        healthy: dict[str, bool] = {}
        for deployment in wanted.values():
            bringing_up = status == "Creating" or deployment is pending
            try:
                healthy[deployment["Id"]], at = self._converge(name, region, state, deployment, containers, now,
                                                               bringing_up)
            except DeploymentFailure as failure:
                self._fail(name, state, deployment, str(failure))
                if deployment is current and status == "Creating":
                    return None
                continue
            if at is not None:
                wake.append(at)
        if pending is not None and healthy.get(pending["Id"]):
            self._publish(name, region, state, pending)
            self._mark_in_service(name, state, pending)
        elif status == "Creating":
            if healthy.get(current["Id"]):
                self._publish(name, region, state, current)
                self._mark_in_service(name, state, current)
        elif current["Id"] in state.fleets:
            # In service (or updating): the current fleet serves with whichever instances are healthy; an
            # instance being relaunched rejoins once it answers /ping.
            self._publish(name, region, state, current)
            if status == "Updating" and pending is None and healthy.get(current["Id"]):
                self._mark_in_service(name, state, current)   # new weights and capacities are in place
        at = self._retire(state, now)
        if at is not None:
            wake.append(at)
        at = self._serverless_idle_at(name, current)
        if at is not None:
            wake.append(at)
        return Requeue(at=min(wake)) if wake else None

    # --- bringing a deployment up ---------------------------------------------------------------------------
    def _desired(self, name: str, state: EndpointState, variant: dict[str, Any], now: float) -> int:
        if not variant.get("ServerlessConfig"):
            return int(variant["DesiredInstanceCount"])
        route = self.plane.route(name)
        recently = route is not None and now - route.last_used < self.services.settings.serverless_idle_seconds
        return 1 if state.demanded or recently else 0

    def _converge(self, name: str, region: str, state: EndpointState, deployment: dict[str, Any], containers: list,
                  now: float, bringing_up: bool) -> tuple[bool, float | None]:
        """Launch the deployment's missing instances and ping the unhealthy ones: (all healthy, next look)."""
        fleet = state.fleets.setdefault(deployment["Id"], Fleet(deployment))
        fleet.deployment = deployment
        running = {c.id: c.running for c in containers}
        all_healthy, wake = True, []
        for variant in deployment["Variants"]:
            desired = self._desired(name, state, variant, now)
            for (variant_name, index), member in list(fleet.members.items()):
                if variant_name == variant["VariantName"] and index >= desired:
                    self._leave(state, fleet, member, now)   # scale-in, or an idle serverless container
            for index in range(desired):
                member = fleet.members.get((variant["VariantName"], index))
                if member is not None and any(not running.get(i, True) for i in member.container_ids):
                    # A container exited (stopped containers stay listed until removed).
                    if not member.healthy and bringing_up:
                        raise DeploymentFailure(PING_FAILED.format(variant=variant["VariantName"]))
                    log.warning("endpoint %s: instance %s of %s stopped; relaunching", name, member.instance.id,
                                variant["VariantName"])
                    self._leave(state, fleet, member, now, at_once=True)
                    member = None
                if member is None:
                    member = self._launch(name, region, fleet, variant, index, bringing_up)
                    if member is None:
                        all_healthy = False
                        wake.append(now + RELAUNCH_RETRY_SECONDS)
                        continue
                if not member.healthy:
                    at = self._check(member, variant, now, bringing_up)
                    if at is not None:
                        all_healthy = False
                        wake.append(at)
                    elif not member.healthy:   # a relaunched instance never came up: try again later
                        self._leave(state, fleet, member, now, at_once=True)
                        all_healthy = False
                        wake.append(now + RELAUNCH_RETRY_SECONDS)
        if all_healthy:
            state.demanded = False
        return all_healthy, (min(wake) if wake else None)

    def _resolve(self, name: str, fleet: Fleet, variant: dict[str, Any]) -> None:
        """The variant's local images (built if need be) and its DeployedImages."""
        for definition in serving.definitions(variant["Model"]):
            uri = definition["Image"]
            if uri not in fleet.images:
                fleet.images[uri] = self.runtime.resolve_image(uri, name)
        if variant["VariantName"] not in fleet.deployed:
            fleet.deployed[variant["VariantName"]] = instances.deployed_images(self.runtime, variant["Model"],
                                                                               fleet.images)

    def _mark_in_service(self, name: str, state: EndpointState, deployment: dict[str, Any]) -> None:
        fleet = state.fleets[deployment["Id"]]
        for variant in deployment["Variants"]:
            if variant["VariantName"] not in fleet.deployed:   # adopted after a restart: not launched here
                try:
                    self._resolve(name, fleet, variant)
                except JobFailure:
                    fleet.deployed[variant["VariantName"]] = []
        core.mark_in_service(self.services, name, deployment["Id"], fleet.deployed)

    def _launch(self, name: str, region: str, fleet: Fleet, variant: dict[str, Any], index: int,
                bringing_up: bool) -> Member | None:
        try:
            self._resolve(name, fleet, variant)
            member = instances.launch(self.runtime, name, region, fleet.deployment["Id"], variant, index,
                                      fleet.images, lambda: self.enqueue((KIND, name)))
        except (JobFailure, StagingError) as exc:
            reason = str(exc).removeprefix("ClientError: ")
            if bringing_up:
                raise DeploymentFailure(reason) from exc
            log.error("endpoint %s: cannot relaunch an instance of %s: %s", name, variant["VariantName"], reason)
            return None
        fleet.members[(variant["VariantName"], index)] = member
        return member

    def _check(self, member: Member, variant: dict[str, Any], now: float, bringing_up: bool) -> float | None:
        """Ping an unhealthy member when due: the time to ping it again, or None once it is healthy (or gave up:
        a deployment being brought up fails, a relaunched instance of a serving one is dropped)."""
        timeout = variant.get("ContainerStartupHealthCheckTimeoutInSeconds") or STARTUP_TIMEOUT_SECONDS
        if now >= member.next_ping:
            if all(instances.ping(target) for target in member.instance.containers):
                member.healthy = True
                return None
            if now - member.started > timeout:
                if bringing_up:
                    raise DeploymentFailure(PING_FAILED.format(variant=variant["VariantName"]))
                log.error("endpoint %s: relaunched instance %s did not pass the ping health check", member.endpoint,
                          member.instance.id)
                return None
            member.next_ping = now + member.ping_delay
            if now - member.started > FAST_PING_SECONDS:
                member.ping_delay = min(MAX_PING_DELAY, member.ping_delay * 1.5)
        return member.next_ping

    def _fail(self, name: str, state: EndpointState, deployment: dict[str, Any], reason: str) -> None:
        log.warning("endpoint %s: deployment %s failed: %s", name, deployment["Id"], reason)
        fleet = state.fleets.pop(deployment["Id"], None)
        if fleet is not None:
            for member in fleet.members.values():
                self._remove(member)
        core.mark_failed(self.services, name, deployment["Id"], reason)

    # --- traffic ---------------------------------------------------------------------------------------------
    def _publish(self, name: str, region: str, state: EndpointState, deployment: dict[str, Any]) -> None:
        fleet = state.fleets[deployment["Id"]]
        variants = []
        for variant in deployment["Variants"]:
            members = sorted((m for (v, _), m in fleet.members.items() if v == variant["VariantName"] and m.healthy),
                             key=lambda m: m.instance.index)
            model = variant["Model"]
            definitions = serving.definitions(model)
            multi_model = next((d.get("ModelDataUrl") for d in definitions if serving.is_multi_model(d)), None)
            variants.append(VariantRoute(variant["VariantName"], float(variant["DesiredWeight"]),
                                         [m.instance for m in members],
                                         serverless=bool(variant.get("ServerlessConfig")),
                                         multi_model_url=multi_model, direct=serving.direct(model)))
        signature = (deployment["Id"], tuple((v.name, v.weight, tuple(i.id for i in v.instances)) for v in variants),
                     repr(deployment.get("DataCaptureConfig")))
        if signature == state.signature and self.plane.route(name) is not None:
            return
        state.signature = signature
        self.plane.publish(EndpointRoute(name, region, deployment["Id"], variants,
                                         capture=CaptureConfig.of(deployment.get("DataCaptureConfig")),
                                         async_config=deployment.get("AsyncInferenceConfig")))

    def _serverless_idle_at(self, name: str, deployment: dict[str, Any]) -> float | None:
        """When an in-use serverless container becomes idle (the sync that stops it)."""
        if not any(v.get("ServerlessConfig") for v in deployment["Variants"]):
            return None
        route = self.plane.route(name)
        if route is None or not route.last_used or not any(v.instances for v in route.variants):
            return None
        return route.last_used + self.services.settings.serverless_idle_seconds + 0.05

    # --- retiring instances -------------------------------------------------------------------------------------
    def _leave(self, state: EndpointState, fleet: Fleet, member: Member, now: float, at_once: bool = False) -> None:
        """Take a member out of its fleet (and so out of the next route); removed once drained."""
        fleet.members.pop(member.key, None)
        state.retiring.append((member, now if at_once else now + self.drain_seconds))

    def _forget_unwanted(self, name: str, state: EndpointState, wanted: dict[str, Any], now: float) -> None:
        for deployment_id in [d for d in state.fleets if d not in wanted]:
            fleet = state.fleets.pop(deployment_id)
            for member in list(fleet.members.values()):
                self._leave(state, fleet, member, now)

    def _retire(self, state: EndpointState, now: float) -> float | None:
        """Remove retiring members whose calls have ended (or whose drain time is up)."""
        keep = []
        for member, remove_by in state.retiring:
            if member.instance.inflight > 0 and now < remove_by:
                keep.append((member, remove_by))
            else:
                self._remove(member)
        state.retiring = keep
        return now + 0.1 if keep else None

    def _remove(self, member: Member) -> None:
        instances.remove(self.runtime, member)

    # --- restarts: containers found by label ---------------------------------------------------------------------
    def _adopt(self, name: str, state: EndpointState, containers: list, wanted: dict[str, Any]) -> None:
        known = {i for fleet in state.fleets.values() for m in fleet.members.values() for i in m.container_ids}
        known |= {i for m, _ in state.retiring for i in m.container_ids}
        groups: dict[tuple[str, str, int], list] = {}
        for container in containers:
            if container.id in known:
                continue
            labels = container.labels
            groups.setdefault((labels.get(f"{LABEL}.deployment", ""), labels.get(f"{LABEL}.variant", ""),
                               int(labels.get(f"{LABEL}.index", "0"))), []).append(container)
        for (deployment_id, variant_name, index), states in groups.items():
            deployment = wanted.get(deployment_id)
            fleet = state.fleets.setdefault(deployment_id, Fleet(deployment)) if deployment else None
            variant = _variant(deployment, variant_name) if deployment else None
            member = None
            if fleet is not None and variant is not None and (variant_name, index) not in fleet.members:
                member = instances.adopt(self.runtime, name, variant, states, lambda: self.enqueue((KIND, name)))
            if member is None:
                for container in states:
                    self.runtime.backend.remove(container.id)
                continue
            log.info("endpoint %s: adopted instance %s of %s", name, member.instance.id, variant_name)
            fleet.members[(variant_name, index)] = member

    # --- deleting -------------------------------------------------------------------------------------------------
    def _delete(self, name: str, state: EndpointState) -> Requeue | None:
        """Out of the route at once (new calls: not found); the calls in flight may finish; then flush what
        was captured, remove the containers and the record."""
        self.plane.withdraw(name)
        now = self.now()
        if state.deleting_since is None:
            state.deleting_since = now
        members = [m for fleet in state.fleets.values() for m in fleet.members.values()]
        members += [m for m, _ in state.retiring]
        if any(m.instance.inflight for m in members) and now - state.deleting_since < self.drain_seconds:
            return Requeue(after=0.1)
        self.plane.capture.flush()
        self._tear_down(name)
        invocation_stats.forget(self.services.db, name)
        core.remove_endpoint(self.services, name)
        return None

    def _tear_down(self, name: str) -> None:
        self.plane.withdraw(name)
        self.states.pop(name.lower(), None)
        for container in self.runtime.containers(KIND, name):
            self.runtime.backend.remove(container.id)
        shutil.rmtree(self.services.settings.jobs_dir / "endpoints" / name, ignore_errors=True)


def _variant(deployment: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((v for v in deployment["Variants"] if v["VariantName"] == name), None)
