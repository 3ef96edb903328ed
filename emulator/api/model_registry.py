"""Model registry: model package groups and (versioned or unversioned) model packages."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import model_registry as core


def _page(key: str, items: list[dict], token: str | None) -> dict:
    return {key: items, **({"NextToken": token} if token else {})}


@handler("sagemaker", "CreateModelPackageGroup")
def create_model_package_group(ctx: RequestContext, req: dict) -> dict:
    return {"ModelPackageGroupArn": core.create_group(ctx.services, ctx.region, req)["ModelPackageGroupArn"]}


@handler("sagemaker", "DescribeModelPackageGroup")
def describe_model_package_group(ctx: RequestContext, req: dict) -> dict:
    return core.get_group(ctx.services, req["ModelPackageGroupName"], ctx.region)


@handler("sagemaker", "ListModelPackageGroups")
def list_model_package_groups(ctx: RequestContext, req: dict) -> dict:
    return _page("ModelPackageGroupSummaryList", *core.list_groups(ctx.services, req))


@handler("sagemaker", "DeleteModelPackageGroup")
def delete_model_package_group(ctx: RequestContext, req: dict) -> dict:
    core.delete_group(ctx.services, ctx.region, req["ModelPackageGroupName"])
    return {}


@handler("sagemaker", "CreateModelPackage")
def create_model_package(ctx: RequestContext, req: dict) -> dict:
    return {"ModelPackageArn": core.create_package(ctx.services, ctx.region, req)["ModelPackageArn"]}


@handler("sagemaker", "DescribeModelPackage")
def describe_model_package(ctx: RequestContext, req: dict) -> dict:
    return core.get_package(ctx.services, req["ModelPackageName"], ctx.region)


@handler("sagemaker", "UpdateModelPackage")
def update_model_package(ctx: RequestContext, req: dict) -> dict:
    return {"ModelPackageArn": core.update_package(ctx.services, ctx.region, req)["ModelPackageArn"]}


@handler("sagemaker", "DeleteModelPackage")
def delete_model_package(ctx: RequestContext, req: dict) -> dict:
    core.delete_package(ctx.services, ctx.region, req["ModelPackageName"])
    return {}


@handler("sagemaker", "ListModelPackages")
def list_model_packages(ctx: RequestContext, req: dict) -> dict:
    return _page("ModelPackageSummaryList", *core.list_packages(ctx.services, ctx.region, req))


@handler("sagemaker", "BatchDescribeModelPackage")
def batch_describe_model_package(ctx: RequestContext, req: dict) -> dict:
    return core.batch_describe(ctx.services, ctx.region, req["ModelPackageArnList"])
