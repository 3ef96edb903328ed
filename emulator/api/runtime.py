"""sagemaker-runtime: InvokeEndpoint, InvokeEndpointWithResponseStream and InvokeEndpointAsync. The first two
are coroutines: the protocol layer awaits them on the server's event loop and they go straight to the
serving containers (emulator.runtime.serving.plane). Without a data plane (the runtime switched off)
every endpoint is unknown, as AWS answers for one that is not in service."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.runtime.serving.errors import endpoint_not_found


def _plane(ctx: RequestContext, name: str):
    plane = ctx.services.serving
    if plane is None:
        raise endpoint_not_found(name, ctx.account_id)
    return plane


@handler("sagemaker-runtime", "InvokeEndpoint")
async def invoke_endpoint(ctx: RequestContext, req: dict) -> dict:
    return await _plane(ctx, req["EndpointName"]).invoke(ctx.account_id, req)


@handler("sagemaker-runtime", "InvokeEndpointWithResponseStream")
async def invoke_endpoint_with_response_stream(ctx: RequestContext, req: dict) -> dict:
    return await _plane(ctx, req["EndpointName"]).invoke_stream(ctx.account_id, req)


@handler("sagemaker-runtime", "InvokeEndpointAsync")
async def invoke_endpoint_async(ctx: RequestContext, req: dict) -> dict:
    return await _plane(ctx, req["EndpointName"]).asynchronous.submit(ctx.account_id, req)
