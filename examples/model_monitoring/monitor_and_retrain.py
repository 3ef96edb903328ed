"""Model Monitor's decay loop on the emulator -- the user guide's model-monitoring story, one command:

    python examples/model_monitoring/monitor_and_retrain.py

1. capture (capture.py): train built-in XGBoost, deploy it with a DataCaptureConfig, send it normal
   traffic and read the captured records back;
2. baselines: DefaultModelMonitor.suggest_baseline and ModelQualityMonitor.suggest_baseline on what the
   healthy model saw and said;
3. the wiring: an hourly data quality schedule (CronExpressionGenerator.hourly()), a CloudWatch alarm
   on the model's f1 under the baseline's threshold, an EventBridge rule that starts a re-training
   pipeline when the alarm fires;
4. decay: the world drifts (features shift and the relation to the label changes); the hourly run finds
   the data quality violations; once the ground truth is uploaded, a one-time model quality schedule
   (CronExpressionGenerator.now()) computes the confusion matrix and an f1 under the threshold, the
   metric reaches CloudWatch, the alarm goes to ALARM and the rule starts the re-training pipeline with
   the parameters it gives.

SageMaker SDK and boto3 code as written for AWS. The one emulator-specific line runs the hourly
schedule's next execution now (`run_schedule_now`) instead of waiting for the top of the hour; against
AWS it is skipped and the example waits for the hourly execution. Watch it in the web console:
http://127.0.0.1:7070/_emulator/ui/.
"""

import argparse
import json
import os
import pathlib
import tempfile
import time
import urllib.request
from datetime import UTC, datetime

import numpy as np
import sagemaker
from capture import FEATURES, INSTANCE, captured_records, csv_text, deploy_with_capture, invoke, traffic, train
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor, EndpointInput, ModelQualityMonitor
from sagemaker.model_monitor.dataset_format import DatasetFormat
from sagemaker.s3 import S3Uploader
from sagemaker.utils import unique_name_from_base
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import TrainingStep

MONITOR_INSTANCE = "ml.m5.xlarge"
MODEL_METRICS = "aws/sagemaker/Endpoints/model-metrics"


def suggest_baselines(session, role: str, bucket: str, prefix: str, features: np.ndarray, scores: np.ndarray,
                      labels: np.ndarray, workdir: pathlib.Path) -> tuple[DefaultModelMonitor, ModelQualityMonitor]:
    """Baselines from the healthy model's traffic: its inputs with its answers first (where the capture
    puts the output), and its answers with the true labels."""
    data = workdir / "data_baseline.csv"
    data.write_text(csv_text(np.column_stack([scores.round(6), features]), header=["score", *FEATURES]))
    data_monitor = DefaultModelMonitor(role=role, instance_count=1, instance_type=MONITOR_INSTANCE,
                                       volume_size_in_gb=20, max_runtime_in_seconds=1800, sagemaker_session=session)
    data_monitor.suggest_baseline(baseline_dataset=str(data), dataset_format=DatasetFormat.csv(header=True),
                                  output_s3_uri=f"s3://{bucket}/{prefix}/baselines/data-quality", wait=True,
                                  logs=False)

    quality = workdir / "quality_baseline.csv"
    quality.write_text(csv_text(zip(scores.round(6), (scores >= 0.5).astype(int), labels),
                                header=["probability", "prediction", "label"]))
    quality_monitor = ModelQualityMonitor(role=role, instance_count=1, instance_type=MONITOR_INSTANCE,
                                          volume_size_in_gb=20, max_runtime_in_seconds=1800, sagemaker_session=session)
    quality_monitor.suggest_baseline(baseline_dataset=str(quality), dataset_format=DatasetFormat.csv(header=True),
                                     problem_type="BinaryClassification", inference_attribute="prediction",
                                     probability_attribute="probability", ground_truth_attribute="label",
                                     output_s3_uri=f"s3://{bucket}/{prefix}/baselines/model-quality", wait=True,
                                     logs=False)
    return data_monitor, quality_monitor


def schedule_data_quality(data_monitor: DefaultModelMonitor, bucket: str, prefix: str, endpoint_name: str) -> None:
    """Every hour: the last hour of captured traffic against the baseline."""
    data_monitor.create_monitoring_schedule(
        monitor_schedule_name=f"{endpoint_name}-data", endpoint_input=endpoint_name,
        output_s3_uri=f"s3://{bucket}/{prefix}/reports", statistics=data_monitor.baseline_statistics(),
        constraints=data_monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.hourly(), enable_cloudwatch_metrics=True)


def evaluate_model_quality_now(quality_monitor: ModelQualityMonitor, bucket: str, prefix: str,
                               endpoint_name: str) -> None:
    """Once the labels are in: a one-time (NOW) model quality run over the last hour of predictions,
    joined with the ground truth on the inference ids."""
    quality_monitor.create_monitoring_schedule(
        monitor_schedule_name=f"{endpoint_name}-quality",
        endpoint_input=EndpointInput(endpoint_name=endpoint_name, destination="/opt/ml/processing/input_data",
                                     probability_attribute="0", probability_threshold_attribute=0.5),
        ground_truth_input=f"s3://{bucket}/{prefix}/ground-truth", problem_type="BinaryClassification",
        output_s3_uri=f"s3://{bucket}/{prefix}/reports", constraints=quality_monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.now(), data_analysis_start_time="-PT1H",
        data_analysis_end_time="-PT0H", enable_cloudwatch_metrics=True)


def retraining_pipeline(role: str, bucket: str, prefix: str) -> Pipeline:
    """The pipeline the alarm starts: train again on the data the rule names."""
    pipeline_session = PipelineSession(default_bucket=bucket)
    train_data = ParameterString(name="TrainData", default_value=f"s3://{bucket}/{prefix}/train")
    reason = ParameterString(name="Reason", default_value="manual")
    estimator = Estimator(image_uri=image_uris.retrieve("xgboost", pipeline_session.boto_region_name, "1.7-1"),
                          role=role, instance_count=1, instance_type=INSTANCE,
                          output_path=f"s3://{bucket}/{prefix}/retrained", sagemaker_session=pipeline_session,
                          hyperparameters={"objective": "binary:logistic", "num_round": 20, "max_depth": 3})
    step = TrainingStep(name="Retrain", step_args=estimator.fit(
        {"train": TrainingInput(train_data, content_type="text/csv")}))
    pipeline = Pipeline(name=f"{prefix}-retrain", parameters=[train_data, reason], steps=[step],
                         sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=role)
    return pipeline


def alarm_on_decay(session, role: str, endpoint_name: str, threshold: float, pipeline: Pipeline,
                   retrain_data: str) -> str:
    """f1 under the baseline's threshold -> ALARM -> EventBridge starts the re-training pipeline."""
    alarm = f"{endpoint_name}-f1-decay"
    session.boto_session.client("cloudwatch").put_metric_alarm(
        AlarmName=alarm, AlarmDescription="the model's f1 fell under its baseline",
        Namespace=MODEL_METRICS, MetricName="f1",
        Dimensions=[{"Name": "Endpoint", "Value": endpoint_name},
                    {"Name": "MonitoringSchedule", "Value": f"{endpoint_name}-quality"}],
        Statistic="Average", Period=3600, EvaluationPeriods=1, Threshold=threshold,
        ComparisonOperator="LessThanThreshold", TreatMissingData="missing")
    events = session.boto_session.client("events")
    events.put_rule(Name=alarm, Description="re-train on model decay", EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [alarm], "state": {"value": ["ALARM"]}}}))
    pipeline_arn = pipeline.describe()["PipelineArn"]
    events.put_targets(Rule=alarm, Targets=[{
        "Id": "retrain", "Arn": pipeline_arn, "RoleArn": role,
        "SageMakerPipelineParameters": {"PipelineParameterList": [
            {"Name": "TrainData", "Value": retrain_data}, {"Name": "Reason", "Value": "$.detail.alarmName"}]}}])
    return alarm


def upload_ground_truth(session, bucket: str, prefix: str, labels: np.ndarray, first_id: int) -> None:
    """Labels collected this hour, keyed by the inference ids the requests carried."""
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    lines = [json.dumps({"groundTruthData": {"data": str(label), "encoding": "CSV"},
                         "eventMetadata": {"eventId": str(first_id + i)}, "eventVersion": "0"})
             for i, label in enumerate(labels)]
    S3Uploader.upload_string_as_file_body("\n".join(lines) + "\n",
                                          f"s3://{bucket}/{prefix}/ground-truth/{hour}/labels.jsonl",
                                          sagemaker_session=session)


def upload_retraining_data(session, uri: str, features: np.ndarray, labels: np.ndarray) -> None:
    """The labelled recent traffic, where the re-training rule points the pipeline."""
    S3Uploader.upload_string_as_file_body(csv_text(np.column_stack([labels, features])), f"{uri}/train.csv",
                                          sagemaker_session=session)


def run_schedule_now(monitor) -> None:
    """The emulator-specific line: run the schedule's next execution now, over the hour ending now.
    Against AWS (no AWS_ENDPOINT_URL) it is skipped: the execution starts after the top of the hour."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        urllib.request.urlopen(urllib.request.Request(
            f"{endpoint}/_emulator/monitoring-schedules/{monitor.monitoring_schedule_name}/run", data=b"{}",
            headers={"Content-Type": "application/json"}, method="POST"), timeout=60).close()


def latest_execution(monitor, timeout: float = 2 * 3600):
    """The schedule's newest execution once it has finished (list_executions is oldest first)."""
    deadline = time.monotonic() + timeout
    while not monitor.list_executions():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no execution of {monitor.monitoring_schedule_name}")
        time.sleep(5)
    execution = monitor.list_executions()[-1]
    execution.wait(logs=False)
    return execution


def wait_for(describe, done, timeout: float = 1800, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not done(value := describe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waiting for {what}")
        time.sleep(2)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the endpoint and schedules for the console")
    args = parser.parse_args()

    # With the emulator's STS set up for the SDK (`sagemaker-emulator sdk-setup`) these two lines are the
    # usual `session = sagemaker.Session()` and `role = sagemaker.get_execution_role()`.
    session = sagemaker.Session(default_bucket="sagemaker-example-monitoring")
    role = "arn:aws:iam::000000000000:role/SageMakerRole"
    bucket = session.default_bucket()
    prefix = endpoint_name = unique_name_from_base("churn-monitor", max_length=40)
    workdir = pathlib.Path(tempfile.mkdtemp())

    print("1. capture: train, deploy with data capture, send normal traffic")
    estimator = train(session, role, bucket, prefix)
    predictor = deploy_with_capture(estimator, session, bucket, prefix, endpoint_name)
    normal, normal_labels = traffic(120, seed=1)
    scores = invoke(predictor, normal, first_id=0)
    records = captured_records(session, bucket, prefix, endpoint_name, at_least=len(normal))
    first = records[0]
    print(f"   endpoint {endpoint_name}: {len(records)} captured records, e.g. input "
          f"{first['captureData']['endpointInput']['data']!r} -> output {first['captureData']['endpointOutput']['data']!r}"
          f" (inferenceId {first['eventMetadata']['inferenceId']})")

    print("2. baselines from the healthy traffic")
    data_monitor, quality_monitor = suggest_baselines(session, role, bucket, prefix, normal, scores, normal_labels,
                                                      workdir)
    threshold = quality_monitor.suggested_constraints().body_dict["binary_classification_constraints"]["f1"][
        "threshold"]
    print(f"   baseline f1 {threshold:.3f}; {len(data_monitor.suggested_constraints().body_dict['features'])} "
          "feature constraints")

    print("3. the wiring: an hourly data quality schedule, an alarm on f1, a rule that re-trains")
    schedule_data_quality(data_monitor, bucket, prefix, endpoint_name)
    pipeline = retraining_pipeline(role, bucket, prefix)
    retrain_data = f"s3://{bucket}/{prefix}/retrain"
    alarm = alarm_on_decay(session, role, endpoint_name, threshold, pipeline, retrain_data)

    print("4. decay: drifted traffic, its ground truth, the monitors run")
    drifted, drifted_labels = traffic(240, seed=2, drifted=True)
    invoke(predictor, drifted, first_id=len(normal))
    captured_records(session, bucket, prefix, endpoint_name, at_least=len(normal) + len(drifted))
    upload_ground_truth(session, bucket, prefix, np.concatenate([normal_labels, drifted_labels]), first_id=0)
    upload_retraining_data(session, retrain_data, drifted, drifted_labels)

    run_schedule_now(data_monitor)
    execution = latest_execution(data_monitor)
    status = execution.describe()["ExitMessage"]
    violations = data_monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    print(f"   data quality: {status}")
    for violation in violations:
        print(f"     {violation['feature_name']}: {violation['constraint_check_type']}")

    evaluate_model_quality_now(quality_monitor, bucket, prefix, endpoint_name)
    latest_execution(quality_monitor)
    metrics = quality_monitor.latest_monitoring_statistics().body_dict["binary_classification_metrics"]
    matrix = metrics["confusion_matrix"]
    print("   model quality: confusion matrix (actual -> predicted counts)")
    for actual, row in sorted(matrix.items()):
        print(f"     actual {actual}: " + ", ".join(f"predicted {p}: {n}" for p, n in sorted(row.items())))
    print(f"   f1 {metrics['f1']['value']:.3f} (threshold {threshold:.3f})")

    cloudwatch = session.boto_session.client("cloudwatch")
    state = wait_for(lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0],
                     lambda a: a["StateValue"] == "ALARM", what=f"alarm {alarm} in ALARM")
    print(f"   alarm {alarm}: {state['StateValue']} -- {state['StateReason']}")
    started = wait_for(lambda: pipeline.list_executions()["PipelineExecutionSummaries"], bool,
                       what="the re-training pipeline's execution")[0]
    arn = started["PipelineExecutionArn"]
    parameters = {p["Name"]: p["Value"] for p in session.sagemaker_client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]}
    print(f"   re-training started by the rule: {arn} with {parameters}")
    done = wait_for(lambda: session.sagemaker_client.describe_pipeline_execution(PipelineExecutionArn=arn),
                    lambda d: d["PipelineExecutionStatus"] not in ("Executing", "Stopping"),
                    what="the re-training pipeline")
    print(f"   PipelineExecutionStatus: {done['PipelineExecutionStatus']}")

    if not args.keep:
        data_monitor.delete_monitoring_schedule()
        quality_monitor.delete_monitoring_schedule()
        predictor.delete_endpoint()


if __name__ == "__main__":
    main()
