"""Model registry (groups, versioned and unversioned packages) and model records, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ACCOUNT_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
INFERENCE = {
    "Containers": [
        {
            "Image": IMAGE,
            "ModelDataUrl": "s3://bucket/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
            "Framework": "XGBOOST",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
    "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
    "SupportedTransformInstanceTypes": ["ml.m5.large"],
}
METRICS = {
    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://bucket/eval.json"}}
}


pytestmark = pytest.mark.own_emulator  # the tests reset it and count what they list


@pytest.fixture(autouse=True)
def clean(server):
    server.reset()


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]


def test_group_lifecycle(sagemaker):
    arn = sagemaker.create_model_package_group(
        ModelPackageGroupName="Churn", ModelPackageGroupDescription="d", Tags=[{"Key": "k", "Value": "v"}]
    )["ModelPackageGroupArn"]
    assert arn == f"{ACCOUNT_PREFIX}:model-package-group/churn"
    desc = sagemaker.describe_model_package_group(ModelPackageGroupName="Churn")
    assert (desc["ModelPackageGroupStatus"], desc["ModelPackageGroupDescription"]) == ("Completed", "d")
    assert (
        sagemaker.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupName"] == "Churn"
    )
    err = error_of(sagemaker.create_model_package_group, ModelPackageGroupName="Churn")
    assert err["Code"] == "ValidationException" and "already exists" in err["Message"]
    sagemaker.create_model_package_group(ModelPackageGroupName="Other")
    listed = sagemaker.list_model_package_groups(NameContains="chu")["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == ["Churn"]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    sagemaker.delete_model_package_group(ModelPackageGroupName="Churn")
    err = error_of(sagemaker.describe_model_package_group, ModelPackageGroupName="Churn")
    assert err["Code"] == "ValidationException" and "does not exist" in err["Message"]


def test_versions_are_numbered_per_group_and_keep_what_was_given(sagemaker):
    sagemaker.create_model_package_group(ModelPackageGroupName="Churn")
    arns = [
        sagemaker.create_model_package(
            ModelPackageGroupName="Churn",
            InferenceSpecification=INFERENCE,
            ModelMetrics=METRICS,
            ModelPackageDescription=f"v{i}",
            CustomerMetadataProperties={"git": f"sha{i}"},
        )["ModelPackageArn"]
        for i in (1, 2, 3)
    ]
    assert arns == [f"{ACCOUNT_PREFIX}:model-package/churn/{n}" for n in (1, 2, 3)]
    desc = sagemaker.describe_model_package(ModelPackageName=arns[1])
    assert desc["ModelPackageVersion"] == 2 and desc["ModelPackageGroupName"] == "Churn"
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"
    assert desc["ModelPackageStatus"] == "Completed"
    assert desc["InferenceSpecification"] == INFERENCE
    assert desc["ModelMetrics"] == METRICS
    assert desc["CustomerMetadataProperties"] == {"git": "sha2"}

    # A deleted version's number is not handed out again.
    sagemaker.delete_model_package(ModelPackageName=arns[2])
    assert (
        error_of(sagemaker.describe_model_package, ModelPackageName=arns[2])["Code"] == "ValidationException"
    )
    fourth = sagemaker.create_model_package(
        ModelPackageGroupName=f"{ACCOUNT_PREFIX}:model-package-group/churn",
        InferenceSpecification=INFERENCE,
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    assert fourth.endswith("/churn/4")
    assert sagemaker.describe_model_package(ModelPackageName=fourth)["ModelApprovalStatus"] == "Approved"

    err = error_of(sagemaker.delete_model_package_group, ModelPackageGroupName="Churn")
    assert err["Code"] == "ConflictException"


def test_approval_transitions_and_metadata_updates(sagemaker):
    sagemaker.create_model_package_group(ModelPackageGroupName="g")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="g",
        InferenceSpecification=INFERENCE,
        CustomerMetadataProperties={"a": "1", "b": "2"},
    )["ModelPackageArn"]
    before = sagemaker.describe_model_package(ModelPackageName=arn)["LastModifiedTime"]
    for status in ("Approved", "Rejected", "Approved"):
        sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=f"now {status}"
        )
        desc = sagemaker.describe_model_package(ModelPackageName=arn)
        assert (desc["ModelApprovalStatus"], desc["ApprovalDescription"]) == (status, f"now {status}")
    assert desc["LastModifiedTime"] >= before
    sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"c": "3"}, CustomerMetadataPropertiesToRemove=["a"]
    )
    assert sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"] == {
        "b": "2",
        "c": "3",
    }
    assert (
        error_of(
            sagemaker.update_model_package,
            ModelPackageArn=arn,
            CustomerMetadataProperties={"x": "1"},
            CustomerMetadataPropertiesToRemove=["x"],
        )["Code"]
        == "ValidationException"
    )


def test_list_and_batch_describe(sagemaker):
    sagemaker.create_model_package_group(ModelPackageGroupName="g")
    v1 = sagemaker.create_model_package(
        ModelPackageGroupName="g", InferenceSpecification=INFERENCE, ModelApprovalStatus="Approved"
    )["ModelPackageArn"]
    v2 = sagemaker.create_model_package(ModelPackageGroupName="g", InferenceSpecification=INFERENCE)[
        "ModelPackageArn"
    ]
    plain = sagemaker.create_model_package(
        ModelPackageName="standalone", InferenceSpecification=INFERENCE, ModelApprovalStatus="Approved"
    )["ModelPackageArn"]
    assert plain == f"{ACCOUNT_PREFIX}:model-package/standalone"
    assert "ModelApprovalStatus" not in sagemaker.describe_model_package(ModelPackageName="standalone")

    in_group = sagemaker.list_model_packages(
        ModelPackageGroupName="g", SortBy="CreationTime", SortOrder="Ascending"
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in in_group] == [v1, v2]
    approved = sagemaker.list_model_packages(ModelPackageGroupName="g", ModelApprovalStatus="Approved")
    assert [p["ModelPackageVersion"] for p in approved["ModelPackageSummaryList"]] == [1]
    # Without a group, ListModelPackages lists unversioned packages unless told otherwise.
    assert [p["ModelPackageArn"] for p in sagemaker.list_model_packages()["ModelPackageSummaryList"]] == [
        plain
    ]
    assert len(sagemaker.list_model_packages(ModelPackageType="Both")["ModelPackageSummaryList"]) == 3

    missing = f"{ACCOUNT_PREFIX}:model-package/g/9"
    out = sagemaker.batch_describe_model_package(ModelPackageArnList=[v1, v2, missing])
    assert set(out["ModelPackageSummaries"]) == {v1, v2}
    assert out["ModelPackageSummaries"][v1]["InferenceSpecification"] == INFERENCE
    assert out["ModelPackageSummaries"][v2]["ModelApprovalStatus"] == "PendingManualApproval"
    assert set(out["BatchDescribeModelPackageErrorMap"]) == {missing}


def test_create_model_package_needs_exactly_one_of_name_and_group(sagemaker):
    sagemaker.create_model_package_group(ModelPackageGroupName="g")
    assert (
        "Cannot determine which one to use"
        in error_of(
            sagemaker.create_model_package,
            ModelPackageName="n",
            ModelPackageGroupName="g",
            InferenceSpecification=INFERENCE,
        )["Message"]
    )
    assert (
        error_of(sagemaker.create_model_package, InferenceSpecification=INFERENCE)["Code"]
        == "ValidationException"
    )
    assert (
        "does not exist"
        in error_of(
            sagemaker.create_model_package, ModelPackageGroupName="nope", InferenceSpecification=INFERENCE
        )["Message"]
    )
    sagemaker.create_model_package(ModelPackageName="n", InferenceSpecification=INFERENCE)
    assert (
        "already exists"
        in error_of(sagemaker.create_model_package, ModelPackageName="n", InferenceSpecification=INFERENCE)[
            "Message"
        ]
    )
    assert (
        error_of(
            sagemaker.update_model_package,
            ModelPackageArn=f"{ACCOUNT_PREFIX}:model-package/n",
            ModelApprovalStatus="Approved",
        )["Code"]
        == "ValidationException"
    )


def test_model_records(sagemaker):
    container = {"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz", "Environment": {"A": "1"}}
    arn = sagemaker.create_model(
        ModelName="My-Model", PrimaryContainer=container, ExecutionRoleArn="arn:aws:iam::000000000000:role/R"
    )["ModelArn"]
    assert arn == f"{ACCOUNT_PREFIX}:model/my-model"
    desc = sagemaker.describe_model(ModelName="My-Model")
    assert desc["PrimaryContainer"] == container and desc["EnableNetworkIsolation"] is False
    err = error_of(sagemaker.create_model, ModelName="My-Model", PrimaryContainer=container)
    assert "Cannot create already existing model" in err["Message"]
    sagemaker.create_model(ModelName="second", Containers=[container, container])
    assert [
        m["ModelName"] for m in sagemaker.list_models(SortBy="Name", SortOrder="Ascending")["Models"]
    ] == ["My-Model", "second"]
    assert [m["ModelName"] for m in sagemaker.list_models(NameContains="sec")["Models"]] == ["second"]
    sagemaker.delete_model(ModelName="My-Model")
    assert "Could not find model" in error_of(sagemaker.describe_model, ModelName="My-Model")["Message"]
    assert error_of(sagemaker.delete_model, ModelName="My-Model")["Code"] == "ValidationException"
    assert error_of(sagemaker.create_model, ModelName="empty")["Code"] == "ValidationException"
