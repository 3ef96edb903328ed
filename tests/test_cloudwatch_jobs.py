"""What jobs publish to CloudWatch (real containers): a training job's metric definitions under
/aws/sagemaker/TrainingJobs, and a monitoring job's metric file under the Model Monitor namespaces --
which an alarm watches, and whose ALARM starts a re-training pipeline through an EventBridge rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import shell_processing_job, shell_training_job, unique, wait_for
from tests.pipelinehelpers import ROLE, definition

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("cwjobs")
    server.client("s3").create_bucket(Bucket=name)
    return name


def eventually(read, accept, timeout: float = 60.0):
    return wait_until(lambda: (value,) if accept(value := read()) else None, timeout=timeout)[0]


def test_training_job_metrics_are_published_per_host(server, sagemaker, bucket, byo_image):
    cw = server.client("cloudwatch")
    name = unique("cwtrain")
    script = "echo 'epoch 1 loss=0.75'; sleep 1; echo 'epoch 2 loss=0.25'"
    sagemaker.create_training_job(**shell_training_job(name, script, bucket, algorithm={"MetricDefinitions": [
        {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]}))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus", timeout=300)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    dims = [{"Name": "Host", "Value": f"{name}/algo-1"}]
    listed = eventually(lambda: cw.list_metrics(Namespace="/aws/sagemaker/TrainingJobs", Dimensions=dims)["Metrics"],
                        bool)
    assert listed == [{"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss", "Dimensions": dims}]
    # One period over the whole window: the two lines may straddle a shorter period's boundary.
    stats = cw.get_metric_statistics(Namespace="/aws/sagemaker/TrainingJobs", MetricName="train:loss",
                                     Dimensions=dims, StartTime=datetime.now(UTC) - timedelta(hours=1),
                                     EndTime=datetime.now(UTC) + timedelta(minutes=5), Period=7200,
                                     Statistics=["Minimum", "Maximum", "SampleCount"])
    (point,) = stats["Datapoints"]
    assert (point["Minimum"], point["Maximum"], point["SampleCount"]) == (0.25, 0.75, 2.0)


def test_monitoring_metrics_drive_an_alarm_and_a_retraining_pipeline(server, sagemaker, bucket, byo_image):
    cw, events = server.client("cloudwatch"), server.client("events")
    schedule, pipeline, rule, alarm = unique("mq-hourly"), unique("retrain"), unique("decay"), unique("f1-low")
    dims = [{"Name": "Endpoint", "Value": "churn"}, {"Name": "MonitoringSchedule", "Value": schedule}]
    sagemaker.create_pipeline(PipelineName=pipeline, RoleArn=ROLE, PipelineDefinition=definition(
        [{"Name": "Train", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Schedule"}}}],
        parameters=[{"Name": "Schedule", "Type": "String", "DefaultValue": "none"}]))
    pipeline_arn = sagemaker.describe_pipeline(PipelineName=pipeline)["PipelineArn"]
    cw.put_metric_alarm(AlarmName=alarm, Namespace="aws/sagemaker/Endpoints/model-metrics", MetricName="f1",
                        Dimensions=dims, Statistic="Average", Period=3600, EvaluationPeriods=1, Threshold=0.7,
                        ComparisonOperator="LessThanThreshold")
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [alarm], "state": {"value": ["ALARM"]}}}))
    events.put_targets(Rule=rule, Targets=[{
        "Id": "retrain", "Arn": pipeline_arn, "RoleArn": ROLE,
        "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "Schedule", "Value": "<schedule>"}]},
        "InputTransformer": {"InputPathsMap": {
            "schedule": "$.detail.configuration.metrics[0].metricStat.metric.dimensions.MonitoringSchedule"},
            "InputTemplate": '{"schedule": <schedule>}'}}])

    stamp = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [{"MetricName": name, "Timestamp": stamp, "Dimensions": dims, "Value": value}
             for name, value in (("f1", 0.55), ("accuracy", 0.61))]
    # The analyzer's contract (algorithms/model_monitor/cloudwatch.py): one MetricDatum per line.
    script = ("mkdir -p /opt/ml/output/metrics/cloudwatch && printf '%s\\n%s\\n' \"$M1\" \"$M2\" "
              "> /opt/ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl")
    name = unique("model-quality-monitoring")
    sagemaker.create_processing_job(**shell_processing_job(name, script, Environment={
        "publish_cloudwatch_metrics": "Enabled", "analysis_type": "MODEL_QUALITY",
        "sagemaker_endpoint_name": "churn", "sagemaker_monitoring_schedule_name": schedule,
        "M1": json.dumps(lines[0]), "M2": json.dumps(lines[1])}))
    job = wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                   timeout=300)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")

    metrics = eventually(lambda: cw.list_metrics(Namespace="aws/sagemaker/Endpoints/model-metrics",
                                                 Dimensions=[{"Name": "MonitoringSchedule", "Value": schedule}])
                         ["Metrics"], lambda m: len(m) == 2)
    assert sorted(m["MetricName"] for m in metrics) == ["accuracy", "f1"]
    described = eventually(lambda: cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0],
                           lambda a: a["StateValue"] == "ALARM")
    assert "[0.55 (" in described["StateReason"] and "was less than the threshold (0.7)" in described["StateReason"]
    executions = eventually(lambda: sagemaker.list_pipeline_executions(PipelineName=pipeline)
                            ["PipelineExecutionSummaries"], lambda s: len(s) == 1)
    params = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=executions[0]["PipelineExecutionArn"])["PipelineParameters"]
    assert params == [{"Name": "Schedule", "Value": schedule}]
