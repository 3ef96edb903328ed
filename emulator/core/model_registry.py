"""The model registry: model package groups and model packages, versioned
(`model-package/<group>/<n>`, inside a group) or unversioned (a bare name).

Version numbers come from a per-group counter rather than from the packages present, so deleting
the latest version never hands its number out again.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.aws.errors import ConflictException, ValidationException
from emulator.core.arns import arn_resource_name, sagemaker_arn
from emulator.core.listing import ListFields, filter_sort_page, list_page, pick
from emulator.core.services import Services
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS model_package_versions (
    grp TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
""")

GROUP, PACKAGE = "ModelPackageGroup", "ModelPackage"
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
_GROUP_SUMMARY = ("ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription",
                  "CreationTime", "ModelPackageGroupStatus", "ManagedConfiguration")
_PACKAGE_SUMMARY = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                    "ModelPackageDescription", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus",
                    "ModelLifeCycle", "ModelPackageRegistrationType")
_BATCH_SUMMARY = ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                  "ModelPackageDescription", "CreationTime", "InferenceSpecification", "ModelPackageStatus",
                  "ModelApprovalStatus", "ModelPackageRegistrationType")
# CreateModelPackage members that are not kept on the package as given.
_NOT_STORED = {"ModelPackageName", "ModelPackageGroupName", "Tags", "ClientToken", "ModelApprovalStatus"}


def _now() -> float:
    return time.time()


def _name_of(name_or_arn: str) -> str:
    return arn_resource_name(name_or_arn) if name_or_arn.startswith("arn:") else name_or_arn


# --- groups ------------------------------------------------------------------------------------

def find_group(services: Services, name_or_arn: str, region: str) -> dict[str, Any] | None:
    name = _name_of(name_or_arn)
    body = services.records.get(GROUP, name)
    if body is None:
        hit = services.records.get_by_arn(sagemaker_arn(GROUP, name, region, services.account_id))
        body = hit[2] if hit and hit[0] == GROUP else None
    return body


def get_group(services: Services, name_or_arn: str, region: str) -> dict[str, Any]:
    body = find_group(services, name_or_arn, region)
    if body is None:
        arn = sagemaker_arn(GROUP, _name_of(name_or_arn), region, services.account_id)
        # The registry answers a missing group with ValidationException ("... does not exist").
        raise ValidationException(f"ModelPackageGroup {arn} does not exist.")
    return body


def create_group(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["ModelPackageGroupName"]
    arn = sagemaker_arn(GROUP, name, region, services.account_id)

    def conflict() -> Exception:
        return ValidationException(f"Model Package Group already exists: {arn}")
    if services.records.arn_exists(arn):
        raise conflict()
    body = {"ModelPackageGroupName": name, "ModelPackageGroupArn": arn, "CreationTime": _now(),
            "CreatedBy": {}, "ModelPackageGroupStatus": "Completed",
            **{k: req[k] for k in ("ModelPackageGroupDescription", "ManagedConfiguration") if k in req}}
    services.records.insert(GROUP, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def packages_in(services: Services, group: str) -> list[dict[str, Any]]:
    return [p for p in services.records.list(PACKAGE)
            if p.get("ModelPackageVersion")
            and (p.get("ModelPackageGroupName") or "").lower() == group.lower()]


def delete_group(services: Services, region: str, name_or_arn: str) -> None:
    body = get_group(services, name_or_arn, region)
    versions = packages_in(services, body["ModelPackageGroupName"])
    if versions:
        raise ConflictException(f"Model Package Group {body['ModelPackageGroupArn']} contains "
                                f"{len(versions)} model package(s) and cannot be deleted. Delete the model "
                                "packages first.")
    services.records.delete(GROUP, body["ModelPackageGroupName"])
    with services.db.transaction() as conn:
        conn.execute("DELETE FROM model_package_versions WHERE grp=?",
                     (body["ModelPackageGroupName"].lower(),))


def list_groups(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    page, token = list_page(services.records, GROUP, req, ListFields(name="ModelPackageGroupName"))
    return [pick(g, _GROUP_SUMMARY) for g in page], token


# --- packages ----------------------------------------------------------------------------------

def _next_version(services: Services, group: str) -> int:
    with services.db.transaction() as conn:
        conn.execute("INSERT INTO model_package_versions (grp, last) VALUES (?, 1) "
                     "ON CONFLICT(grp) DO UPDATE SET last = last + 1", (group.lower(),))
        row = conn.execute("SELECT last FROM model_package_versions WHERE grp=?", (group.lower(),)).fetchone()
        return row[0]


def find_package(services: Services, name_or_arn: str, region: str) -> dict[str, Any] | None:
    if name_or_arn.startswith("arn:"):
        # Stored ARNs carry the lower-cased group name; a caller may send the group's own case.
        hit = services.records.get_by_arn(name_or_arn) or services.records.get_by_arn(name_or_arn.lower())
        return hit[2] if hit and hit[0] == PACKAGE else None
    body = services.records.get(PACKAGE, name_or_arn)
    if body is None:
        hit = services.records.get_by_arn(sagemaker_arn(PACKAGE, name_or_arn, region, services.account_id))
        body = hit[2] if hit and hit[0] == PACKAGE else None
    return body


def get_package(services: Services, name_or_arn: str, region: str) -> dict[str, Any]:
    body = find_package(services, name_or_arn, region)
    if body is None:
        shown = name_or_arn if name_or_arn.startswith("arn:") else \
            sagemaker_arn(PACKAGE, name_or_arn, region, services.account_id)
        raise ValidationException(f"ModelPackage {shown} does not exist.")
    return body


def create_package(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name, group_ref = req.get("ModelPackageName"), req.get("ModelPackageGroupName")
    if name and group_ref:
        # AWS's wording (recorded in getmoto/moto#7165).
        raise ValidationException("Both ModelPackageName and ModelPackageGroupName are provided in the "
                                  "input. Cannot determine which one to use.")
    if not name and not group_ref:
        raise ValidationException("Missing ARN.")
    now = _now()
    body = {k: v for k, v in req.items() if k not in _NOT_STORED}
    body.update({"CreationTime": now, "LastModifiedTime": now, "CreatedBy": {},
                 "ModelPackageStatus": "Completed",
                 "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                 "CertifyForMarketplace": bool(req.get("CertifyForMarketplace", False))})
    if group_ref:
        group = get_group(services, group_ref, region)["ModelPackageGroupName"]
        version = _next_version(services, group)
        key = f"{group}/{version}"
        # A version waits for a reviewer unless created approved (CreateModelPackage ModelApprovalStatus).
        # A versioned package has no ModelPackageName of its own: AWS leaves the member out of
        # Describe and List answers (aws/sagemaker-python-sdk#5606), and SDK v3 describes a package by
        # that member when present.
        body.update({"ModelPackageGroupName": group, "ModelPackageVersion": version,
                     "ModelApprovalStatus": req.get("ModelApprovalStatus") or "PendingManualApproval"})
    else:
        key = name
        body["ModelPackageName"] = name  # approval status does not apply to unversioned packages
    arn = sagemaker_arn(PACKAGE, key, region, services.account_id)
    body["ModelPackageArn"] = arn

    def conflict() -> Exception:
        return ValidationException(f"ModelPackage {arn} already exists.")
    if services.records.arn_exists(arn):
        raise conflict()
    services.records.insert(PACKAGE, key, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def _key_of(body: dict[str, Any]) -> str:
    if body.get("ModelPackageVersion"):
        return f"{body['ModelPackageGroupName']}/{body['ModelPackageVersion']}"
    return body["ModelPackageName"]


def update_package(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    body = get_package(services, req["ModelPackageArn"], region)
    if "ModelApprovalStatus" in req and not body.get("ModelPackageVersion"):
        raise ValidationException("ModelApprovalStatus can only be updated for versioned model packages.")
    given = req.get("CustomerMetadataProperties") or {}
    removed = req.get("CustomerMetadataPropertiesToRemove") or []
    if set(given) & set(removed):
        raise ValidationException("CustomerMetadataProperties and CustomerMetadataPropertiesToRemove both "
                                  f"name {sorted(set(given) & set(removed))}.")

    def change(b: dict) -> None:
        # Any approval status may follow any other: a rejected version can be approved again and an
        # approved one rejected (or sent back for review), which is how rollbacks are done.
        for key in ("ModelApprovalStatus", "ApprovalDescription", "ModelPackageRegistrationType",
                    "InferenceSpecification", "SourceUri", "ModelLifeCycle"):
            if key in req:
                b[key] = req[key]
        if "ModelCard" in req:
            # Members are merged: updating ModelCardContent keeps ModelCardStatus (the SDK's
            # update_model_card sends only what changed).
            b["ModelCard"] = {**(b.get("ModelCard") or {}), **req["ModelCard"]}
        metadata = {**(b.get("CustomerMetadataProperties") or {}), **given}
        for key in removed:
            metadata.pop(key, None)
        if metadata or "CustomerMetadataProperties" in b:
            b["CustomerMetadataProperties"] = metadata
        if req.get("AdditionalInferenceSpecificationsToAdd"):
            b["AdditionalInferenceSpecifications"] = (b.get("AdditionalInferenceSpecifications") or []) + \
                req["AdditionalInferenceSpecificationsToAdd"]
        b["LastModifiedTime"] = _now()
    return services.records.update(PACKAGE, _key_of(body), change)


def delete_package(services: Services, region: str, name_or_arn: str) -> None:
    body = get_package(services, name_or_arn, region)
    services.records.delete(PACKAGE, _key_of(body))


def list_packages(services: Services, region: str, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    items = services.records.list(PACKAGE)
    if req.get("ModelPackageGroupName"):
        # A group that does not exist has no packages: AWS answers with an empty list.
        group = find_group(services, req["ModelPackageGroupName"], region)
        items = packages_in(services, group["ModelPackageGroupName"]) if group else []
    kind = req.get("ModelPackageType") or ("Versioned" if req.get("ModelPackageGroupName") else "Unversioned")
    if kind != "Both":
        # AWS (ListModelPackages): Unversioned is the default when no group is named.
        items = [p for p in items if bool(p.get("ModelPackageVersion")) == (kind == "Versioned")]
    if req.get("ModelApprovalStatus"):
        items = [p for p in items if p.get("ModelApprovalStatus") == req["ModelApprovalStatus"]]
    page, token = filter_sort_page(items, req, ListFields(name="ModelPackageName"))
    return [pick(p, _PACKAGE_SUMMARY) for p in page], token


def batch_describe(services: Services, region: str, arns: list[str]) -> dict[str, Any]:
    summaries, errors = {}, {}
    for arn in arns:
        body = find_package(services, arn, region)
        if body is None or not body.get("ModelPackageVersion"):
            errors[arn] = {"ErrorCode": "ValidationException",
                           "ErrorResponse": f"Versioned model package {arn} does not exist."}
            continue
        summaries[arn] = pick(body, _BATCH_SUMMARY)
    return {"ModelPackageSummaries": summaries, "BatchDescribeModelPackageErrorMap": errors}
