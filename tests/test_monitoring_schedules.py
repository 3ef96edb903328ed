"""Model Monitor's control plane through boto3: job definitions, monitoring schedules, executions.

Errors as SageMaker words them: a missing endpoint ("Endpoint 'x' does not exist or is not valid"),
ResourceNotFound for missing definitions and schedules, ResourceInUse for taken names, the schedule
expressions ScheduleConfig documents, "Monitoring schedule in status Pending" for an early delete.
"""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from emulator.testing.waiting import wait_until
from tests.inference_helpers import ROLE
from tests.jobhelpers import unique

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}}


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


NO_IMAGE = "sagemaker-emulator-test/no-such-image:1"  # fails at once: nothing to build or run


def endpoint_record(sm) -> str:
    """An endpoint record (it need not serve: definitions and schedules only name it)."""
    name = unique("monitored")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": NO_IMAGE})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


@pytest.fixture(scope="module")
def endpoint(server):
    sm = server.client("sagemaker")
    name = endpoint_record(sm)
    yield name
    sm.delete_endpoint(EndpointName=name)  # the shared emulator's other tests expect no endpoints
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})


def data_quality(name: str, endpoint: str, bucket: str = "monitor-bucket") -> dict:
    return {"JobDefinitionName": name, "RoleArn": ROLE, "JobResources": CLUSTER,
            "DataQualityAppSpecification": {"ImageUri": ANALYZER, "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
            "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": f"s3://{bucket}/baseline/constraints.json"},
                                          "StatisticsResource": {"S3Uri": f"s3://{bucket}/baseline/statistics.json"}},
            "DataQualityJobInput": {"EndpointInput": {"EndpointName": endpoint,
                                                      "LocalPath": "/opt/ml/processing/input/endpoint"}},
            "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "Continuous"}}]},
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800}}


def model_quality(name: str, endpoint: str) -> dict:
    return {"JobDefinitionName": name, "RoleArn": ROLE, "JobResources": CLUSTER,
            "ModelQualityAppSpecification": {"ImageUri": ANALYZER, "ProblemType": "BinaryClassification"},
            "ModelQualityJobInput": {"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input",
                                                       "ProbabilityAttribute": "0",
                                                       "ProbabilityThresholdAttribute": 0.5},
                                     "GroundTruthS3Input": {"S3Uri": "s3://monitor-bucket/ground-truth"}},
            "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://monitor-bucket/mq-reports", "LocalPath": "/opt/ml/processing/output"}}]}}


def test_job_definitions_are_created_described_listed_and_deleted(sagemaker, endpoint):
    name = unique("dq-def")
    arn = sagemaker.create_data_quality_job_definition(**data_quality(name, endpoint))["JobDefinitionArn"]
    assert arn.endswith(f":data-quality-job-definition/{name}")
    described = sagemaker.describe_data_quality_job_definition(JobDefinitionName=name)
    assert described["JobDefinitionArn"] == arn
    assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == endpoint
    assert "EndpointName" not in described
    listed = sagemaker.list_data_quality_job_definitions(EndpointName=endpoint)["JobDefinitionSummaries"]
    assert [s["MonitoringJobDefinitionName"] for s in listed] == [name]
    assert listed[0]["EndpointName"] == endpoint and listed[0]["MonitoringJobDefinitionArn"] == arn
    assert sagemaker.list_data_quality_job_definitions(EndpointName="other")["JobDefinitionSummaries"] == []

    code, _ = error(sagemaker.create_data_quality_job_definition, **data_quality(name, endpoint))
    assert code == "ResourceInUse"
    mq = unique("mq-def")
    sagemaker.create_model_quality_job_definition(**model_quality(mq, endpoint))
    assert sagemaker.describe_model_quality_job_definition(JobDefinitionName=mq)[
        "ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert [s["MonitoringJobDefinitionName"] for s in sagemaker.list_model_quality_job_definitions(
        NameContains=mq)["JobDefinitionSummaries"]] == [mq]

    sagemaker.delete_data_quality_job_definition(JobDefinitionName=name)
    sagemaker.delete_model_quality_job_definition(JobDefinitionName=mq)
    for call in (sagemaker.describe_data_quality_job_definition, sagemaker.delete_data_quality_job_definition):
        code, message = error(call, JobDefinitionName=name)
        assert code == "ResourceNotFound" and name in message


def test_definition_errors_are_worded_as_sagemakers(sagemaker, endpoint):
    code, message = error(sagemaker.create_data_quality_job_definition, **data_quality(unique("dq"), "no-such-endpoint"))
    assert (code, message) == ("ValidationException", "Endpoint 'no-such-endpoint' does not exist or is not valid")
    code, message = error(sagemaker.create_data_quality_job_definition, **data_quality("bad_name", endpoint))
    assert code == "ValidationException" and "jobDefinitionName" in message
    code, message = error(sagemaker.create_model_bias_job_definition, JobDefinitionName="bias", RoleArn=ROLE,
                          JobResources=CLUSTER, ModelBiasAppSpecification={"ImageUri": ANALYZER, "ConfigUri": "s3://b/c"},
                          ModelBiasJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/x"},
                                             "GroundTruthS3Input": {"S3Uri": "s3://b/g"}},
                          ModelBiasJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
                              "S3Uri": "s3://b/o", "LocalPath": "/opt/ml/processing/output"}}]})
    assert "not supported by the SageMaker Emulator" in message


def schedule_config(definition: str, expression: str = "cron(0 * ? * * *)", **window) -> dict:
    return {"MonitoringJobDefinitionName": definition, "MonitoringType": "DataQuality",
            "ScheduleConfig": {"ScheduleExpression": expression, **window}}


def status(sagemaker, name: str) -> str:
    return sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"]


def test_a_schedule_goes_pending_scheduled_stopped_and_back(sagemaker, endpoint):
    definition = unique("dq-def")
    sagemaker.create_data_quality_job_definition(**data_quality(definition, endpoint))
    name = unique("hourly")
    arn = sagemaker.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(
        definition), Tags=[{"Key": "team", "Value": "ml"}])["MonitoringScheduleArn"]
    assert arn.endswith(f":monitoring-schedule/{name}")
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    wait_until(lambda: status(sagemaker, name) == "Scheduled", timeout=30)
    described = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert described["EndpointName"] == endpoint and described["MonitoringType"] == "DataQuality"
    assert described["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == definition
    assert "LastMonitoringExecutionSummary" not in described
    summaries = sagemaker.list_monitoring_schedules(EndpointName=endpoint, StatusEquals="Scheduled")[
        "MonitoringScheduleSummaries"]
    assert name in [s["MonitoringScheduleName"] for s in summaries]
    assert sagemaker.list_monitoring_schedules(NameContains=name, MonitoringTypeEquals="ModelQuality")[
        "MonitoringScheduleSummaries"] == []

    sagemaker.stop_monitoring_schedule(MonitoringScheduleName=name)
    assert status(sagemaker, name) == "Stopped"
    sagemaker.start_monitoring_schedule(MonitoringScheduleName=name)
    assert status(sagemaker, name) == "Scheduled"
    sagemaker.update_monitoring_schedule(MonitoringScheduleName=name,
                                         MonitoringScheduleConfig=schedule_config(definition, "cron(0 6 ? * * *)"))
    wait_until(lambda: status(sagemaker, name) == "Scheduled", timeout=30)
    assert sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleConfig"][
        "ScheduleConfig"]["ScheduleExpression"] == "cron(0 6 ? * * *)"
    assert sagemaker.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"] == []

    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)
    for call in (sagemaker.describe_monitoring_schedule, sagemaker.stop_monitoring_schedule,
                 sagemaker.start_monitoring_schedule, sagemaker.delete_monitoring_schedule):
        code, message = error(call, MonitoringScheduleName=name)
        assert code == "ResourceNotFound" and name in message


def test_the_embedded_job_definition_form_is_accepted(sagemaker, endpoint):
    name = unique("embedded")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 0/2 ? * * *)"},
        "MonitoringJobDefinition": {
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://monitor-bucket/byoc", "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": CLUSTER, "MonitoringAppSpecification": {"ImageUri": ANALYZER}, "RoleArn": ROLE}})
    wait_until(lambda: status(sagemaker, name) == "Scheduled", timeout=30)
    described = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert described["MonitoringType"] == "DataQuality" and described["EndpointName"] == endpoint
    assert "MonitoringJobDefinitionName" not in described["MonitoringScheduleConfig"]
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)


@pytest.mark.parametrize("config, wording", [
    ({"ScheduleExpression": "cron(0 25 ? * * *)"}, "Invalid ScheduleExpression cron(0 25 ? * * *)"),
    ({"ScheduleExpression": "rate(1 hour)"}, "Invalid ScheduleExpression rate(1 hour)"),
    ({"ScheduleExpression": "cron(30 * ? * * *)"}, "Invalid ScheduleExpression"),
    ({"ScheduleExpression": "NOW"}, "DataAnalysisStartTime and DataAnalysisEndTime are required"),
    ({"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT2H"}, "must be before"),
    ({"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-P2D", "DataAnalysisEndTime": "-PT0H"}, "24 hours"),
    ({"ScheduleExpression": "NOW", "DataAnalysisStartTime": "soon", "DataAnalysisEndTime": "-PT0H"},
     "Invalid DataAnalysisStartTime soon"),
])
def test_schedule_expressions_sagemaker_refuses(sagemaker, endpoint, config, wording):
    definition = unique("dq-def")
    sagemaker.create_data_quality_job_definition(**data_quality(definition, endpoint))
    code, message = error(sagemaker.create_monitoring_schedule, MonitoringScheduleName=unique("bad"),
                          MonitoringScheduleConfig={"MonitoringJobDefinitionName": definition,
                                                    "MonitoringType": "DataQuality", "ScheduleConfig": config})
    assert code == "ValidationException" and wording in message


def test_schedule_errors(sagemaker, endpoint):
    code, message = error(sagemaker.create_monitoring_schedule, MonitoringScheduleName=unique("orphan"),
                          MonitoringScheduleConfig=schedule_config("no-such-definition"))
    assert code == "ValidationException" and "no-such-definition" in message
    code, message = error(sagemaker.create_monitoring_schedule, MonitoringScheduleName=unique("bias"),
                          MonitoringScheduleConfig={**schedule_config("x"), "MonitoringType": "ModelBias"})
    assert "not supported by the SageMaker Emulator" in message
    definition = unique("dq-def")
    sagemaker.create_data_quality_job_definition(**data_quality(definition, endpoint))
    name = unique("taken")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition))
    code, _ = error(sagemaker.create_monitoring_schedule, MonitoringScheduleName=name,
                    MonitoringScheduleConfig=schedule_config(definition))
    assert code == "ResourceInUse"
    code, message = error(sagemaker.describe_monitoring_schedule, MonitoringScheduleName="no-such-schedule")
    assert code == "ResourceNotFound" and "monitoring-schedule/no-such-schedule" in message
    code, message = error(sagemaker.list_monitoring_executions, SortBy="Bogus")
    assert code == "ValidationException" and "sortBy" in message


def test_a_run_with_nothing_captured_fails_as_sagemaker_says(server, sagemaker, endpoint):
    """The run call and ListMonitoringExecutions: no captured data in the window → Failed, no job."""
    import requests
    definition = unique("dq-def")
    sagemaker.create_data_quality_job_definition(**data_quality(definition, endpoint))
    name = unique("empty")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition))
    answer = requests.post(f"{server.endpoint}/_emulator/monitoring-schedules/{name}/run", json={}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["MonitoringExecutionStatus"] == "Failed"
    assert "ProcessingJobArn" not in answer.json()
    executions = sagemaker.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
    assert len(executions) == 1
    assert executions[0]["MonitoringExecutionStatus"] == "Failed"
    assert executions[0]["FailureReason"] == "Job inputs had no data"
    assert executions[0]["EndpointName"] == endpoint and executions[0]["MonitoringJobDefinitionName"] == definition
    last = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)["LastMonitoringExecutionSummary"]
    assert last["ScheduledTime"] == executions[0]["ScheduledTime"]
    assert sagemaker.list_monitoring_executions(MonitoringScheduleName=name, StatusEquals="Completed")[
        "MonitoringExecutionSummaries"] == []
    missing = requests.post(f"{server.endpoint}/_emulator/monitoring-schedules/nothing-here/run", json={}, timeout=30)
    assert missing.status_code == 404
    refused = requests.post(f"{server.endpoint}/_emulator/monitoring-schedules/{name}/run", data="x",
                            headers={"Content-Type": "text/plain"}, timeout=30)
    assert refused.status_code == 403


@pytest.mark.own_server(env={"SAGEMAKER_EMULATOR_SCHEDULE_CLOCK_SCALE": "720"})
def test_a_restarted_scheduler_neither_loses_nor_repeats_runs(own_server):
    """An hourly schedule on a clock 720 times faster (a run every 5 s), the emulator killed for two runs'
    time: every hour gets exactly one execution, those due while it was down included."""
    sm = own_server.client("sagemaker")
    endpoint = endpoint_record(sm)
    definition = unique("dq-def")
    sm.create_data_quality_job_definition(**data_quality(definition, endpoint))
    name = unique("fast")
    sm.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition))

    def scheduled() -> list:
        pages = sm.get_paginator("list_monitoring_executions").paginate(MonitoringScheduleName=name,
                                                                        SortBy="ScheduledTime", SortOrder="Ascending")
        return [e["ScheduledTime"].timestamp() for page in pages for e in page["MonitoringExecutionSummaries"]]
    wait_until(lambda: len(scheduled()) >= 2, timeout=60)
    own_server.kill()
    import time
    time.sleep(12)
    own_server.start()
    sm = own_server.client("sagemaker")
    before = len(scheduled())
    wait_until(lambda: len(scheduled()) >= before + 2, timeout=60)
    times = scheduled()
    assert len(set(times)) == len(times)
    assert all(later - earlier == 3600 for earlier, later in itertools.pairwise(times)), times
    assert times[0] % 3600 == 0
    summaries = sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
    assert {e["MonitoringExecutionStatus"] for e in summaries} == {"Failed"}  # nothing captured: no job


def test_cron_hours_and_the_times_they_fall_on():
    from emulator.core.monitoring import cron
    day = 86400 * 20000.0  # a UTC midnight
    every_two = cron.parse({"ScheduleExpression": "cron(0 1/2 ? * * *)"})
    assert sorted(every_two.hours) == list(range(1, 24, 2))
    assert every_two.next_run(day) == day + 3600 and every_two.next_run(day + 3600) == day + 3 * 3600
    daily = cron.parse({"ScheduleExpression": "cron(0 17 ? * * *)"})
    assert daily.next_run(day + 17 * 3600) == day + 86400 + 17 * 3600
    assert daily.last_run(day + 16 * 3600) == day - 86400 + 17 * 3600
    assert sorted(cron.parse({"ScheduleExpression": "cron(0 17/12 ? * * *)"}).hours) == [17]  # cron counts within a day
    window = cron.parse({"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-P1DT2H",
                         "DataAnalysisEndTime": "-PT2H30M"})
    assert window.once and (window.start_offset, window.end_offset) == (-93600, -9000)
    hourly = cron.parse({"ScheduleExpression": "cron(0 * ? * * *)"}, {"StartTimeOffset": "-PT3H", "EndTimeOffset": "-PT1H"})
    assert (hourly.start_offset, hourly.end_offset) == (-10800, -3600)
