"""Monitoring schedules running real executions: an XGBoost endpoint capturing its traffic, the analyzer
and ground-truth merger images as the schedule's processing jobs, reports where SageMaker puts them,
statuses derived from the analyzer's exit message, metrics in CloudWatch under the schedule's dimensions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import requests

from emulator.testing.waiting import wait_until
from tests.inference_helpers import ROLE, XGBOOST_IMAGE, delete_all_endpoints, deploy, xgboost_model
from tests.jobhelpers import unique, wait_for
from tests.monitorhelpers import ground_truth_line
from tests.test_model_monitor_jobs import (  # noqa: F401 - images is the analyzer images' fixture
    ANALYZER,
    images,
    processing_job,
    read_json,
    s3_input,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}}


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("schedules")
    server.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def endpoint(server, bucket):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=xgboost_model(seed=3))
    name = unique("scored")
    described = deploy(sm, name, [{"VariantName": "AllTraffic", "Image": XGBOOST_IMAGE,
                                   "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz"}],
                       capture={"EnableCapture": True, "InitialSamplingPercentage": 100,
                                "DestinationS3Uri": f"s3://{bucket}/capture",
                                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    yield name
    delete_all_endpoints(sm)


def invoke_rows(server, endpoint: str, rows: np.ndarray, ids: list[str] | None = None) -> list[float]:
    runtime = server.client("sagemaker-runtime")
    scores = []
    for i, row in enumerate(rows):
        extra = {"InferenceId": ids[i]} if ids else {}
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                         Body=",".join(f"{v:.4f}" for v in row), **extra)
        scores.append(float(answer["Body"].read()))
    return scores


def run_schedule(server, name: str) -> dict:
    answer = requests.post(f"{server.endpoint}/_emulator/monitoring-schedules/{name}/run", json={}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def finished_execution(sagemaker, name: str, timeout: float = 600) -> dict:
    def last() -> dict | None:
        summaries = sagemaker.list_monitoring_executions(MonitoringScheduleName=name, SortBy="ScheduledTime",
                                                         SortOrder="Descending")["MonitoringExecutionSummaries"]
        if summaries and summaries[0]["MonitoringExecutionStatus"] not in ("Pending", "InProgress"):
            return summaries[0]
        return None
    wait_until(lambda: last() is not None, timeout=timeout, interval=1)
    return last()


def output_of(sagemaker, job_arn: str) -> str:
    job = sagemaker.describe_processing_job(ProcessingJobName=job_arn.split("/")[-1])
    return job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]


@pytest.mark.usefixtures("images")
def test_a_data_quality_schedule_finds_drift_in_what_the_endpoint_captured(server, sagemaker, bucket, endpoint):
    rng = np.random.default_rng(31)
    train = rng.normal(size=(1500, 4))
    scores = 1 / (1 + np.exp(-(train[:, 0] + train[:, 1])))
    lines = ["score,f0,f1,f2,f3"] + [f"{s:.6f}," + ",".join(f"{v:.4f}" for v in row) for s, row in zip(scores, train)]
    server.client("s3").put_object(Bucket=bucket, Key="train/train.csv", Body="\n".join(lines).encode())
    baseline = processing_job(sagemaker, unique("baseline-suggestion-job"), ANALYZER, {
        "dataset_format": json.dumps({"csv": {"header": True, "output_columns_position": "START"}}),
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"},
        [s3_input("baseline_dataset_input", f"s3://{bucket}/train",
                  "/opt/ml/processing/input/baseline_dataset_input")], f"s3://{bucket}/baseline")
    assert baseline["ProcessingJobStatus"] == "Completed", baseline.get("FailureReason")

    definition = unique("dq")
    sagemaker.create_data_quality_job_definition(
        JobDefinitionName=definition, RoleArn=ROLE, JobResources=CLUSTER,
        DataQualityAppSpecification={"ImageUri": ANALYZER, "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
        DataQualityBaselineConfig={"ConstraintsResource": {"S3Uri": f"s3://{bucket}/baseline/constraints.json"},
                                   "StatisticsResource": {"S3Uri": f"s3://{bucket}/baseline/statistics.json"}},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input/endpoint",
                                               "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "Continuous"}}]},
        StoppingCondition={"MaxRuntimeInSeconds": 1800})
    schedule = unique("hourly")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": definition, "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})

    invoke_rows(server, endpoint, rng.normal(loc=2.5, scale=2.0, size=(300, 4)))  # drifted traffic
    started = run_schedule(server, schedule)
    assert started["ProcessingJobArn"].split("/")[-1].startswith("model-monitoring-")
    execution = finished_execution(sagemaker, schedule)
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution
    assert execution["ProcessingJobArn"] == started["ProcessingJobArn"]
    assert execution["EndpointName"] == endpoint and execution["MonitoringJobDefinitionName"] == definition

    hour = execution["ScheduledTime"].astimezone(UTC)
    report = f"s3://{bucket}/reports/{endpoint}/{schedule}/{hour:%Y/%m/%d/%H}"
    assert output_of(sagemaker, execution["ProcessingJobArn"]) == report
    violations = read_json(server, f"{report}/constraint_violations.json")["violations"]
    drift = {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"}
    assert {"f0", "f1", "f2", "f3"} & drift, violations
    assert read_json(server, f"{report}/statistics.json")["dataset"]["item_count"] == 300
    last = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=schedule)["LastMonitoringExecutionSummary"]
    assert last["MonitoringExecutionStatus"] == "CompletedWithViolations"

    metrics = server.client("cloudwatch").list_metrics(
        Namespace="aws/sagemaker/Endpoints/data-metrics",
        Dimensions=[{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}])
    assert any(m["MetricName"].startswith("feature_baseline_drift_") for m in metrics["Metrics"]), metrics


@pytest.mark.usefixtures("images")
def test_a_model_quality_schedule_merges_ground_truth_then_analyses(server, sagemaker, bucket, endpoint):
    rng = np.random.default_rng(32)
    rows = rng.normal(size=(250, 4))
    ids = [f"mq-{i}" for i in range(len(rows))]
    scores = invoke_rows(server, endpoint, rows, ids)
    # Ground truth disagreeing with the model half the time: accuracy far below the constraint.
    labels = [str(int(s >= 0.5) if i % 2 else int(s < 0.5)) for i, s in enumerate(scores)]
    now = datetime.now(UTC)
    server.client("s3").put_object(Bucket=bucket, Key=f"ground-truth/{now:%Y/%m/%d/%H}/labels.jsonl",
                                   Body="\n".join(ground_truth_line(i, label) for i, label in zip(ids, labels)).encode())
    server.client("s3").put_object(Bucket=bucket, Key="mq-baseline/constraints.json", Body=json.dumps({
        "version": 0.0, "binary_classification_constraints": {
            "accuracy": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}}).encode())
    definition = unique("mq")
    sagemaker.create_model_quality_job_definition(
        JobDefinitionName=definition, RoleArn=ROLE, JobResources=CLUSTER,
        ModelQualityAppSpecification={"ImageUri": ANALYZER, "ProblemType": "BinaryClassification"},
        ModelQualityBaselineConfig={"ConstraintsResource": {"S3Uri": f"s3://{bucket}/mq-baseline/constraints.json"}},
        ModelQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input",
                                                "ProbabilityAttribute": "0", "ProbabilityThresholdAttribute": 0.5},
                              "GroundTruthS3Input": {"S3Uri": f"s3://{bucket}/ground-truth"}},
        ModelQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{bucket}/mq-reports", "LocalPath": "/opt/ml/processing/output"}}]})
    schedule = unique("mq-hourly")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": definition, "MonitoringType": "ModelQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})

    started = run_schedule(server, schedule)
    merge = started["ProcessingJobArn"].split("/")[-1]
    assert merge.startswith("groundtruth-merge-")
    execution = finished_execution(sagemaker, schedule)
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution
    analysis = execution["ProcessingJobArn"].split("/")[-1]
    assert analysis == merge.replace("groundtruth-merge-", "model-quality-monitoring-")
    job = sagemaker.describe_processing_job(ProcessingJobName=analysis)
    assert job["Environment"]["analysis_type"] == "MODEL_QUALITY"
    report = output_of(sagemaker, execution["ProcessingJobArn"])
    statistics = read_json(server, f"{report}/statistics.json")["binary_classification_metrics"]
    assert statistics["accuracy"]["value"] == pytest.approx(0.5, abs=0.01)
    wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=merge), "ProcessingJobStatus")
    metrics = server.client("cloudwatch").list_metrics(
        Namespace="aws/sagemaker/Endpoints/model-metrics",
        Dimensions=[{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}])
    assert "accuracy" in {m["MetricName"] for m in metrics["Metrics"]}
