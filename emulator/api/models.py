"""CreateModel / DescribeModel / ListModels / DeleteModel over the model records of
emulator.core.models (which pipeline steps share), and which the inference code deploys."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import models as core
from emulator.core.listing import ListFields, list_page, pick


@handler("sagemaker", "CreateModel")
def create_model(ctx: RequestContext, req: dict) -> dict:
    return {"ModelArn": core.create_model(ctx.services, ctx.region, req)["ModelArn"]}


@handler("sagemaker", "DescribeModel")
def describe_model(ctx: RequestContext, req: dict) -> dict:
    return core.get_model(ctx.services, ctx.region, req["ModelName"])


@handler("sagemaker", "DeleteModel")
def delete_model(ctx: RequestContext, req: dict) -> dict:
    core.get_model(ctx.services, ctx.region, req["ModelName"])
    ctx.services.records.delete(core.MODEL, req["ModelName"])
    return {}


@handler("sagemaker", "ListModels")
def list_models(ctx: RequestContext, req: dict) -> dict:
    page, token = list_page(ctx.services.records, core.MODEL, req, ListFields(name="ModelName"))
    out = {"Models": [pick(m, ("ModelName", "ModelArn", "CreationTime")) for m in page]}
    if token:
        out["NextToken"] = token
    return out
