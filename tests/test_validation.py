"""Model-driven request validation (emulator/aws/validation.py) without a server: every constraint of
botocore's service model, worded as AWS words it. test_protocol.py checks the same over HTTP."""

from __future__ import annotations

import pytest

from emulator.aws.errors import SerializationException, ValidationException
from emulator.aws.models import operation_model
from emulator.aws.validation import validate_input

VALID_TRAINING_JOB = {
    "TrainingJobName": "job-1",
    "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::000000000000:role/R",
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
}


def errors_of(operation: str, params: dict) -> str:
    with pytest.raises(ValidationException) as info:
        validate_input(operation_model("sagemaker", operation).input_shape, params)
    return info.value.message


def test_a_valid_request_passes_and_unknown_members_are_ignored():
    shape = operation_model("sagemaker", "CreateTrainingJob").input_shape
    validate_input(shape, VALID_TRAINING_JOB)
    validate_input(shape, {**VALID_TRAINING_JOB, "NotInTheModel": 1})


NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"  # botocore's model of TrainingJobName
LONG = "x" * 64


@pytest.mark.parametrize("change, violations", [
    ({"TrainingJobName": "bad name"},
     [f"Value 'bad name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression "
      f"pattern: {NAME_PATTERN}"]),
    ({"TrainingJobName": LONG},
     [f"Value '{LONG}' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or "
      "equal to 63",
      f"Value '{LONG}' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression "
      f"pattern: {NAME_PATTERN}"]),
    ({"StoppingCondition": {"MaxRuntimeInSeconds": 0}},
     ["Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value "
      "greater than or equal to 1"]),
    ({"AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "Fast"}},
     ["Value 'Fast' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy "
      "enum value set: [Pipe, File, FastFile]"]),
    ({"RoleArn": None},
     ["Value null at 'roleArn' failed to satisfy constraint: Member must not be null"]),
    ({"Tags": [{"Key": "k", "Value": "v"}, {"Key": "", "Value": "v"}]},
     ["Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length greater than or "
      "equal to 1"]),
    ({"HyperParameters": {"eta": "x" * 2501}},
     [f"Value '{'x' * 2501}' at 'hyperParameters.eta' failed to satisfy constraint: Member must have length less "
      "than or equal to 2500"]),
])
def test_each_violation_is_worded_as_aws_words_it(change, violations):
    count = f"{len(violations)} validation error{'s' if len(violations) > 1 else ''} detected: "
    assert errors_of("CreateTrainingJob", {**VALID_TRAINING_JOB, **change}) == count + "; ".join(violations)


def test_several_violations_are_counted_and_listed_in_order():
    found = errors_of("CreateTrainingJob", {**VALID_TRAINING_JOB, "TrainingJobName": "bad name", "RoleArn": None})
    assert found.startswith("2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: "
                            "Member must not be null; Value 'bad name' at 'trainingJobName'")


@pytest.mark.parametrize("change", [
    {"TrainingJobName": 5}, {"Tags": {"Key": "k"}}, {"ResourceConfig": {"InstanceCount": "1"}},
    {"EnableNetworkIsolation": "true"}, {"ResourceConfig": []},
])
def test_wrong_json_types_are_serialization_errors_not_validation_errors(change):
    with pytest.raises(SerializationException):
        validate_input(operation_model("sagemaker", "CreateTrainingJob").input_shape,
                       {**VALID_TRAINING_JOB, **change})


def test_integral_floats_count_as_integers_and_non_finite_floats_pass_as_botocore_sends_them():
    validate_input(operation_model("sagemaker", "CreateTrainingJob").input_shape,
                   {**VALID_TRAINING_JOB, "StoppingCondition": {"MaxRuntimeInSeconds": 600.0}})
    shape = operation_model("sagemaker-metrics", "BatchPutMetrics").input_shape
    validate_input(shape, {"TrialComponentName": "tc", "MetricData": [
        {"MetricName": "m", "Timestamp": 1.0, "Value": "NaN"}]})
