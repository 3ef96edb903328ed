"""InvokeEndpointAsync (inference_and_monitoring.md §1.4): the request is accepted at once -- 202 with a JSON
body {"InferenceId"} and the X-Amzn-SageMaker-OutputLocation / -FailureLocation headers -- and queued
(durably, emulator.core.async_inference). On the server's event loop, at most
MaxConcurrentInvocationsPerInstance per instance at a time, each request's input is read from its
InputLocation, sent to the endpoint's containers as an InvokeEndpoint would be, and the response stored
at <S3OutputPath>/<uuid>.out (or the error at <S3FailurePath>/<uuid>-error.out). A request still queued
after RequestTTLSeconds fails. Requests queued when the emulator stopped are resumed once their
endpoint serves again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import async_inference
from emulator.runtime import staging
from emulator.runtime.serving.errors import endpoint_not_found, validation_error

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 21600       # 6 hours, the largest RequestTTLSeconds
DEFAULT_TIMEOUT_SECONDS = 900     # InvocationTimeoutSeconds' default (15 minutes)


def locations(config: dict[str, Any], invocation_id: str, req: dict[str, Any]) -> tuple[str, str | None]:
    output = config["OutputConfig"]
    base = output["S3OutputPath"].rstrip("/")
    if req.get("S3OutputPathExtension"):
        base = f"{base}/{req['S3OutputPathExtension'].strip('/')}"
    name = req.get("Filename") or f"{invocation_id}.out"
    failure = output.get("S3FailurePath")
    return f"{base}/{name}", (f"{failure.rstrip('/')}/{invocation_id}-error.out" if failure else None)


class AsyncInvocations:
    def __init__(self, plane: Any) -> None:   # the DataPlane that owns it
        self.plane = plane
        self.services = plane.services
        self.loop: asyncio.AbstractEventLoop | None = None
        self._running: set[str] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task] = set()

    # --- from the request handler ----------------------------------------------------------------------
    async def submit(self, account: str, req: dict[str, Any]) -> dict[str, Any]:
        self.loop = asyncio.get_running_loop()
        route = self.plane.route(req["EndpointName"])
        if route is None:
            raise endpoint_not_found(req["EndpointName"], account)
        if not route.async_config:
            raise validation_error(f"Endpoint {route.name} of account {account} is not an asynchronous inference "
                                   "endpoint: use InvokeEndpoint.")
        invocation_id = str(uuid.uuid4())
        output, failure = locations(route.async_config, invocation_id, req)
        stored = {k: v for k, v in req.items() if k != "Body"}
        stored.update({"_output": output, "_failure": failure, "_endpoint": route.name})
        await asyncio.to_thread(async_inference.add, self.services.db, invocation_id, route.name, stored)
        self._start(invocation_id, time.time(), stored)
        result = {"InferenceId": req.get("InferenceId") or invocation_id, "OutputLocation": output}
        if failure:
            result["FailureLocation"] = failure
        return result

    # --- resumption (from the controller's thread) ---------------------------------------------------------
    def resume(self, endpoint: str) -> None:
        """The endpoint serves: pick up what was queued for it before a restart."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._resume, endpoint)

    def _resume(self, endpoint: str) -> None:
        for invocation_id, created, stored in async_inference.pending(self.services.db, endpoint):
            if invocation_id not in self._running:
                self._start(invocation_id, created, stored)

    # --- processing --------------------------------------------------------------------------------------------
    def _start(self, invocation_id: str, created: float, stored: dict[str, Any]) -> None:
        self._running.add(invocation_id)
        task = asyncio.get_running_loop().create_task(self._process(invocation_id, created, stored))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _slot(self, route) -> asyncio.Semaphore:
        per_instance = int(((route.async_config or {}).get("ClientConfig") or {})
                           .get("MaxConcurrentInvocationsPerInstance", 4))
        instances = max(1, sum(len(v.instances) for v in route.variants))
        key = f"{route.name.lower()}/{route.deployment}"
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(per_instance * instances)
        return self._slots[key]

    async def _process(self, invocation_id: str, created: float, stored: dict[str, Any]) -> None:
        try:
            ttl = stored.get("RequestTTLSeconds") or DEFAULT_TTL_SECONDS
            while True:
                route = self.plane.route(stored["_endpoint"])
                if route is None:
                    if time.time() - created > ttl:
                        await self._fail(stored, "Request expired: it was not processed within RequestTTLSeconds.")
                        return
                    await asyncio.sleep(1.0)   # the endpoint is not serving (yet, or any more)
                    continue
                break
            async with self._slot(route):
                if time.time() - created > ttl:
                    await self._fail(stored, "Request expired: it was not processed within RequestTTLSeconds.")
                    return
                try:
                    body, stored_type = await asyncio.to_thread(self._read, stored["InputLocation"])
                except staging.StagingError as exc:
                    await self._fail(stored, f"Failed to download the input from {stored['InputLocation']}: {exc}")
                    return
                # Without a ContentType the input object's own is the request's (the SDK's AsyncPredictor
                # uploads with its serializer's type and sends none).
                request = {"EndpointName": route.name, "Body": body,
                           "ContentType": stored.get("ContentType") or stored_type,
                           "Accept": stored.get("Accept"), "CustomAttributes": stored.get("CustomAttributes"),
                           "InferenceId": stored.get("InferenceId")}
                timeout = stored.get("InvocationTimeoutSeconds") or DEFAULT_TIMEOUT_SECONDS
                try:
                    result = await self.plane.invoke(self.services.account_id, request, timeout=timeout)
                except AwsError as err:
                    await self._fail(stored, err.message)
                    return
            await asyncio.to_thread(self._write, stored["_output"], result["Body"],
                                    result.get("ContentType") or "application/octet-stream")
        except Exception:
            log.exception("async invocation %s failed", invocation_id)
            await self._fail(stored, "InternalFailure: the emulator could not process the request.")
        finally:
            self._running.discard(invocation_id)
            await asyncio.to_thread(async_inference.done, self.services.db, invocation_id)

    async def _fail(self, stored: dict[str, Any], message: str) -> None:
        location = stored.get("_failure")
        if location:
            await asyncio.to_thread(self._write, location, message.encode("utf-8"), "text/plain")
        else:
            log.warning("async invocation for %s failed (no S3FailurePath): %s", stored["_endpoint"], message)

    def _read(self, uri: str) -> tuple[bytes, str | None]:
        bucket, key = staging.s3_location(uri)
        info = self.services.objects.head_object(bucket, key) if self.services.objects.bucket_exists(bucket) else None
        if info is None:
            raise staging.StagingError(f"no object at {uri}")
        with self.services.objects.open_object(bucket, key) as f:
            return f.read(), info.content_type

    def _write(self, uri: str, body: bytes, content_type: str) -> None:
        bucket, key = staging.s3_location(uri)
        if not self.services.objects.bucket_exists(bucket):
            log.warning("async inference output bucket %s does not exist; dropping %s", bucket, uri)
            return
        self.services.objects.put_object_bytes(bucket, key, body, content_type=content_type)
