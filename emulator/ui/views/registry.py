"""The model registry: groups -> versions -> a version, approved or rejected with a comment through
the function UpdateModelPackage calls (after the same botocore-model validation)."""

from __future__ import annotations

import re
from typing import Any

from emulator.aws import models as aws_models
from emulator.aws.errors import AwsError
from emulator.aws.validation import validate_input
from emulator.core import browse, model_registry
from emulator.ui.pages import Ctx, Html, NotFound, page

PAGE_SIZE = 50
_MODEL_DATA = "InferenceSpecification.Containers[0].ModelDataUrl"
_ARTIFACT = re.compile(r"^s3://.+/(?P<job>[^/]+)/output/model\.tar\.gz$")


@page("/models", nav="Model registry", order=40)
def group_list(ctx: Ctx) -> Html:
    listing = browse.page(ctx.services, model_registry.GROUP, ["ModelPackageGroupName", "ModelPackageGroupDescription",
                                                               "CreationTime"],
                          name_contains=ctx.arg("name") or None, offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    return Html("models.html", {"section": "models", "page": listing, "name": ctx.arg("name")})


def _group(ctx: Ctx, name: str) -> dict[str, Any]:
    found = model_registry.find_group(ctx.services, name, ctx.region)
    if found is None:
        raise NotFound(f"There is no model package group named {name!r}.")
    return found


def source_job(ctx: Ctx, model_data_url: str | None) -> dict[str, Any] | None:
    """The training job whose model artifact a version packages, when it is in this emulator."""
    match = _ARTIFACT.match(model_data_url or "")
    if not match:
        return None
    job = ctx.services.records.get("TrainingJob", match.group("job"))
    if job and (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") == model_data_url:
        return job
    return None


@page("/models/{group}")
def group_detail(ctx: Ctx, group: str) -> Html:
    found = _group(ctx, group)
    status = ctx.arg("status")
    status = status if status in model_registry.APPROVAL_STATUSES else ""
    versions = browse.page(ctx.services, model_registry.PACKAGE,
                           ["ModelPackageVersion", "ModelApprovalStatus", "ModelPackageStatus", "CreationTime",
                            "ModelPackageDescription", _MODEL_DATA],
                           equals={"ModelApprovalStatus": status} if status else None,
                           name_prefix=f"{found['ModelPackageGroupName']}/", offset=ctx.int_arg("offset"),
                           limit=PAGE_SIZE)
    for row in versions.rows:
        row["source"] = source_job(ctx, row[_MODEL_DATA])
    return Html("model_group.html", {"section": "models", "group": found, "versions": versions, "status": status,
                                     "statuses": model_registry.APPROVAL_STATUSES})


def _version(ctx: Ctx, group: str, version: int) -> dict[str, Any]:
    found = _group(ctx, group)
    package = model_registry.find_package(ctx.services, f"{found['ModelPackageGroupName']}/{version}", ctx.region)
    if package is None:
        raise NotFound(f"Model package group {group!r} has no version {version}.")
    return package


def _version_context(ctx: Ctx, package: dict[str, Any]) -> dict[str, Any]:
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    reports = []
    for section, entries in (package.get("ModelMetrics") or {}).items():
        for report, source in (entries or {}).items():
            if isinstance(source, dict) and source.get("S3Uri"):
                reports.append((f"{section} / {report}", source["S3Uri"], source.get("ContentType", "")))
    return {"package": package, "containers": containers, "reports": reports,
            "source": source_job(ctx, containers[0].get("ModelDataUrl") if containers else None),
            "statuses": model_registry.APPROVAL_STATUSES}


@page("/models/{group}/{version:int}")
def version_detail(ctx: Ctx, group: str, version: int) -> Html:
    package = _version(ctx, group, version)
    return Html("model_version.html", {"section": "models", **_version_context(ctx, package)})


@page("/models/{group}/{version:int}/approval", method="POST")
def update_approval(ctx: Ctx, group: str, version: int) -> Html:
    package = _version(ctx, group, version)
    request = {"ModelPackageArn": package["ModelPackageArn"],
               "ModelApprovalStatus": ctx.form.get("status", "")}
    if ctx.form.get("comment"):
        request["ApprovalDescription"] = ctx.form["comment"]
    try:
        validate_input(aws_models.operation_model("sagemaker", "UpdateModelPackage").input_shape, request)
        updated = model_registry.update_package(ctx.services, ctx.region, request)
    except AwsError as err:
        return Html("_approval.html", {**_version_context(ctx, package), "error": err.message}, err.status)
    return Html("_approval.html", {**_version_context(ctx, updated),
                                   "message": f"Version {version} is now {updated['ModelApprovalStatus']}."})
