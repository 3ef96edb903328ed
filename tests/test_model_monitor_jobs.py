"""Model Monitor's analyzer and ground-truth merger images as processing jobs on a real server.

The SageMaker SDK's DefaultModelMonitor.suggest_baseline and ModelQualityMonitor.suggest_baseline
run unchanged (the real `sagemaker-model-monitor-analyzer` URI the SDK looks up) and read the
statistics and constraints back; monitoring runs are started the way the platform starts them
(the environment and /opt/ml/processing layout of a real scheduled execution), from another
account and region's URI. Reference values come from pandas and scikit-learn here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from emulator.testing.sdk import sdk_environment, sdk_session
from tests.jobhelpers import ROLE, unique, wait_for
from tests.monitorhelpers import (
    baseline_csv,
    churn_like,
    data_quality_run_env,
    ground_truth_line,
    model_quality_run_env,
    utc_hour,
    write_hour_of_capture,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ANALYZER = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
MERGER = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-groundtruth-merger"


@pytest.fixture(scope="module")
def images():
    from emulator.runtime.images import build_images
    return build_images(["model-monitor-analyzer", "model-monitor-groundtruth-merger"], print)


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("monitor")
    server.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def session(server, bucket, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        sdk_environment(patch, server, tmp_path_factory.mktemp("sdk"))
        yield sdk_session(server, bucket)


def read_json(server, uri: str) -> dict:
    bucket, key = uri[len("s3://"):].split("/", 1)
    return json.loads(server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def upload_tree(server, bucket: str, prefix: str, root) -> None:
    s3 = server.client("s3")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")


def s3_input(name: str, uri: str, local: str) -> dict:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                           "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}


def processing_job(sagemaker, name: str, image: str, env: dict, inputs: list, output_uri: str) -> dict:
    sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE, Environment=env, AppSpecification={"ImageUri": image},
        ProcessingInputs=inputs,
        ProcessingOutputConfig={"Outputs": [{"OutputName": "result", "S3Output": {
            "S3Uri": output_uri, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "Continuous"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 20}},
        StoppingCondition={"MaxRuntimeInSeconds": 1800})
    return wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                    timeout=600)


def test_default_model_monitor_suggest_baseline(server, session, images, tmp_path):
    from sagemaker.model_monitor import DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    rows = churn_like(np.random.default_rng(21), 3000)
    baseline_csv(tmp_path / "train.csv", rows)
    monitor = DefaultModelMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                  volume_size_in_gb=20, max_runtime_in_seconds=1800, sagemaker_session=session)
    job = monitor.suggest_baseline(baseline_dataset=str(tmp_path / "train.csv"),
                                   dataset_format=DatasetFormat.csv(header=True),
                                   output_s3_uri=f"s3://{session.default_bucket()}/baselining/results",
                                   wait=True, logs=False)
    described = job.describe()
    assert described["ProcessingJobStatus"] == "Completed"
    assert described["AppSpecification"]["ImageUri"].endswith("/sagemaker-model-monitor-analyzer")
    assert described["ExitMessage"] == "Completed: Job completed successfully with no violations."

    reference = pd.read_csv(tmp_path / "train.csv")
    statistics = {f["name"]: f for f in monitor.baseline_statistics().body_dict["features"]}
    for name in ("label", "age", "balance", "calls"):
        numeric = statistics[name]["numerical_statistics"]
        assert numeric["mean"] == reference[name].mean()
        assert numeric["std_dev"] == reference[name].std(ddof=0)
        assert numeric["common"]["num_present"] == reference[name].count()
    assert statistics["balance"]["inferred_type"] == "Fractional"
    constraints = {f["name"]: f for f in monitor.suggested_constraints().body_dict["features"]}
    assert constraints["state"]["string_constraints"]["domains"] == sorted(reference["state"].unique())
    assert constraints["age"]["num_constraints"] == {"is_non_negative": True}


def test_model_quality_monitor_suggest_baseline(server, session, images, tmp_path):
    from sagemaker.model_monitor import ModelQualityMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    rows = churn_like(np.random.default_rng(22), 1200)
    frame = pd.DataFrame({"label": rows["label"], "prediction": (rows["score"] >= 0.5).astype(int),
                          "probability": rows["score"].round(6)})
    frame.to_csv(tmp_path / "validation_with_predictions.csv", index=False)
    monitor = ModelQualityMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                  sagemaker_session=session)
    job = monitor.suggest_baseline(baseline_dataset=str(tmp_path / "validation_with_predictions.csv"),
                                   dataset_format=DatasetFormat.csv(header=True), problem_type="BinaryClassification",
                                   inference_attribute="prediction", probability_attribute="probability",
                                   ground_truth_attribute="label", wait=True, logs=False)
    assert job.describe()["ProcessingJobStatus"] == "Completed"
    baseline_job = monitor.latest_baselining_job
    section = baseline_job.baseline_statistics().body_dict["binary_classification_metrics"]
    truth, predicted = frame["label"], frame["prediction"]
    assert section["f1"]["value"] == pytest.approx(sk.f1_score(truth, predicted), abs=1e-9)
    assert section["auc"]["value"] == pytest.approx(sk.roc_auc_score(truth, frame["probability"]), abs=1e-9)
    assert isinstance(section["f1"]["standard_deviation"], float)
    constraints = baseline_job.suggested_constraints().body_dict["binary_classification_constraints"]
    assert constraints["f1"] == {"threshold": section["f1"]["value"], "comparison_operator": "LessThanThreshold"}


def test_a_scheduled_data_quality_run_finds_drift(server, sagemaker, bucket, images, tmp_path):
    """The execution the platform starts each hour: capture hour in, reports and exit message out."""
    rows = churn_like(np.random.default_rng(23), 2000)
    baseline_csv(tmp_path / "train.csv", rows)
    s3 = server.client("s3")
    s3.upload_file(str(tmp_path / "train.csv"), bucket, "dq/train/train.csv")
    baseline = processing_job(sagemaker, unique("baseline-suggestion-job"), ANALYZER, {
        "dataset_format": json.dumps({"csv": {"header": True, "output_columns_position": "START"}}),
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"},
        [s3_input("baseline_dataset_input", f"s3://{bucket}/dq/train",
                  "/opt/ml/processing/input/baseline_dataset_input")], f"s3://{bucket}/dq/baseline")
    assert baseline["ProcessingJobStatus"] == "Completed", baseline.get("FailureReason")

    hour = utc_hour(1)
    drifted = churn_like(np.random.default_rng(24), 1000, shift=1.0)
    drifted["score"] = drifted["label"]
    write_hour_of_capture(tmp_path / "capture", "churn", hour, drifted, files=10)
    upload_tree(server, bucket, "capture", tmp_path / "capture")
    data_hour = f"churn/AllTraffic/{hour:%Y/%m/%d/%H}"
    report = f"s3://{bucket}/reports/churn/hourly/{hour:%Y/%m/%d/%H}"
    job = processing_job(sagemaker, unique("model-monitoring"), ANALYZER, data_quality_run_env(
        hour, dataset_source="/opt/ml/processing/input/endpoint",
        constraints="/opt/ml/processing/baseline/constraints/constraints.json",
        statistics="/opt/ml/processing/baseline/stats/statistics.json"),
        [s3_input("endpoint_input_1", f"s3://{bucket}/capture/{data_hour}",
                  f"/opt/ml/processing/input/endpoint/{data_hour}"),
         s3_input("constraints", f"s3://{bucket}/dq/baseline/constraints.json",
                  "/opt/ml/processing/baseline/constraints"),
         s3_input("statistics", f"s3://{bucket}/dq/baseline/statistics.json", "/opt/ml/processing/baseline/stats")],
        report)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    found = read_json(server, f"{report}/constraint_violations.json")["violations"]
    assert job["ExitMessage"] == f"CompletedWithViolations: Job completed successfully with {len(found)} violations."
    drift = {v["feature_name"] for v in found if v["constraint_check_type"] == "baseline_drift_check"}
    assert {"balance", "calls"} <= drift
    assert read_json(server, f"{report}/statistics.json")["dataset"]["item_count"] == 1000


def test_a_bad_configuration_fails_with_its_reason_as_exit_message(sagemaker, images):
    job = processing_job(sagemaker, unique("model-monitoring"), ANALYZER,
                         {"dataset_format": '{"xml": {}}', "dataset_source": "/opt/ml/processing/input"}, [],
                         "s3://nowhere/out")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["ExitMessage"].startswith("Error: Unsupported dataset_format")


def test_a_scheduled_model_quality_run_is_a_merge_job_then_an_analysis(server, sagemaker, bucket, images, tmp_path):
    rng = np.random.default_rng(25)
    hour = utc_hour(2)
    rows = churn_like(rng, 600)
    ids = write_hour_of_capture(tmp_path / "capture", "churn", hour, rows, files=6)
    labels = np.where(rng.random(600) < 0.45, 1 - (rows["score"] >= 0.5), rows["label"]).astype(int)
    truth_hour = tmp_path / "groundtruth" / f"{hour:%Y/%m/%d/%H}"
    truth_hour.mkdir(parents=True)
    (truth_hour / "labels.jsonl").write_text("\n".join(ground_truth_line(i, str(v)) for i, v in zip(ids, labels)))
    upload_tree(server, bucket, "mq/capture", tmp_path / "capture")
    upload_tree(server, bucket, "mq/groundtruth", tmp_path / "groundtruth")
    server.client("s3").put_object(Bucket=bucket, Key="mq/baseline/constraints.json", Body=json.dumps({
        "version": 0.0, "binary_classification_constraints": {
            "f1": {"threshold": 0.7, "comparison_operator": "LessThanThreshold"},
            "accuracy": {"threshold": 0.7, "comparison_operator": "LessThanThreshold"}}}))

    data_hour = f"churn/AllTraffic/{hour:%Y/%m/%d/%H}"
    suffix = f"{hour:%Y%m%d%H}00-{unique('x')[-8:]}"
    merge = processing_job(sagemaker, f"groundtruth-merge-{suffix}", MERGER, {
        "dataset_source": "/opt/ml/processing/input_data", "ground_truth_source": "/opt/ml/processing/groundtruth",
        "output_path": "/opt/ml/processing/output"},
        [s3_input("groundtruth_input_1", f"s3://{bucket}/mq/groundtruth/{hour:%Y/%m/%d/%H}",
                  f"/opt/ml/processing/groundtruth/{hour:%Y/%m/%d/%H}"),
         s3_input("endpoint_input_1", f"s3://{bucket}/mq/capture/{data_hour}",
                  f"/opt/ml/processing/input_data/{data_hour}")], f"s3://{bucket}/mq/merge")
    assert merge["ProcessingJobStatus"] == "Completed", merge.get("FailureReason")

    report = f"s3://{bucket}/mq/reports/churn/mq-schedule/{hour:%Y/%m/%d/%H}"
    job = processing_job(sagemaker, f"model-quality-monitoring-{suffix}", ANALYZER, model_quality_run_env(
        hour, baseline_constraints="/opt/ml/processing/baseline/constraints/constraints.json"),
        [s3_input("constraints", f"s3://{bucket}/mq/baseline/constraints.json",
                  "/opt/ml/processing/baseline/constraints"),
         s3_input("endpoint_input_1", f"s3://{bucket}/mq/merge/{data_hour}",
                  f"/opt/ml/processing/input_data/{data_hour}")], report)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    section = read_json(server, f"{report}/statistics.json")["binary_classification_metrics"]
    predicted = (np.round(rows["score"], 6) >= 0.5).astype(int)
    assert section["f1"]["value"] == pytest.approx(sk.f1_score(labels, predicted), abs=1e-9)
    tn, fp, fn, tp = sk.confusion_matrix(labels, predicted).ravel()
    assert section["confusion_matrix"] == {"0": {"0": int(tn), "1": int(fp)}, "1": {"0": int(fn), "1": int(tp)}}
    found = read_json(server, f"{report}/constraint_violations.json")["violations"]
    assert {v["metric_name"] for v in found} == {"f1", "accuracy"}
    assert job["ExitMessage"] == "CompletedWithViolations: Job completed successfully with 2 violations."
