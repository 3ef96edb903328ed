"""SageMaker Pipelines through boto3: definition checks, execution, conditions, caching, retry, stop."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import docker
import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import BARRIER_ENV, ROLE, barrier, unique
from tests.pipelinehelpers import definition, processing_step, steps_by_name, training_step, wait_execution


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("pipes")
    server.client("s3").create_bucket(Bucket=name)
    return name


def create(sagemaker, steps, parameters=(), **kwargs) -> str:
    name = unique("pipe")
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE,
                              PipelineDefinition=definition(steps, parameters, kwargs.pop("experiment", False)),
                              **kwargs)
    return name


def test_definition_errors_name_the_step(sagemaker):
    bad = [
        ([{"Name": "A", "Type": "Teleport", "Arguments": {}}], "unknown step type"),
        ([{"Name": "A", "Type": "Fail", "Arguments": {}, "DependsOn": ["Nope"]}], "Nope"),
        ([{"Name": "A", "Type": "Fail", "Arguments": {}}, {"Name": "A", "Type": "Fail", "Arguments": {}}],
         "Duplicate step name A"),
        ([{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Missing"}}}],
         "parameter Missing"),
        ([{"Name": "A", "Type": "Fail", "Arguments": {}, "DependsOn": ["B"]},
          {"Name": "B", "Type": "Fail", "Arguments": {}, "DependsOn": ["A"]}], "can not depends on"),
        ([processing_step("A", "true", depends_on=["B"]), processing_step("B", "true", depends_on=["A"])], "cycle"),
    ]
    for steps, expected in bad:
        with pytest.raises(sagemaker.exceptions.ClientError) as info:
            create(sagemaker, steps)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert expected in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]


def test_create_duplicate_update_versions_and_describe(sagemaker):
    steps = [{"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]
    name = create(sagemaker, steps)
    with pytest.raises(sagemaker.exceptions.ClientError) as info:
        sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(steps))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in info.value.response["Error"]["Message"]
    updated = sagemaker.update_pipeline(PipelineName=name, PipelineDefinition=definition(steps),
                                        PipelineDescription="v2")
    assert updated["PipelineVersionId"] == 2
    versions = sagemaker.list_pipeline_versions(PipelineName=name, MaxResults=1)["PipelineVersionSummaries"]
    assert versions[0]["PipelineVersionId"] == 2
    desc = sagemaker.describe_pipeline(PipelineName=name)
    assert json.loads(desc["PipelineDefinition"])["Steps"][0]["Name"] == "F"
    assert desc["PipelineStatus"] == "Active" and desc["PipelineArn"].endswith(f":pipeline/{name}")
    assert name in [p["PipelineName"] for p in sagemaker.list_pipelines(PipelineNamePrefix=name)["PipelineSummaries"]]
    sagemaker.delete_pipeline(PipelineName=name)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.describe_pipeline(PipelineName=name)


@pytest.mark.docker
def test_parameters_conditions_and_both_branches(server, sagemaker, bucket, byo_image):
    out = f"s3://{bucket}/cond"
    steps = [
        processing_step("Evaluate", "echo '{\"metrics\": {\"mse\": 2.5}}' > /opt/ml/processing/eval/report.json",
                        outputs=[("evaluation", f"{out}/eval", "/opt/ml/processing/eval")],
                        PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "evaluation",
                                        "FilePath": "report.json"}]),
        {"Name": "Check", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.mse"}},
                "RightValue": {"Get": "Parameters.Threshold"}}],
            "IfSteps": [processing_step("Good", "echo good")],
            "ElseSteps": [{"Name": "Bad", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                "On": " ", "Values": ["MSE above", {"Get": "Parameters.Threshold"}]}}}}]}},
    ]
    name = create(sagemaker, steps, [{"Name": "Threshold", "Type": "Float", "DefaultValue": 3.0}])

    good = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    desc = wait_execution(sagemaker, good)
    assert desc["PipelineExecutionStatus"] == "Succeeded", steps_by_name(sagemaker, good)
    found = steps_by_name(sagemaker, good)
    assert set(found) == {"Evaluate", "Check", "Good"}
    assert found["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert found["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1].startswith(
        f"pipelines-{good.rsplit('/', 1)[-1]}-Evaluate-".lower())
    ordered = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=good)["PipelineExecutionSteps"]
    assert ordered[0]["StepName"] == "Good"  # newest first

    bad = sagemaker.start_pipeline_execution(
        PipelineName=name, PipelineParameters=[{"Name": "Threshold", "Value": "1.5"}])["PipelineExecutionArn"]
    desc = wait_execution(sagemaker, bad)
    assert desc["PipelineExecutionStatus"] == "Failed"
    assert desc["FailureReason"] == "Step failure: One or multiple steps failed."
    found = steps_by_name(sagemaker, bad)
    assert set(found) == {"Evaluate", "Check", "Bad"}
    assert found["Check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert found["Bad"]["StepStatus"] == "Failed"
    assert found["Bad"]["FailureReason"] == "MSE above 1.5"
    assert found["Bad"]["Metadata"] == {"Fail": {"ErrorMessage": "MSE above 1.5"}}
    params = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=bad)["PipelineParameters"]
    assert params == [{"Name": "Threshold", "Value": "1.5"}]
    executions = sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [bad, good]


@pytest.mark.docker
def test_step_properties_flow_into_training_with_native_types(server, sagemaker, bucket, byo_image):
    out = f"s3://{bucket}/flow"
    steps = [
        processing_step("Prep", "echo 1,2 > /opt/ml/processing/train/data.csv",
                        outputs=[("train", f"{out}/train", "/opt/ml/processing/train")]),
        training_step("Train", "cp /opt/ml/input/data/train/data.csv /opt/ml/model/; echo 'loss=0.125'",
                      f"{out}/model", arguments={
                          "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                              "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated",
                              "S3Uri": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}}],
                          "HyperParameters": {"epochs": {"Std:Join": {"On": "", "Values": [
                              {"Get": "Parameters.Epochs"}]}}},
                          "AlgorithmSpecification": {
                              "TrainingImage": "smemu-test-byo:latest", "TrainingInputMode": "File",
                              "ContainerEntrypoint": ["sh", "-c", "cp /opt/ml/input/data/train/data.csv "
                                                      "/opt/ml/model/; echo loss=0.125"],
                              "MetricDefinitions": [{"Name": "train:loss", "Regex": "loss=([0-9.]+)"}]},
                          "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceType": "ml.m5.large",
                                             "InstanceCount": {"Get": "Parameters.Count"}}}),
        {"Name": "Gate", "Type": "Condition", "Arguments": {"Conditions": [
            {"Type": "LessThan", "LeftValue": {"Get": "Steps.Train.FinalMetricDataList['train:loss'].Value"},
             "RightValue": 0.5},
            {"Type": "Equals", "LeftValue": {"Get": "Steps.Train.HyperParameters['epochs']"}, "RightValue": "7"}],
            "IfSteps": [], "ElseSteps": [{"Name": "NoGood", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}},
    ]
    name = create(sagemaker, steps, [{"Name": "Epochs", "Type": "Integer", "DefaultValue": 7},
                                     {"Name": "Count", "Type": "Integer", "DefaultValue": 1}])
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    desc = wait_execution(sagemaker, arn)
    found = steps_by_name(sagemaker, arn)
    assert desc["PipelineExecutionStatus"] == "Succeeded", found
    assert found["Gate"]["Metadata"]["Condition"]["Outcome"] == "True"
    job = sagemaker.describe_training_job(TrainingJobName=found["Train"]["Metadata"]["TrainingJob"]["Arn"]
                                          .split("/")[-1])
    assert job["ResourceConfig"]["InstanceCount"] == 1 and job["HyperParameters"] == {"epochs": "7"}


@pytest.mark.docker
def test_cache_hit_on_rerun(sagemaker, bucket, byo_image):
    steps = [processing_step("Cached", "echo cached", CacheConfig={"Enabled": True, "ExpireAfter": "P30D"})]
    name = create(sagemaker, steps)
    first = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, first)["PipelineExecutionStatus"] == "Succeeded"
    second = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, second)["PipelineExecutionStatus"] == "Succeeded"
    a, b = steps_by_name(sagemaker, first)["Cached"], steps_by_name(sagemaker, second)["Cached"]
    assert "CacheHitResult" not in a
    assert b["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert b["Metadata"] == a["Metadata"]  # points at the source execution's job


def in_job_url(server, method: str, bucket: str, key: str) -> str:
    """A presigned URL for a job container, which reaches the emulator at $AWS_ENDPOINT_URL (the
    emulator refuses unsigned S3 calls; SigV2 presigned URLs do not sign the host)."""
    url = urlparse(server.client("s3").generate_presigned_url(method, Params={"Bucket": bucket, "Key": key},
                                                               ExpiresIn=3600))
    return f"$AWS_ENDPOINT_URL{url.path}?{url.query}"


@pytest.mark.docker
def test_retry_policy_runs_a_new_job_after_a_capacity_error(server, sagemaker, bucket, byo_image):
    # First attempt: no marker yet -> write it (plain HTTP to the emulator's S3; the image has no
    # boto3) and fail as a capacity error; the second attempt finds it and succeeds.
    get_url = in_job_url(server, "get_object", bucket, "retry/marker")
    put_url = in_job_url(server, "put_object", bucket, "retry/marker")
    script = (f"if python3 -c \"import urllib.request as u; u.urlopen('{get_url}')\" 2>/dev/null; then echo second; "
              f"else python3 -c \"import urllib.request as u; u.urlopen(u.Request('{put_url}', b'1', method='PUT'))\"; "
              "echo 'CapacityError: simulated' > /opt/ml/output/failure; exit 1; fi")
    # The script is longer than ContainerEntrypoint items may be (256): pass it in the environment.
    steps = [training_step("Flaky", 'eval "$SCRIPT"', f"s3://{bucket}/retry/out",
                           arguments={"Environment": {"SCRIPT": script}}, RetryPolicies=[
        {"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 1, "BackoffRate": 1.0,
         "MaxAttempts": 2}])]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    desc = wait_execution(sagemaker, arn)
    step = steps_by_name(sagemaker, arn)["Flaky"]
    assert desc["PipelineExecutionStatus"] == "Succeeded", step.get("FailureReason")
    assert step["AttemptCount"] == 2
    jobs = sagemaker.list_training_jobs(NameContains=f"pipelines-{arn.rsplit('/', 1)[-1]}")["TrainingJobSummaries"]
    assert sorted(j["TrainingJobStatus"] for j in jobs) == ["Completed", "Failed"]


@pytest.mark.docker
def test_failed_step_blocks_dependents_and_retry_execution_reruns_it(server, sagemaker, bucket, byo_image):
    script = "python3 -c \"import os, urllib.request as u; u.urlopen(os.environ['GO_URL'])\" || exit 4"
    go_url = in_job_url(server, "get_object", bucket, "go/now")
    steps = [processing_step("MayFail", f'GO_URL="{go_url}" && export GO_URL && {script}'),
             processing_step("After", "echo after", depends_on=["MayFail"])]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    desc = wait_execution(sagemaker, arn)
    assert desc["PipelineExecutionStatus"] == "Failed"
    assert set(steps_by_name(sagemaker, arn)) == {"MayFail"}
    server.client("s3").put_object(Bucket=bucket, Key="go/now", Body=b"ok")
    sagemaker.retry_pipeline_execution(PipelineExecutionArn=arn)
    desc = wait_execution(sagemaker, arn)
    assert desc["PipelineExecutionStatus"] == "Succeeded"
    assert set(steps_by_name(sagemaker, arn)) == {"MayFail", "After"}


def step_job(sagemaker, arn: str, step: str) -> dict:
    """The processing job a step ran, described (its name from the step's metadata ARN)."""
    job_arn = steps_by_name(sagemaker, arn)[step]["Metadata"]["ProcessingJob"]["Arn"]
    return sagemaker.describe_processing_job(ProcessingJobName=job_arn.rsplit("/", 1)[-1])


@pytest.mark.docker
def test_stop_mid_run_stops_the_running_job_and_removes_its_container(sagemaker, bucket, byo_image):
    steps = [processing_step("Long", "trap 'exit 0' TERM; sleep 120 & wait"),
             processing_step("Never", "echo never", depends_on=["Long"])]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_until(lambda: steps_by_name(sagemaker, arn).get("Long", {}).get("Metadata", {}).get("ProcessingJob"),
               what="the Long step's job")
    job_name = wait_until(lambda: (job := step_job(sagemaker, arn, "Long")).get("ProcessingStartTime") and job,
                          what="the Long step's container running")["ProcessingJobName"]
    sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn)
    desc = wait_execution(sagemaker, arn)
    assert desc["PipelineExecutionStatus"] == "Stopped"
    found = steps_by_name(sagemaker, arn)
    assert found["Long"]["StepStatus"] == "Stopped" and "Never" not in found
    job = wait_until(lambda: (job := step_job(sagemaker, arn, "Long"))["ProcessingJobStatus"] != "Stopping" and job,
                     what="the Long step's job to stop")
    assert job["ProcessingJobStatus"] == "Stopped"
    client = docker.from_env()
    try:
        wait_until(lambda: not client.containers.list(
            all=True, filters={"label": f"sagemaker-emulator.job={job_name}"}), what="the job's container removed")
    finally:
        client.close()
    with pytest.raises(sagemaker.exceptions.ClientError):
        sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn)


@pytest.mark.docker
def test_independent_branches_run_their_jobs_at_the_same_time(sagemaker, bucket, byo_image):
    # Each branch's job announces itself, then waits for the other's: they can only both finish if
    # they run at the same time (run one after another, the first would wait out its MaxRuntime).
    marks = f"{bucket}/overlap/{unique('m')}"
    script = f"{barrier('put', marks + '/$ME')}; {barrier('wait', marks + '/Left', marks + '/Right')}"
    steps = [processing_step(side, 'eval "$SCRIPT"', environment={"SCRIPT": script, "ME": side, **BARRIER_ENV})
             for side in ("Left", "Right")]
    for step in steps:
        step["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 120}
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Succeeded", steps_by_name(sagemaker, arn)
    left, right = step_job(sagemaker, arn, "Left"), step_job(sagemaker, arn, "Right")
    assert left["ProcessingStartTime"] < right["ProcessingEndTime"]
    assert right["ProcessingStartTime"] < left["ProcessingEndTime"]


@pytest.mark.docker
def test_parallelism_limit_serialises_steps(sagemaker, bucket, byo_image):
    steps = [processing_step("One", "sleep 1"), processing_step("Two", "sleep 1")]
    name = create(sagemaker, steps, ParallelismConfiguration={"MaxParallelExecutionSteps": 1})
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Succeeded"
    first, second = sorted((step_job(sagemaker, arn, s) for s in ("One", "Two")),
                           key=lambda job: job["ProcessingStartTime"])
    assert second["ProcessingStartTime"] >= first["ProcessingEndTime"]


def test_twenty_trivial_steps(sagemaker):
    steps = [{"Name": f"Cond{i}", "Type": "Condition", "DependsOn": [f"Cond{i - 1}"] if i else [],
              "Arguments": {"Conditions": [{"Type": "Equals", "LeftValue": i, "RightValue": i}],
                            "IfSteps": [], "ElseSteps": []}} for i in range(20)]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    assert len(steps_by_name(sagemaker, arn)) == 20


def test_callback_step_waits_for_send_step_success(sagemaker):
    steps = [{"Name": "Approve", "Type": "Callback", "Arguments": {"note": "hi"}, "SqsQueueUrl": "https://q",
              "OutputParameters": [{"OutputName": "ok", "OutputType": "Boolean"}]},
             {"Name": "Gate", "Type": "Condition", "Arguments": {"Conditions": [
                 {"Type": "Equals", "LeftValue": {"Get": "Steps.Approve.OutputParameters['ok']"}, "RightValue": True}],
                 "IfSteps": [], "ElseSteps": [{"Name": "Nope", "Type": "Fail", "Arguments": {"ErrorMessage": ""}}]}}]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = wait_until(lambda: steps_by_name(sagemaker, arn).get("Approve", {}).get("Metadata", {})
                       .get("Callback", {}).get("CallbackToken"), what="the callback token")
    assert sagemaker.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=[{"Name": "ok", "Value": "true"}])["PipelineExecutionArn"] == arn
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Succeeded"


def test_unrunnable_step_types_fail_clearly(sagemaker):
    steps = [{"Name": "Emr", "Type": "EMR", "Arguments": {"ClusterId": "j-1", "StepConfig": {}}},
             {"Name": "Bias", "Type": "ClarifyCheck", "Arguments": {}, "CheckType": "DATA_BIAS", "SkipCheck": False}]
    name = create(sagemaker, steps)
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Failed"
    steps = steps_by_name(sagemaker, arn)
    assert "cannot run in the SageMaker Emulator" in steps["Emr"]["FailureReason"]
    assert steps["Bias"]["FailureReason"].startswith("ClarifyCheck steps cannot run in the SageMaker Emulator")


def test_quality_check_without_a_baseline_to_check_against_fails_before_running(sagemaker, bucket):
    """Nothing supplied and no approved package in the group: with SkipCheck or RegisterNewBaseline
    false the previous baseline must exist, so the step fails at once, before any job. A parameter left
    at "" supplies nothing."""
    analyzer = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    check = {"Name": "DQ", "Type": "QualityCheck", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": analyzer}, "RoleArn": ROLE,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output", "S3Output": {
            "S3Uri": f"s3://{bucket}/dq", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
        "Environment": {"output_path": "/opt/ml/processing/output", "dataset_source": "/opt/ml/processing/input"}},
        "CheckType": "DATA_QUALITY", "ModelPackageGroupName": {"Get": "Parameters.Group"},
        "SkipCheck": {"Get": "Parameters.Skip"},
        "FailOnViolation": True, "RegisterNewBaseline": False,
        "SuppliedBaselineStatistics": {"Get": "Parameters.Supplied"}, "SuppliedBaselineConstraints": None}
    name = create(sagemaker, [check], [{"Name": "Group", "Type": "String", "DefaultValue": unique("nogroup")},
                                       {"Name": "Supplied", "Type": "String", "DefaultValue": ""},
                                       {"Name": "Skip", "Type": "Boolean", "DefaultValue": False}])
    for skip in ("false", "true"):  # the check on; or off, but the old baseline kept (RegisterNewBaseline false)
        arn = sagemaker.start_pipeline_execution(PipelineName=name, PipelineParameters=[
            {"Name": "Skip", "Value": skip}])["PipelineExecutionArn"]
        assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Failed"
        step = steps_by_name(sagemaker, arn)["DQ"]
        assert step["FailureReason"].startswith(
            "ClientError: No previous baseline of check type DATA_QUALITY is available"), step["FailureReason"]
        assert sagemaker.list_processing_jobs(NameContains=arn.split("/")[-1])["ProcessingJobSummaries"] == []
    with pytest.raises(sagemaker.exceptions.ClientError, match="parameter Missing"):
        create(sagemaker, [{**check, "SkipCheck": {"Get": "Parameters.Missing"}}],
               [{"Name": "Group", "Type": "String"}, {"Name": "Supplied", "Type": "String"},
                {"Name": "Skip", "Type": "Boolean"}])


def test_start_parameter_errors(sagemaker):
    name = create(sagemaker, [{"Name": "F", "Type": "Fail", "Arguments": {}}],
                  [{"Name": "Need", "Type": "String"}, {"Name": "Flag", "Type": "Boolean", "DefaultValue": False}])
    for params, expected in (([], "Parameter 'Need' is undefined."),
                             ([{"Name": "Need", "Value": "x"}, {"Name": "Zzz", "Value": "1"}], "Unknown parameter 'Zzz'"),
                             ([{"Name": "Need", "Value": "x"}, {"Name": "Flag", "Value": "maybe"}], "Flag")):
        with pytest.raises(sagemaker.exceptions.ClientError) as info:
            sagemaker.start_pipeline_execution(PipelineName=name, PipelineParameters=params)
        assert expected in info.value.response["Error"]["Message"]
    arn = sagemaker.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Need", "Value": "x"}, {"Name": "Flag", "Value": "TRUE"}])["PipelineExecutionArn"]
    wait_execution(sagemaker, arn)
    params = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert params == [{"Name": "Need", "Value": "x"}, {"Name": "Flag", "Value": "TRUE"}]


def test_definition_from_s3_idempotent_start_update_and_definition_snapshot(server, sagemaker, bucket):
    steps = [{"Name": "C", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}], "IfSteps": [], "ElseSteps": []}}]
    text = definition(steps)
    server.client("s3").put_object(Bucket=bucket, Key="defs/p.json", Body=text.encode())
    name = unique("s3def")
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE,
                              PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "defs/p.json"})
    assert json.loads(sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"]) == json.loads(text)
    first = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken="token-1234567890123456789012345678")
    again = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken="token-1234567890123456789012345678")
    assert first["PipelineExecutionArn"] == again["PipelineExecutionArn"]
    arn = first["PipelineExecutionArn"]
    wait_execution(sagemaker, arn)
    sagemaker.update_pipeline_execution(PipelineExecutionArn=arn, PipelineExecutionDisplayName="renamed")
    desc = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert desc["PipelineExecutionDisplayName"] == "renamed"
    snapshot = sagemaker.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    assert json.loads(snapshot["PipelineDefinition"]) == json.loads(text)


def test_selective_execution_reuses_the_source_execution(sagemaker):
    steps = [{"Name": "First", "Type": "Condition", "Arguments": {
                 "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}], "IfSteps": [], "ElseSteps": []}},
             {"Name": "Second", "Type": "Condition", "DependsOn": ["First"], "Arguments": {
                 "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.First.Outcome"}, "RightValue": True}],
                 "IfSteps": [], "ElseSteps": []}}]
    name = create(sagemaker, steps)
    source = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_execution(sagemaker, source)
    with pytest.raises(sagemaker.exceptions.ClientError) as info:
        sagemaker.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig={
            "SelectedSteps": [{"StepName": "Second"}]})
    assert "have dependencies on" in info.value.response["Error"]["Message"]
    arn = sagemaker.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig={
        "SourcePipelineExecutionArn": source, "SelectedSteps": [{"StepName": "Second"}]})["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn)["PipelineExecutionStatus"] == "Succeeded"
    found = steps_by_name(sagemaker, arn)
    assert found["First"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source}
    assert found["Second"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert "SelectiveExecutionResult" not in found["Second"]
