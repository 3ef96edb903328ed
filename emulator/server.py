"""The FastAPI application: one catch-all route that sends each request to the protocol layer of the
service it is for (emulator.aws.routing), plus the emulator's own /_emulator endpoints."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from emulator import __version__, api
from emulator.access import AccessGuard
from emulator.aws import protocols
from emulator.aws.encoding import decoded_body
from emulator.aws.errors import AwsError, RequestTooLarge
from emulator.aws.routing import RUNTIME_PATH, classify
from emulator.aws.signing import SignedRequest
from emulator.config import Settings
from emulator.core.services import Services

if TYPE_CHECKING:
    from emulator.runtime.controllers.manager import ControllerManager
    from emulator.runtime.supervisor import Runtime

log = logging.getLogger(__name__)

ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]
# Bodies of the model-driven APIs are read into memory: at most this much. The largest member any
# of them takes is 6 MiB (InvokeEndpoint's Body); S3 streams its bodies and has its own limits.
MAX_API_BODY_BYTES = 10 * 1024 * 1024
# The largest InvokeEndpoint body (botocore's model); a bigger one is refused before it is read.
MAX_INVOCATION_BYTES = 6291456


def docker_available() -> bool:
    try:
        import docker
        client = docker.from_env(timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def create_app(settings: Settings | None = None) -> AccessGuard:
    settings = settings or Settings()
    api.load_all()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = Services(settings)
        app.state.services = services
        seed_builtin_data(services)
        app.state.controllers = start_runtime(services)
        if services.serving is not None:
            services.serving.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
            await run_in_threadpool(services.shutdown)

    app = FastAPI(title="SageMaker Emulator", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    async def dispatch(request: Request) -> Response:
        services: Services = request.app.state.services
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        route = classify(request.method, request.url.path, request.headers, query)
        region = route.region or settings.region
        if route.service == "emulator":
            return await emulator_endpoint(request, services, request.app.state.controllers)
        if route.service == "s3":
            from emulator.api.s3 import handle_s3
            return await handle_s3(request, services)
        headers = dict(request.headers)
        try:
            raw = await read_body(request, MAX_API_BODY_BYTES)
        except RequestTooLarge as err:
            wire = protocols.error_wire(services, route.service, err, region, headers)
            # The rest of the body was never read: the connection cannot carry another request.
            return Response(content=wire.body, status_code=wire.status, headers=wire.headers | {"Connection": "close"})
        # The signature covers the body as sent (botocore compresses before it signs).
        auth = SignedRequest.from_scope(request.scope, raw)
        try:
            body = decoded_body(headers, raw, MAX_API_BODY_BYTES)
        except AwsError as err:
            wire = protocols.error_wire(services, route.service, err, region, headers)
            return Response(content=wire.body, status_code=wire.status, headers=wire.headers)
        if route.service == "json":
            wire = await run_in_threadpool(protocols.dispatch_json, services, headers["x-amz-target"], body,
                                           region, headers, auth)
        elif route.service == "rpcv2-cbor":
            wire = await run_in_threadpool(protocols.dispatch_rpcv2_cbor, services, request.url.path, body,
                                           region, headers, auth)
        elif route.service == "query":
            form = dict(query)
            if body:
                form.update(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
            service = protocols.query_service_for(form.get("Action", ""), route.signing_service) or "sts"
            wire = await run_in_threadpool(protocols.dispatch_query, services, service, form, region, headers, auth)
        else:
            wire = await run_in_threadpool(protocols.dispatch_rest_json, services, route.service, request.method,
                                           request.url.path, query, headers, body, region, auth)
        return Response(content=wire.body, status_code=wire.status, headers=wire.headers)

    # A plain Starlette route: every request is ours to route, and FastAPI's per-request parameter
    # analysis would only add latency to a catch-all.
    app.router.add_route("/{path:path}", dispatch, methods=ALL_METHODS)
    # The access guard (Host, Origin, CSRF) sees every request, the fast path's too.
    return AccessGuard(RuntimeFastPath(app, settings), settings=settings)


class RuntimeFastPath:
    """sagemaker-runtime (InvokeEndpoint's data path) straight from the ASGI server to the protocol layer, on the
    event loop: routed as `classify` routes it, but without the framework's request, routing and response
    objects and middleware, which cost about as much CPU per call as the rest of the path. Everything else
    goes to the FastAPI app."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not RUNTIME_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        route = classify("POST", scope["path"], headers, query)
        if route.service != "sagemaker-runtime":
            await self.app(scope, receive, send)
            return
        services: Services = self.app.state.services
        region = route.region or self.settings.region
        body = await _read_body(receive, headers)
        if body is None:
            wire = protocols.error_wire(services, "sagemaker-runtime", AwsError(
                "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length "
                f"less than or equal to {MAX_INVOCATION_BYTES}", code="ValidationError"), region, headers)
            # The rest of the body was never read: the connection cannot carry another request.
            wire.headers["Connection"] = "close"
        else:
            wire = await protocols.dispatch_rest_json_async(services, "sagemaker-runtime", "POST", scope["path"],
                                                            query, headers, body, region,
                                                            SignedRequest.from_scope(scope, body))
        raw = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in wire.headers.items()]
        if isinstance(wire.body, bytes):
            raw.append((b"content-length", str(len(wire.body)).encode()))
            await send({"type": "http.response.start", "status": wire.status, "headers": raw})
            await send({"type": "http.response.body", "body": wire.body})
            return
        await send({"type": "http.response.start", "status": wire.status, "headers": raw})
        async for chunk in wire.body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _read_body(receive, headers: dict[str, str]) -> bytes | None:
    """The request body, or None when it is larger than an invocation may be (refused before it is all read)."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_INVOCATION_BYTES:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_INVOCATION_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(int(declared), limit)
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > limit:
            raise RequestTooLarge(len(buffer), limit)
    return bytes(buffer)


async def emulator_endpoint(request: Request, services: Services, controllers: ControllerManager) -> Response:
    path = request.url.path
    if path == "/_emulator/ui" or path.startswith("/_emulator/ui/"):
        from emulator import ui
        return await ui.handle(request, services)
    if path == "/_emulator/health" and request.method == "GET":
        docker_ok = await asyncio.to_thread(docker_available)
        body = {"status": "running", "version": __version__, "docker": docker_ok,
                "dataDir": str(services.settings.data_dir), **sdk_listener_info(services.settings)}
        runtime = job_runtime(controllers)
        if docker_ok and runtime is not None and "containers" in request.query_params:
            # The address containers reach this emulator at (sagemaker-emulator env --local-mode).
            body["containerEndpoint"] = await asyncio.to_thread(runtime.container_endpoint)
        return JSONResponse(body)
    if path == "/_emulator/events" and request.method == "GET":
        from emulator.core.events import delivery
        return JSONResponse({"deliveries": await run_in_threadpool(delivery.recent, services)})
    if path == "/_emulator/reset" and request.method == "POST":
        await run_in_threadpool(services.reset)
        return JSONResponse({"status": "reset"})
    if path.startswith(RUN_SCHEDULE[0]) and path.endswith(RUN_SCHEDULE[1]) and request.method == "POST":
        return await run_schedule(services, path[len(RUN_SCHEDULE[0]):-len(RUN_SCHEDULE[1])])
    return JSONResponse({"message": f"Unknown emulator endpoint {request.method} {path}"}, status_code=404)


RUN_SCHEDULE = ("/_emulator/monitoring-schedules/", "/run")


async def run_schedule(services: Services, name: str) -> Response:
    """Run a monitoring schedule's next execution now (docs/model-monitor.md): the execution's summary, with
    the ARN of the processing job it started."""
    from emulator.runtime.controllers.schedules import run_now
    try:
        answer = await run_in_threadpool(run_now, services, name, time.time())
    except AwsError as err:
        return JSONResponse({"message": err.message}, status_code=400)
    if answer is None:
        return JSONResponse({"message": f"Monitoring schedule {name} not found."}, status_code=404)
    return JSONResponse(answer)


def job_runtime(controllers: ControllerManager) -> Runtime | None:
    """The job controller's runtime (None when jobs are switched off)."""
    from emulator.runtime.controllers.jobs import JobController
    return next((c.runtime for c in controllers.controllers if isinstance(c, JobController)), None)


def sdk_listener_info(settings: Settings) -> dict:
    """What `sagemaker-emulator env` / `sdk-setup` need to know about this server (emulator/sdk_setup.py)."""
    from emulator.tls import ca_bundle_path
    info = {"region": settings.region, "accountId": settings.account_id}
    if settings.sdk_https_port > 0:
        info.update(sdkHttpsPort=settings.sdk_https_port, caBundle=str(ca_bundle_path(settings.tls_dir)))
    elif settings.tls:
        info["caBundle"] = str(ca_bundle_path(settings.tls_dir))
    return info


def seed_builtin_data(services: Services) -> None:
    """The JumpStart cache bucket the SDK's JumpStart helpers read (specs, scripts, model tarballs),
    now and after every reset."""
    from emulator.core.jumpstart import seed_jumpstart_cache

    def seed() -> None:
        seed_jumpstart_cache(services)
    seed()
    services.after_reset_hooks.append(seed)


def start_runtime(services: Services) -> ControllerManager:
    """Start the controllers -- jobs and endpoints (unless switched off), tuning jobs, pipeline
    executions, alarms, event deliveries -- which live outside core on purpose; their start-up resync
    picks up whatever a previous run left."""
    from emulator.pipelines import event_target
    from emulator.pipelines.executor import ExecutionController
    from emulator.runtime.controllers.manager import ControllerManager
    from emulator.runtime.controllers.monitoring import AlarmController, DeliveryController
    from emulator.runtime.controllers.schedules import MonitoringScheduleController
    from emulator.runtime.controllers.tuning import TuningController
    manager = ControllerManager(services, resync_seconds=services.settings.resync_seconds)
    if services.settings.run_jobs:
        from emulator.runtime.controllers.endpoints import EndpointController
        from emulator.runtime.controllers.jobs import JobController
        jobs = manager.add(JobController(services))
        manager.add(EndpointController(services, jobs.runtime))
    manager.add(TuningController(services))
    manager.add(ExecutionController(services))
    manager.add(AlarmController(services))
    manager.add(DeliveryController(services))
    manager.add(MonitoringScheduleController(services))
    event_target.register()
    manager.start()
    return manager


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for the server (port 0: the kernel picks a free one; read it back with
    getsockname)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock
