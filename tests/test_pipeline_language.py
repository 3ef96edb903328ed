"""The pure parts of SageMaker Pipelines, checked in milliseconds without a server: the expression
language, conditions, definition parsing, the execution graph, cache keys and retry policies
(pipeline_definitions.md §1-§4). The end-to-end behaviour is in test_pipelines.py."""

from __future__ import annotations

import json
import re
import time

import pytest

from emulator.aws.errors import ValidationException
from emulator.pipelines import cache, definition, retry
from emulator.pipelines.conditions import evaluate_all, evaluate_condition
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate
from emulator.pipelines.graph import build_graph, pruned_by_condition

TRAIN_PROPERTIES = {
    "TrainingJobName": "pipelines-abc-Train-x",
    "FinalMetricDataList": [{"MetricName": "train:loss", "Value": 0.125}, {"MetricName": "acc", "Value": 0.9}],
    "HyperParameters": {"epochs": "7"},
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
}
PREP_PROPERTIES = {"ProcessingOutputConfig": {"Outputs": [
    {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
    {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test"}}]}}


def scope(**extra) -> Scope:
    steps = {"Train": TRAIN_PROPERTIES, "Prep": PREP_PROPERTIES}
    documents = {"s3://b/eval/report.json": {"metrics": {"mse": {"value": 2.5}}, "list": [{"a": 1}, {"a": 2}]}}
    return Scope(parameters={"Epochs": 7, "Rate": 0.5, "Flag": True, "Name": "x"},
                 execution={"PipelineExecutionId": "abc123", "PipelineName": "p"},
                 experiment={"ExperimentName": "p", "TrialName": "abc123"},
                 step_properties=lambda name: steps.get(name, {}),
                 read_json=documents.__getitem__,
                 property_file_uri=lambda step, name: f"s3://b/eval/{name.lower()}.json", **extra)


# --- expressions ----------------------------------------------------------------------------------

def test_get_keeps_native_types_and_walks_describe_shaped_properties():
    s = scope()
    assert evaluate({"Get": "Parameters.Epochs"}, s) == 7
    assert evaluate({"Get": "Parameters.Flag"}, s) is True
    assert evaluate({"Get": "Execution.PipelineExecutionId"}, s) == "abc123"
    assert evaluate({"Get": "PipelineExperimentConfig.TrialName"}, s) == "abc123"
    assert evaluate({"Get": "Steps.Train.FinalMetricDataList['train:loss'].Value"}, s) == 0.125
    assert evaluate({"Get": "Steps.Train.FinalMetricDataList[1].Value"}, s) == 0.9
    assert evaluate({"Get": 'Steps.Prep.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri'}, s) == "s3://b/test"
    assert evaluate({"Get": "Steps.Train.HyperParameters['epochs']"}, s) == "7"
    # Nested in a request: every Get inside is replaced, everything else kept.
    request = {"Count": {"Get": "Parameters.Epochs"}, "Tags": [{"Value": {"Get": "Parameters.Name"}}], "Fixed": 1}
    assert evaluate(request, s) == {"Count": 7, "Tags": [{"Value": "x"}], "Fixed": 1}


@pytest.mark.parametrize("path, message", [
    ("Parameters.Missing", "Parameter 'Missing' is undefined."),
    ("Steps.Train.FinalMetricDataList['nope'].Value", "Steps.Train.FinalMetricDataList['nope'].Value is undefined."),
    ("Steps.Train.FinalMetricDataList[5]", "Steps.Train.FinalMetricDataList[5] is undefined."),
    ("Execution.Nothing", "Execution.Nothing is undefined."),
    ("Execution.TrainingJobName", "Execution.TrainingJobName is only defined inside the step that creates the job."),
    ("Elsewhere.X", "Elsewhere.X is undefined."),
])
def test_undefined_references_fail_with_the_reason_the_step_reports(path, message):
    with pytest.raises(ExpressionError) as info:
        evaluate({"Get": path}, scope())
    assert str(info.value) == message


def test_join_stringifies_like_the_sdk_and_current_datetime_is_iso_utc():
    s = scope()
    joined = {"Std:Join": {"On": "/", "Values": ["s3:/", {"Get": "Parameters.Name"}, {"Get": "Parameters.Flag"},
                                                 {"Get": "Parameters.Rate"}, None]}}
    assert evaluate(joined, s) == "s3://x/true/0.5/"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", evaluate({"Get": "Execution.CurrentDateTime"}, s))
    assert evaluate({"Get": "Execution.TrainingJobName"}, scope(current_job_name="job-1")) == "job-1"


def test_json_get_reads_property_files_and_s3_uris_with_the_sdks_json_paths():
    s = scope()
    by_file = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Report"},
                               "Path": "metrics.mse.value"}}
    assert evaluate(by_file, s) == 2.5
    by_uri = {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://b/eval", "report.json"]}},
                              "Path": "$.list[1]['a']"}}
    assert evaluate(by_uri, s) == 2
    with pytest.raises(ExpressionError, match=r"Invalid json path 'metrics.rmse' for the contents of s3://b/eval"):
        evaluate({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Report"},
                                  "Path": "metrics.rmse"}}, s)


# --- conditions -------------------------------------------------------------------------------------

@pytest.mark.parametrize("condition, expected", [
    ({"Type": "LessThan", "LeftValue": {"Get": "Steps.Train.FinalMetricDataList['train:loss'].Value"},
      "RightValue": 0.5}, True),
    ({"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Epochs"}, "RightValue": 7.0}, True),
    ({"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": True}, True),
    ({"Type": "NotEquals", "LeftValue": "a", "RightValue": "b"}, True),
    ({"Type": "In", "QueryValue": {"Get": "Parameters.Epochs"}, "Values": [1, 7.0]}, True),
    ({"Type": "NotIn", "QueryValue": "c", "Values": ["a", "b"]}, True),
    ({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}}, False),
    ({"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                                   {"Type": "LessThan", "LeftValue": 1, "RightValue": 2}]}, True),
    ({"Type": "And", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1},
                                    {"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}]}, False),
])
def test_conditions(condition, expected):
    assert evaluate_condition(condition, scope()) is expected


def test_conditions_do_not_compare_across_types():
    with pytest.raises(ExpressionError, match=r"LeftValue \[7\] of type \[str\] and RightValue \[7\] of type \[int\]"):
        evaluate_condition({"Type": "Equals", "LeftValue": "7", "RightValue": 7}, scope())
    # A boolean is not a number, and In compares values of one type only.
    assert evaluate_condition({"Type": "In", "QueryValue": True, "Values": [1]}, scope()) is False
    assert evaluate_all([], scope()) is True


# --- definition parsing ---------------------------------------------------------------------------

def text(steps, parameters=(), **extra) -> str:
    return json.dumps({"Version": "2020-12-01", "Parameters": list(parameters), "Steps": steps, **extra})


FAIL = {"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}


@pytest.mark.parametrize("source, message", [
    ("{not json", "Pipeline definition is not valid JSON"),
    ("[]", "Pipeline definition must be a JSON object."),
    (json.dumps({"Version": "2019-01-01", "Steps": []}), "Unsupported pipeline definition Version '2019-01-01'"),
    (json.dumps({"Version": "2020-12-01"}), "Pipeline definition must contain a list of Steps."),
    (text([FAIL, FAIL]), "Duplicate step name F: step names must be unique in a pipeline."),
    (text([{"Name": "bad name", "Type": "Fail"}]), "Step name 'bad name' must match"),
    (text([{"Name": "T", "Type": "Teleport"}]), "Step T has unknown step type 'Teleport'."),
    (text([FAIL], [{"Name": "P", "Type": "String"}, {"Name": "P", "Type": "String"}]), "Duplicate parameter name P"),
    (text([FAIL], [{"Name": "P", "Type": "Text"}]), "Parameter P has invalid type 'Text'."),
    (text([{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Missing"}}}]),
     "parameter Missing"),
    (text([{"Name": "A", "Type": "Fail", "DependsOn": ["Nope"]}]), "Nope"),
])
def test_definition_errors_name_what_is_wrong(source, message):
    with pytest.raises(ValidationException) as info:
        definition.parse(source)
    assert message in info.value.message


def test_definition_parses_parameters_and_condition_branches():
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Parameters.Mode"}, "RightValue": "a"}],
        "IfSteps": [{"Name": "Yes", "Type": "Fail", "Arguments": {}}],
        "ElseSteps": [{"Name": "No", "Type": "Fail", "Arguments": {}}]}}
    parsed = definition.parse(text([gate], [{"Name": "Mode", "Type": "String", "DefaultValue": "a"}]))
    assert list(parsed.parameters) == ["Mode"]
    assert {n: (s.type, s.branch_of, s.branch) for n, s in parsed.steps.items()} == {
        "Gate": ("Condition", None, None), "Yes": ("Fail", "Gate", True), "No": ("Fail", "Gate", False)}


# --- graph ------------------------------------------------------------------------------------------

def processing(name: str, **extra) -> dict:
    return {"Name": name, "Type": "Processing", "Arguments": {}, **extra}


def test_graph_edges_come_from_depends_on_references_and_branches():
    steps = [processing("Prep"),
             processing("Train", Arguments={"In": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['t']"}}),
             processing("Audit", DependsOn=["Prep"]),
             {"Name": "Gate", "Type": "Condition", "Arguments": {
                 "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Train.TrainingJobName"},
                                 "RightValue": "x"}],
                 "IfSteps": [processing("Deploy")], "ElseSteps": [processing("Report")]}},
             processing("After", DependsOn=["Report"])]
    parsed = definition.parse(text(steps))
    graph = build_graph(parsed)
    assert set(graph.edges) == {("Prep", "Train"), ("Prep", "Audit"), ("Train", "Gate"), ("Gate", "Deploy"),
                                ("Gate", "Report"), ("Report", "After")}
    assert pruned_by_condition(parsed, graph, "Gate", True) == {"Report", "After"}
    assert pruned_by_condition(parsed, graph, "Gate", False) == {"Deploy"}


def test_graph_rejects_cycles_and_self_references():
    with pytest.raises(ValidationException, match=r"cycle between steps: (A -> B -> A|B -> A -> B)"):
        build_graph(definition.parse(text([processing("A", DependsOn=["B"]), processing("B", DependsOn=["A"])])))
    with pytest.raises(ValidationException, match="Step A references its own properties."):
        build_graph(definition.parse(text([processing("A", Arguments={"x": {"Get": "Steps.A.Outcome"}})])))


# --- cache keys -------------------------------------------------------------------------------------

@pytest.mark.parametrize("duration, seconds", [
    ("P30D", 30 * 86400), ("p30d", 30 * 86400), ("PT1H", 3600), ("P4DT12H", 4 * 86400 + 12 * 3600),
    ("T12H", 12 * 3600), ("30d", 30 * 86400), ("P1Y2M", 365 * 86400 + 60 * 86400), ("PT1.5M", 90), ("", 0)])
def test_expire_after_durations(duration, seconds):
    assert cache.parse_duration(duration) == seconds


def test_cache_key_covers_only_the_step_types_key_attributes():
    base = {"AppSpecification": {"ImageUri": "i"}, "Environment": {"A": "1"}, "RoleArn": "r1",
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1}}}
    key = cache.cache_key("Processing", base)
    assert key == cache.cache_key("Processing", {**base, "RoleArn": "r2", "ProcessingResources": {}})
    assert key != cache.cache_key("Processing", {**base, "Environment": {"A": "2"}})
    assert key == cache.cache_key("Processing", dict(reversed(base.items())))  # order does not matter
    assert cache.cache_key("Condition", base) is None  # not cacheable
    assert cache.cache_key("Callback", {"a": 1}) != cache.cache_key("Callback", {"a": 2})  # whole payload
    assert cache.enabled({"CacheConfig": {"Enabled": True, "ExpireAfter": "PT1H"}}) == (True, 3600)
    assert cache.enabled({"CacheConfig": {"Enabled": True}}) == (True, float("inf"))
    assert cache.enabled({}) == (False, 0.0)


def test_cache_hit_is_the_most_recent_successful_run_with_the_same_key_and_not_expired():
    now = time.time()

    def execution(arn, status="Succeeded", key="k", ended=now - 60):
        return {"PipelineExecutionArn": arn, "_steps": {"S": {"StepStatus": status, "_cache_key": key,
                                                              "EndTime": ended}}}
    executions = [execution("old", ended=now - 7200), execution("recent", ended=now - 60),
                  execution("failed", status="Failed", ended=now - 1), execution("other", key="k2", ended=now - 1),
                  execution("current", ended=now)]
    source, state = cache.find_hit(executions, "current", "S", "k", max_age=86400)
    assert source["PipelineExecutionArn"] == "recent" and state["_cache_key"] == "k"
    assert cache.find_hit(executions, "current", "S", "k", max_age=30) is None
    assert cache.find_hit(executions, "current", "Missing", "k", max_age=86400) is None


# --- retry policies -----------------------------------------------------------------------------------

def test_retry_policy_matching_and_capacity_error_alias():
    policies = [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 1},
                {"ExceptionType": ["SageMaker.JOB_CAPACITY_ERROR", "SageMaker.JOB_INTERNAL_ERROR"]}]
    assert retry.matching_policy(policies, "Step.THROTTLING") is policies[0]
    assert retry.matching_policy(policies, "SageMaker.CAPACITY_ERROR") is policies[1]
    assert retry.matching_policy(policies, "SageMaker.RESOURCE_LIMIT") is None
    assert retry.matching_policy(None, "Step.THROTTLING") is None
    assert "Condition" not in retry.RETRYABLE_TYPES and "Training" in retry.RETRYABLE_TYPES


def test_retry_delays_back_off_until_max_attempts_or_expiry():
    policy = {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}
    assert [retry.retry_delay(policy, attempt, elapsed=0) for attempt in (1, 2, 3, 4)] == [2, 6, 18, None]
    assert [retry.retry_delay({}, attempt, 0) for attempt in (1, 5, 6)] == [1, 16, None]  # defaults: 1 s, x2, 5
    expiring = {"IntervalSeconds": 10, "BackoffRate": 1, "ExpireAfterMin": 1, "MaxAttempts": 1}
    assert retry.retry_delay(expiring, 4, elapsed=45) == 10  # ExpireAfterMin wins over MaxAttempts
    assert retry.retry_delay(expiring, 5, elapsed=55) is None
