"""The data path of sagemaker-runtime: InvokeEndpoint and InvokeEndpointWithResponseStream, from the request
handler straight to a container over a pooled keep-alive connection, on the server's event loop.

Per call: look the endpoint up in the routing table (memory), pick a variant by weight (or the
TargetVariant) and an instance round-robin, forward the request headers SageMaker forwards, map the
container's answer onto AWS's response or errors (inference_and_monitoring.md §1.3), hand a sampled
copy to the capture writer and count the call. No database write, no thread hop, no S3 I/O per call.

Errors as AWS words them: ValidationError (400) for an unknown endpoint, a TargetModel on an endpoint
that is not multi-model, an unknown variant; ModelError (424) with OriginalStatusCode, OriginalMessage
and LogStreamArn when the container answers non-2xx or not within the invocation timeout (status 0);
ModelNotReadyException (429) while a serverless variant's container is still starting.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import arns
from emulator.core.services import Services
from emulator.runtime import staging
from emulator.runtime.serving import eventstream
from emulator.runtime.serving.asynchronous import AsyncInvocations
from emulator.runtime.serving.capture import Captured, CaptureWriter
from emulator.runtime.serving.client import (
    ClientPool,
    ContainerRefused,
    ContainerTimeout,
    ContainerUnreachable,
    Response,
)
from emulator.runtime.serving.errors import endpoint_not_found, validation_error
from emulator.runtime.serving.routes import EndpointRoute, Instance, Target, VariantRoute
from emulator.runtime.serving.stats import InvocationStats

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/Endpoints"
# Request members SageMaker hands to the container, with their header names (botocore's model).
FORWARDED = (("ContentType", "Content-Type"), ("Accept", "Accept"),
             ("CustomAttributes", "X-Amzn-SageMaker-Custom-Attributes"),
             ("TargetModel", "X-Amzn-SageMaker-Target-Model"), ("TargetVariant", "X-Amzn-SageMaker-Target-Variant"),
             ("TargetContainerHostname", "X-Amzn-SageMaker-Target-Container-Hostname"),
             ("InferenceId", "X-Amzn-SageMaker-Inference-Id"),
             ("EnableExplanations", "X-Amzn-SageMaker-Enable-Explanations"),
             ("InferenceComponentName", "X-Amzn-SageMaker-Inference-Component"),
             ("SessionId", "X-Amzn-SageMaker-Session-Id"))
TIMEOUT_MESSAGE = ("Your invocation timed out while waiting for a response from container {name}. Review the "
                   "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.")
SERVERLESS_POLL_SECONDS = 0.05


class DataPlane:
    def __init__(self, services: Services, *, invocation_timeout: float = 60.0, capture_flush_seconds: float = 2.0,
                 serverless_wait: float = 30.0) -> None:
        self.services = services
        self.invocation_timeout = invocation_timeout
        self.serverless_wait = serverless_wait
        self.routes: dict[str, EndpointRoute] = {}
        self.capture = CaptureWriter(services, capture_flush_seconds)
        self.stats = InvocationStats(services)
        # Called with an endpoint name when the controller should look at it now: a serverless variant needs its
        # container, or an instance stopped answering (the controller's enqueue).
        self.demand: Callable[[str], None] = lambda name: None
        self._pools: dict[int, ClientPool] = {}
        self.asynchronous = AsyncInvocations(self)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop (where queued async invocations are resumed)."""
        self.asynchronous.loop = loop

    # --- the routing table (written by the endpoint controller) ----------------------------------------
    def publish(self, route: EndpointRoute) -> None:
        previous = self.routes.get(route.name.lower())
        if previous is not None:
            route.last_used = previous.last_used
        self.routes[route.name.lower()] = route
        if route.async_config and (previous is None or previous.deployment != route.deployment):
            self.asynchronous.resume(route.name)

    def withdraw(self, name: str) -> EndpointRoute | None:
        return self.routes.pop(name.lower(), None)

    def route(self, name: str) -> EndpointRoute | None:
        return self.routes.get(name.lower())

    def pool(self) -> ClientPool:
        loop_id = id(asyncio.get_running_loop())
        pool = self._pools.get(loop_id)
        if pool is None:
            pool = self._pools[loop_id] = ClientPool()
        return pool

    def close(self) -> None:
        self.stats.close()
        self.capture.close()

    # --- InvokeEndpoint ---------------------------------------------------------------------------------
    async def invoke(self, account: str, req: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        route = self._serving(account, req["EndpointName"])
        variant = self._variant(route, req)
        body = req.get("Body") or b""
        for attempt in range(1, len(variant.instances) + 2):
            instance = await self._instance(route, variant)
            instance.inflight += 1
            try:
                response, target, model_seconds = await self._call(route, variant, instance, req, body,
                                                                   timeout or self.invocation_timeout)
                break
            except ContainerRefused as exc:
                # The instance is gone (its container died): have the controller look, try the next one.
                self.demand(route.name)
                if attempt > len(variant.instances):
                    self.stats.record(route.name, variant.name, time.time(), 500, 0, 0)
                    raise model_error(route, instance.containers[0], instance, 0,
                                      f"The container is not reachable: {exc}".encode(), self.services) from None
            except AwsError as err:
                if err.code == "ModelError":  # no answer in time, or none at all: a server-side error
                    self.stats.record(route.name, variant.name, time.time(), 500,
                                      int((time.perf_counter() - started) * 1e6), 0)
                raise
            finally:
                instance.inflight -= 1
        now = time.time()
        total = time.perf_counter() - started
        self.stats.record(route.name, variant.name, now, response.status, int(model_seconds * 1e6),
                          max(0, int((total - model_seconds) * 1e6)))
        if not 200 <= response.status < 300:
            raise model_error(route, target, instance, response.status, response.body, self.services)
        content_type = response.headers.get("content-type")
        capture = route.capture
        if capture is not None and capture.sampling > 0 and random.random() * 100 < capture.sampling:
            self.capture.add(Captured(route.name, variant.name, capture, now, req.get("InferenceId"), body,
                                      req.get("ContentType") or "application/octet-stream", response.body,
                                      content_type or "application/octet-stream"))
        result = {"Body": response.body, "InvokedProductionVariant": variant.name}
        if content_type:
            result["ContentType"] = content_type
        attributes = response.headers.get("x-amzn-sagemaker-custom-attributes")
        if attributes:
            result["CustomAttributes"] = attributes
        return result

    def _serving(self, account: str, name: str) -> EndpointRoute:
        route = self.routes.get(name.lower())
        if route is None:
            raise endpoint_not_found(name, account)
        route.last_used = time.time()
        return route

    def _variant(self, route: EndpointRoute, req: dict[str, Any]) -> VariantRoute:
        if req.get("TargetModel") and not route.multi_model:
            raise validation_error(f"Endpoint {route.name} is not a multi-model endpoint and does not support target "
                                   "model header.")
        wanted = req.get("TargetVariant")
        if wanted:
            variant = route.variant(wanted)
            if variant is None:
                raise validation_error(f"Variant {wanted} not found for endpoint {route.name}.")
            return variant
        return route.pick() if len(route.variants) > 1 else route.variants[0]

    async def _instance(self, route: EndpointRoute, variant: VariantRoute) -> Instance:
        instance = variant.next_instance()
        if instance is not None:
            return instance
        if not variant.serverless:
            raise AwsError("The endpoint has no instance to serve the request; try again.", code="ServiceUnavailable",
                           status=503)
        # A serverless variant with no container: have the controller start one and wait for it a while.
        self.demand(route.name)
        deadline = time.monotonic() + self.serverless_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(SERVERLESS_POLL_SECONDS)
            current = self.routes.get(route.name.lower())
            fresh = current.variant(variant.name) if current is not None else None
            instance = fresh.next_instance() if fresh is not None else None
            if instance is not None:
                return instance
        raise AwsError(f"Model for endpoint {route.name} variant {variant.name} is not ready yet (the serverless "
                       "endpoint is starting); try again.", code="ModelNotReadyException", status=429)

    def _headers(self, req: dict[str, Any], accept: bool = True) -> list[tuple[str, str]]:
        return [(header, req[member]) for member, header in FORWARDED
                if req.get(member) is not None and (accept or member != "Accept")]

    def _chain(self, variant: VariantRoute, instance: Instance, req: dict[str, Any]) -> list[Target]:
        if variant.direct:
            wanted = req.get("TargetContainerHostname")
            target = next((t for t in instance.containers if t.name == wanted), None)
            if target is None:
                names = ", ".join(t.name for t in instance.containers)
                raise validation_error(f"TargetContainerHostname {wanted} is not one of the containers of the endpoint "
                                       f"({names}); a Direct inference pipeline needs it on every request.")
            return [target]
        return instance.containers

    async def _call(self, route: EndpointRoute, variant: VariantRoute, instance: Instance, req: dict[str, Any],
                    body: bytes, timeout: float) -> tuple[Response, Target, float]:
        """Through every container of the instance in order (an inference pipeline passes each response on
        as the next request); the first non-2xx answer ends it."""
        chain = self._chain(variant, instance, req)
        pool = self.pool()
        path = "/invocations"
        if variant.multi_model_url and req.get("TargetModel"):
            path = f"/models/{await self._load_model(variant, instance, req['TargetModel'])}/invoke"
        model_seconds = 0.0
        response = Response(200, {"content-type": req.get("ContentType") or ""}, body)
        for position, target in enumerate(chain):
            last = position == len(chain) - 1
            headers = self._headers(req, accept=last)
            if position:
                headers = [(h, v) for h, v in headers if h != "Content-Type"]
                if response.headers.get("content-type"):
                    headers.append(("Content-Type", response.headers["content-type"]))
            began = time.perf_counter()
            try:
                response = await pool.request(target.address, "POST", path, headers, response.body, timeout)
            except ContainerTimeout:
                raise model_error(route, target, instance, 0, TIMEOUT_MESSAGE.format(name=target.name).encode(),
                                  self.services) from None
            except ContainerRefused:
                if position == 0:
                    raise   # nothing was sent yet: another instance may take it
                raise model_error(route, target, instance, 0, b"The container is not reachable.",
                                  self.services) from None
            except ContainerUnreachable as exc:
                raise model_error(route, target, instance, 0, f"The container is not reachable: {exc}".encode(),
                                  self.services) from None
            finally:
                model_seconds += time.perf_counter() - began
            if not 200 <= response.status < 300:
                return response, target, model_seconds
        return response, chain[-1], model_seconds

    # --- multi-model endpoints ------------------------------------------------------------------------------
    async def _load_model(self, variant: VariantRoute, instance: Instance, target_model: str) -> str:
        """The container's name for `target_model`, loading it first (downloaded from the model prefix into
        /opt/ml/models/<name>/model, then `POST /models`) if this instance has not loaded it yet."""
        name = hashlib.sha1(target_model.encode()).hexdigest()[:16]
        pending = instance.loaded.get(name)
        if pending is None:
            pending = instance.loaded[name] = asyncio.ensure_future(
                self._fetch_and_load(variant, instance, target_model, name))
        try:
            await asyncio.shield(pending)
        except Exception:
            if instance.loaded.get(name) is pending:
                del instance.loaded[name]  # the next call tries again
            raise
        return name

    async def _fetch_and_load(self, variant: VariantRoute, instance: Instance, target_model: str, name: str) -> None:
        uri = variant.multi_model_url.rstrip("/") + "/" + target_model.lstrip("/")
        folder = instance.models_dir / name / "model"
        try:
            await asyncio.to_thread(staging.extract_model, self.services, uri, folder)
        except staging.StagingError:
            bucket, _, key = uri[5:].partition("/")
            raise validation_error(f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that "
                                   "there is an object located at the URL and that the role passed to CreateModel "
                                   "has permissions to download the model.") from None
        payload = json.dumps({"model_name": name, "url": f"/opt/ml/models/{name}/model"}).encode()
        for target in instance.containers:
            response = await self.pool().request(target.address, "POST", "/models",
                                                 [("Content-Type", "application/json")], payload,
                                                 self.invocation_timeout)
            if response.status not in (200, 201, 409):  # 409: loaded already (after an emulator restart)
                raise AwsError(f"Could not load model {target_model}: the container answered {response.status}: "
                               f"{response.body[:512].decode(errors='replace')}", code="ModelError", status=424)

    # --- InvokeEndpointWithResponseStream --------------------------------------------------------------------
    async def invoke_stream(self, account: str, req: dict[str, Any]) -> dict[str, Any]:
        route = self._serving(account, req["EndpointName"])
        variant = self._variant(route, req)
        instance = await self._instance(route, variant)
        chain = self._chain(variant, instance, req)
        if len(chain) != 1:
            raise validation_error("Response streaming is not supported for an inference pipeline.")
        target = chain[0]
        began, now = time.perf_counter(), time.time()
        instance.inflight += 1
        try:
            head, chunks = await self.pool().stream(target.address, "POST", "/invocations", self._headers(req),
                                                    req.get("Body") or b"", self.invocation_timeout)
        except ContainerTimeout:
            instance.inflight -= 1
            raise model_error(route, target, instance, 0, TIMEOUT_MESSAGE.format(name=target.name).encode(),
                              self.services) from None
        except ContainerUnreachable as exc:
            instance.inflight -= 1
            raise model_error(route, target, instance, 0, f"The container is not reachable: {exc}".encode(),
                              self.services) from None
        if not 200 <= head.status < 300:
            try:
                body = b"".join([chunk async for chunk in chunks])
            except (ContainerTimeout, ContainerUnreachable):
                body = b""
            finally:
                instance.inflight -= 1
            self.stats.record(route.name, variant.name, now, head.status, int((time.perf_counter() - began) * 1e6), 0)
            raise model_error(route, target, instance, head.status, body, self.services)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for chunk in chunks:
                    yield eventstream.event("PayloadPart", chunk)
            except ContainerTimeout:
                yield eventstream.exception("ModelStreamError", {"Message": TIMEOUT_MESSAGE.format(name=target.name),
                                                                 "ErrorCode": "ModelInvocationTimeExceeded"})
            except ContainerUnreachable as exc:
                yield eventstream.exception("ModelStreamError", {"Message": f"The model's stream broke: {exc}",
                                                                 "ErrorCode": "StreamBroken"})
            finally:
                instance.inflight -= 1
                self.stats.record(route.name, variant.name, now, head.status,
                                  int((time.perf_counter() - began) * 1e6), 0)
        result: dict[str, Any] = {"Body": events(), "InvokedProductionVariant": variant.name}
        if head.headers.get("content-type"):
            result["ContentType"] = head.headers["content-type"]
        if head.headers.get("x-amzn-sagemaker-custom-attributes"):
            result["CustomAttributes"] = head.headers["x-amzn-sagemaker-custom-attributes"]
        return result


def log_stream_arn(services: Services, route: EndpointRoute) -> str:
    return f"arn:{arns.partition(route.region)}:logs:{route.region}:{services.account_id}:log-group:" \
           f"{LOG_GROUP}/{route.name}"


def model_error(route: EndpointRoute, target: Target, instance: Instance, status: int, body: bytes,
                services: Services) -> AwsError:
    """ModelError (424) as SageMaker words it (observed in amazon-sagemaker-examples#785, #407, #1881)."""
    original = body.decode("utf-8", errors="replace")
    side = "client" if 400 <= status < 500 else "server"
    region, account = route.region, services.account_id
    console = (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group="
               f"{LOG_GROUP}/{route.name}")
    message = (f'Received {side} error ({status}) from {target.name} with message "{original}". See {console} in '
               f"account {account} for more information.")
    return AwsError(message, code="ModelError", status=424, extra={
        "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL", "OriginalStatusCode": status, "OriginalMessage": original,
        "LogStreamArn": log_stream_arn(services, route)})
