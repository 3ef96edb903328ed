"""The generic protocol layer: routing, model-driven validation in AWS's wording, error shapes."""

from __future__ import annotations

import json

import pytest
import requests

from tests.jobhelpers import error_of
from tests.signing import signed

JOB = dict(
    AlgorithmSpecification={"TrainingInputMode": "File", "TrainingImage": "busybox"},
    RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
    OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    StoppingCondition={"MaxRuntimeInSeconds": 60},
)


def test_pattern_violation_is_reported_in_aws_wording(sagemaker):
    err = error_of(sagemaker.create_training_job, TrainingJobName="bad name", **JOB)
    assert err["Code"] == "ValidationException"
    assert err["status"] == 400
    assert err["Message"] == (
        "1 validation error detected: Value 'bad name' at 'trainingJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def test_max_length_violation(sagemaker):
    err = error_of(sagemaker.create_training_job, TrainingJobName="a" * 64, **JOB)
    assert "Member must have length less than or equal to 63" in err["Message"]
    # 64 characters also break the pattern's {0,62}: both are reported, as AWS does.
    assert err["Message"].startswith("2 validation errors detected:")


def test_enum_violation_names_the_allowed_values(sagemaker):
    err = error_of(sagemaker.list_training_jobs, StatusEquals="Finished")
    assert "Value 'Finished' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [" \
        in err["Message"]
    assert "Completed" in err["Message"]


def test_range_violation(sagemaker):
    err = error_of(sagemaker.list_training_jobs, MaxResults=500)
    assert "Value '500' at 'maxResults' failed to satisfy constraint: " \
        "Member must have value less than or equal to 100" in err["Message"]


def test_nested_member_paths_use_lower_camel_case(sagemaker):
    job = json.loads(json.dumps(JOB))
    job["ResourceConfig"]["InstanceType"] = "ml.bogus"
    err = error_of(sagemaker.create_training_job, TrainingJobName="ok", **job)
    assert "at 'resourceConfig.instanceType'" in err["Message"]


def test_list_items_are_addressed_with_member_index(sagemaker):
    err = error_of(sagemaker.create_training_job, TrainingJobName="ok",
                   Tags=[{"Key": "a", "Value": "b"}, {"Key": "k" * 200, "Value": "v"}], **JOB)
    assert "at 'tags.2.member.key'" in err["Message"]


def raw(server, target: str, body) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return signed("POST", server.endpoint + "/", data, {
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}, service="sagemaker")


def test_missing_required_member_is_not_null_violation(server):
    resp = raw(server, "SageMaker.DescribeTrainingJob", {})
    assert resp.status_code == 400
    assert resp.headers["X-Amzn-ErrorType"] == "ValidationException"
    assert resp.json()["message"] == ("1 validation error detected: Value null at 'trainingJobName' failed to "
                                      "satisfy constraint: Member must not be null")


def test_wrong_type_is_a_serialization_error(server):
    resp = raw(server, "SageMaker.ListTrainingJobs", {"MaxResults": "ten"})
    assert resp.status_code == 400
    assert resp.json()["__type"] == "SerializationException"


def test_malformed_json_is_a_client_error(server):
    resp = raw(server, "SageMaker.ListTrainingJobs", b"{not json")
    assert resp.status_code == 400


def test_unknown_operation(server):
    resp = raw(server, "SageMaker.FlyToTheMoon", {})
    assert resp.status_code == 400
    assert resp.json()["__type"] == "UnknownOperationException"


def test_operation_without_handler_is_a_clear_400(server):
    resp = raw(server, "SageMaker.ListNotebookInstances", {})
    assert resp.status_code == 400
    assert "not supported by the SageMaker Emulator" in resp.json()["message"]


def test_health_reports_version_and_docker(server):
    body = requests.get(server.endpoint + "/_emulator/health").json()
    assert body["status"] == "running" and "version" in body and isinstance(body["docker"], bool)


def test_sts_and_iam_answer_with_the_emulator_account(server):
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    role = server.client("iam").get_role(RoleName="AnyRoleName")["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/AnyRoleName"


def test_logs_api_round_trip_and_sdk_loop_contract(logs):
    logs.create_log_group(logGroupName="/test/protocol")
    logs.create_log_stream(logGroupName="/test/protocol", logStreamName="job/algo-1-1")
    logs.put_log_events(logGroupName="/test/protocol", logStreamName="job/algo-1-1",
                        logEvents=[{"timestamp": 1000 + i, "message": f"line {i}"} for i in range(5)])
    first = logs.get_log_events(logGroupName="/test/protocol", logStreamName="job/algo-1-1", startFromHead=True)
    assert [e["message"] for e in first["events"]] == [f"line {i}" for i in range(5)]
    # Once caught up: no events and a forward token, which is what ends the SDK's log loop.
    again = logs.get_log_events(logGroupName="/test/protocol", logStreamName="job/algo-1-1", startFromHead=True,
                                nextToken=first["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == first["nextForwardToken"]
    streams = logs.describe_log_streams(logGroupName="/test/protocol", logStreamNamePrefix="job/")
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["job/algo-1-1"]
    assert "nextToken" not in streams
    found = logs.filter_log_events(logGroupName="/test/protocol", filterPattern="line 3")
    assert [e["message"] for e in found["events"]] == ["line 3"]
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/missing")
