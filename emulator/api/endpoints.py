"""Endpoint configurations and endpoints (thin: behaviour lives in emulator.core.endpoints; the endpoint
controller brings the containers up)."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import endpoints as core


@handler("sagemaker", "CreateEndpointConfig")
def create_endpoint_config(ctx: RequestContext, req: dict) -> dict:
    return {"EndpointConfigArn": core.create_endpoint_config(ctx.services, ctx.region, req)["EndpointConfigArn"]}


@handler("sagemaker", "DescribeEndpointConfig")
def describe_endpoint_config(ctx: RequestContext, req: dict) -> dict:
    return core.get_endpoint_config(ctx.services, ctx.region, req["EndpointConfigName"])


@handler("sagemaker", "DeleteEndpointConfig")
def delete_endpoint_config(ctx: RequestContext, req: dict) -> dict:
    core.delete_endpoint_config(ctx.services, ctx.region, req["EndpointConfigName"])
    return {}


@handler("sagemaker", "ListEndpointConfigs")
def list_endpoint_configs(ctx: RequestContext, req: dict) -> dict:
    summaries, token = core.list_endpoint_configs(ctx.services, req)
    return {"EndpointConfigs": summaries, "NextToken": token}


@handler("sagemaker", "CreateEndpoint")
def create_endpoint(ctx: RequestContext, req: dict) -> dict:
    return {"EndpointArn": core.create_endpoint(ctx.services, ctx.region, req)["EndpointArn"]}


@handler("sagemaker", "DescribeEndpoint")
def describe_endpoint(ctx: RequestContext, req: dict) -> dict:
    return core.get_endpoint(ctx.services, ctx.region, req["EndpointName"])


@handler("sagemaker", "UpdateEndpoint")
def update_endpoint(ctx: RequestContext, req: dict) -> dict:
    return {"EndpointArn": core.update_endpoint(ctx.services, ctx.region, req)["EndpointArn"]}


@handler("sagemaker", "UpdateEndpointWeightsAndCapacities")
def update_endpoint_weights_and_capacities(ctx: RequestContext, req: dict) -> dict:
    return {"EndpointArn": core.update_weights_and_capacities(ctx.services, ctx.region, req)["EndpointArn"]}


@handler("sagemaker", "DeleteEndpoint")
def delete_endpoint(ctx: RequestContext, req: dict) -> dict:
    core.delete_endpoint(ctx.services, ctx.region, req["EndpointName"])
    return {}


@handler("sagemaker", "ListEndpoints")
def list_endpoints(ctx: RequestContext, req: dict) -> dict:
    summaries, token = core.list_endpoints(ctx.services, req)
    return {"Endpoints": summaries, "NextToken": token}
