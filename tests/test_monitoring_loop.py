"""The decay loop end to end, on real containers: the user guide's model-monitoring story as
examples/model_monitoring/monitor_and_retrain.py tells it (unchanged SageMaker SDK and boto3 code), step
by step, with what AWS would show checked between the steps.

train -> deploy with capture -> normal traffic -> baselines -> an hourly data quality schedule, an alarm
on f1 and a re-training rule -> drifted traffic and its ground truth -> the hourly schedule runs
(violations) -> a one-time (NOW) model quality schedule runs (merge then analysis: confusion matrix, f1
under the threshold) -> f1 in CloudWatch -> the alarm in ALARM -> the EventBridge rule -> a re-training
pipeline execution with the rule's parameters. The hourly schedule is run with the emulator's run call
instead of waiting for the hour; the rest is the SDK's own list_executions() / wait().
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk

from emulator.testing.waiting import wait_until
from tests.jobhelpers import ROLE, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model_monitoring" / "monitor_and_retrain.py"


@pytest.fixture(scope="module")
def story():
    """The example's steps, imported (its main() is what a user runs; it imports capture.py beside it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE.parent))
        spec = importlib.util.spec_from_file_location("monitor_and_retrain", EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def images():
    from emulator.runtime.images import build_images
    return build_images(["xgboost", "model-monitor-analyzer", "model-monitor-groundtruth-merger"], print)


def newest_execution(sagemaker, schedule: str) -> dict:
    """The schedule's newest execution (an hourly schedule may also have run at the top of an hour)."""
    return sagemaker.list_monitoring_executions(MonitoringScheduleName=schedule, SortBy="ScheduledTime",
                                                SortOrder="Descending")["MonitoringExecutionSummaries"][0]


def test_capture_decay_confusion_matrix_threshold_retrain(story, images, sagemaker_session, server, tmp_path):
    session, role = sagemaker_session, ROLE
    bucket = session.default_bucket()
    prefix = endpoint_name = unique("churn-loop")
    sagemaker = session.sagemaker_client

    # Capture.
    estimator = story.train(session, role, bucket, prefix)
    predictor = story.deploy_with_capture(estimator, session, bucket, prefix, endpoint_name)
    normal, normal_labels = story.traffic(120, seed=1)
    scores = story.invoke(predictor, normal, first_id=0)
    assert np.mean((scores >= 0.5) == normal_labels) > 0.85
    records = story.captured_records(session, bucket, prefix, endpoint_name, at_least=len(normal), timeout=60)
    assert len(records) == len(normal)
    by_id = {r["eventMetadata"]["inferenceId"]: r for r in records}
    assert by_id["7"]["captureData"]["endpointInput"]["data"] == ",".join(str(v) for v in normal[7])
    assert float(by_id["7"]["captureData"]["endpointOutput"]["data"]) == pytest.approx(scores[7], abs=1e-6)

    # Baselines.
    data_monitor, quality_monitor = story.suggest_baselines(session, role, bucket, prefix, normal, scores,
                                                            normal_labels, tmp_path)
    features = {f["name"] for f in data_monitor.suggested_constraints().body_dict["features"]}
    assert features == {"score", *story.FEATURES}
    threshold = quality_monitor.suggested_constraints().body_dict["binary_classification_constraints"]["f1"][
        "threshold"]
    assert threshold == pytest.approx(sk.f1_score(normal_labels, (scores >= 0.5).astype(int)), abs=1e-9)

    # The wiring.
    story.schedule_data_quality(data_monitor, bucket, prefix, endpoint_name)
    described = data_monitor.describe_schedule()
    assert described["MonitoringType"] == "DataQuality" and described["EndpointName"] == endpoint_name
    assert described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert described["MonitoringScheduleStatus"] in ("Pending", "Scheduled")
    assert data_monitor.list_executions() == []
    pipeline = story.retraining_pipeline(role, bucket, prefix)
    retrain_data = f"s3://{bucket}/{prefix}/retrain"
    alarm = story.alarm_on_decay(session, role, endpoint_name, threshold, pipeline, retrain_data)
    cloudwatch = session.boto_session.client("cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"

    # Decay.
    drifted, drifted_labels = story.traffic(240, seed=2, drifted=True)
    drifted_scores = story.invoke(predictor, drifted, first_id=len(normal))
    story.captured_records(session, bucket, prefix, endpoint_name, at_least=len(normal) + len(drifted), timeout=60)
    labels = np.concatenate([normal_labels, drifted_labels])
    story.upload_ground_truth(session, bucket, prefix, labels, first_id=0)
    story.upload_retraining_data(session, retrain_data, drifted, drifted_labels)

    story.run_schedule_now(data_monitor)
    execution = story.latest_execution(data_monitor, timeout=60)
    summary = newest_execution(sagemaker, data_monitor.monitoring_schedule_name)
    assert summary["ProcessingJobArn"] == execution.describe()["ProcessingJobArn"]
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations"
    violations = data_monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    assert execution.describe()["ExitMessage"] == (
        f"CompletedWithViolations: Job completed successfully with {len(violations)} violations.")
    drift = {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"}
    assert {"x0", "x3"} <= drift and "x1" not in drift
    statistics = data_monitor.latest_monitoring_statistics().body_dict
    assert statistics["dataset"]["item_count"] == len(normal) + len(drifted)

    story.evaluate_model_quality_now(quality_monitor, bucket, prefix, endpoint_name)
    described = quality_monitor.describe_schedule()
    assert described["MonitoringType"] == "ModelQuality" and described["EndpointName"] == endpoint_name
    assert described["MonitoringScheduleConfig"]["ScheduleConfig"] == {
        "ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT0H"}
    analysis = story.latest_execution(quality_monitor, timeout=120)
    # Two processing jobs, as on AWS: the ground truth merge, then the analysis of the merged records.
    suffix = analysis.job_name.removeprefix("model-quality-monitoring-")
    assert suffix != analysis.job_name
    merge = sagemaker.describe_processing_job(ProcessingJobName=f"groundtruth-merge-{suffix}")
    assert merge["ProcessingJobStatus"] == "Completed"
    summary = newest_execution(sagemaker, quality_monitor.monitoring_schedule_name)
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations"
    assert summary["MonitoringType"] == "ModelQuality"
    metrics = quality_monitor.latest_monitoring_statistics().body_dict["binary_classification_metrics"]
    predicted = (np.concatenate([scores, drifted_scores]).round(6) >= 0.5).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(labels, predicted).ravel()
    assert metrics["confusion_matrix"] == {"0": {"0": int(tn), "1": int(fp)}, "1": {"0": int(fn), "1": int(tp)}}
    f1 = metrics["f1"]["value"]
    assert f1 == pytest.approx(sk.f1_score(labels, predicted), abs=1e-9) and f1 < threshold
    found = quality_monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    assert "f1" in {v["metric_name"] for v in found}

    # The metric, the alarm, the rule, the re-training.
    dimensions = [{"Name": "Endpoint", "Value": endpoint_name},
                  {"Name": "MonitoringSchedule", "Value": quality_monitor.monitoring_schedule_name}]
    (listed,) = cloudwatch.list_metrics(Namespace=story.MODEL_METRICS, MetricName="f1",
                                        Dimensions=dimensions)["Metrics"]
    assert sorted(d["Name"] for d in listed["Dimensions"]) == ["Endpoint", "MonitoringSchedule"]
    state = wait_until(lambda: [a for a in cloudwatch.describe_alarms(AlarmNames=[alarm], StateValue="ALARM")
                                ["MetricAlarms"]], timeout=60, what="the alarm in ALARM")[0]
    assert state["StateReason"].startswith("Threshold Crossed: 1 datapoint [")
    assert json.loads(state["StateReasonData"])["recentDatapoints"] == [pytest.approx(f1)]
    execution_arn = wait_until(lambda: [s["PipelineExecutionArn"] for s in
                                        pipeline.list_executions()["PipelineExecutionSummaries"]],
                               timeout=60, what="the re-training execution")[0]
    parameters = {p["Name"]: p["Value"] for p in sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution_arn)["PipelineParameters"]}
    assert parameters == {"TrainData": retrain_data, "Reason": alarm}
    (step,) = wait_until(lambda: [s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=execution_arn)["PipelineExecutionSteps"] if "TrainingJob" in s.get("Metadata", {})],
        timeout=120, what="the Retrain step's training job")
    assert step["StepName"] == "Retrain"
    job = sagemaker.describe_training_job(TrainingJobName=step["Metadata"]["TrainingJob"]["Arn"].split("/")[-1])
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == retrain_data

    data_monitor.delete_monitoring_schedule()
    quality_monitor.delete_monitoring_schedule()
    predictor.delete_endpoint()
