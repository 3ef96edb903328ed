"""A SageMaker SDK v2 pipeline with a data quality QualityCheckStep and a model registration carrying
its DriftCheckBaselines and ModelMetrics, run unchanged against real analyzer containers through the
baseline lifecycle the developer guide describes ("Baseline calculation, drift detection and lifecycle
with ClarifyCheck and QualityCheck steps"):

1. first run: skip_check + register_new_baseline: the job only calculates a baseline, which becomes
   the drift-check baseline of the (approved) package;
2. a run on similar data with the check on: it checks against the latest approved package's baseline
   (found through model_package_group_name), passes, and the package carries that baseline over;
3. drifted data: violations fail the step with AWS's reason, and with fail_on_violation=False the step
   succeeds and reports them.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from botocore.exceptions import WaiterError

from tests.jobhelpers import ROLE, ensure_byo_image, unique
from tests.monitorhelpers import baseline_csv, churn_like

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def images():
    from emulator.runtime.images import build_images
    return build_images(["model-monitor-analyzer"], print)


def read_json(server, uri: str) -> dict:
    bucket, key = uri[len("s3://"):].split("/", 1)
    return json.loads(server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def build(session, name: str, group: str):
    from sagemaker.drift_check_baselines import DriftCheckBaselines
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterBoolean, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

    bucket = session.default_bucket()
    dataset = ParameterString(name="Dataset")
    skip = ParameterBoolean(name="SkipCheck", default_value=False)
    register_new = ParameterBoolean(name="RegisterNewBaseline", default_value=False)
    fail_on_violation = ParameterBoolean(name="FailOnViolation", default_value=True)
    check = QualityCheckStep(
        name="DataQuality",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=dataset, dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=Join(on="/", values=[f"s3://{bucket}/data-quality", ExecutionVariables.PIPELINE_EXECUTION_ID])),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1, instance_type="ml.m5.large",
                                        sagemaker_session=session),
        skip_check=skip, register_new_baseline=register_new, fail_on_violation=fail_on_violation,
        model_package_group_name=group)
    properties = check.properties
    model = Model(image_uri=ensure_byo_image(), model_data=f"s3://{bucket}/model/model.tar.gz", role=ROLE,
                  sagemaker_session=session)
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name=group, approval_status="Approved",
        model_metrics=ModelMetrics(
            model_data_statistics=MetricsSource("application/json", properties.CalculatedBaselineStatistics),
            model_data_constraints=MetricsSource("application/json", properties.CalculatedBaselineConstraints)),
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=MetricsSource("application/json",
                                                properties.BaselineUsedForDriftCheckStatistics),
            model_data_constraints=MetricsSource("application/json",
                                                 properties.BaselineUsedForDriftCheckConstraints))))
    return Pipeline(name=name, parameters=[dataset, skip, register_new, fail_on_violation],
                    steps=[check, register], sagemaker_session=session)


def run(pipeline, **parameters) -> tuple[str, dict]:
    execution = pipeline.start(parameters=parameters)
    with contextlib.suppress(WaiterError):  # a failed execution is looked at through its steps
        execution.wait(delay=2, max_attempts=300)
    status = execution.describe()["PipelineExecutionStatus"]
    return status, {s["StepName"]: s for s in execution.list_steps()}


def test_quality_check_baseline_lifecycle_and_registered_baselines(images, pipeline_session, server, tmp_path):
    s3 = server.client("s3")
    sagemaker = server.client("sagemaker")
    bucket = pipeline_session.default_bucket()
    rng = np.random.default_rng(7)
    for key, shift in (("train", 0.0), ("fresh", 0.0), ("drifted", 3.0)):
        path = tmp_path / f"{key}.csv"
        baseline_csv(path, churn_like(rng, 2000, shift=shift))
        s3.upload_file(str(path), bucket, f"datasets/{key}.csv")
    name = unique("QCheck")
    group = f"{name}-models"
    pipeline = build(pipeline_session, name, group)
    pipeline.upsert(role_arn=ROLE)
    definition = json.loads(pipeline.describe()["PipelineDefinition"])
    step = next(s for s in definition["Steps"] if s["Name"] == "DataQuality")
    assert step["Type"] == "QualityCheck" and step["CheckType"] == "DATA_QUALITY"

    # 1. No baseline yet: calculate one and make it the drift-check baseline.
    status, steps = run(pipeline, Dataset=f"s3://{bucket}/datasets/train.csv", SkipCheck=True,
                        RegisterNewBaseline=True)
    assert status == "Succeeded", steps
    first = steps["DataQuality"]["Metadata"]["QualityCheck"]
    assert first["SkipCheck"] is True and first["RegisterNewBaseline"] is True
    assert first["CheckType"] == "DATA_QUALITY" and first["ModelPackageGroupName"] == group
    assert "ViolationReport" not in first
    assert first["CalculatedBaselineStatistics"].startswith(f"s3://{bucket}/data-quality/")
    assert first["BaselineUsedForDriftCheckStatistics"] == first["CalculatedBaselineStatistics"]
    assert first["BaselineUsedForDriftCheckConstraints"] == first["CalculatedBaselineConstraints"]
    statistics = read_json(server, first["CalculatedBaselineStatistics"])
    assert statistics["dataset"]["item_count"] == 2000
    assert {f["name"] for f in read_json(server, first["CalculatedBaselineConstraints"])["features"]} == \
        {"label", "age", "balance", "calls", "state"}
    job = sagemaker.describe_processing_job(ProcessingJobName=first["CheckJobArn"].split("/")[-1])
    assert "baseline_constraints" not in job["Environment"]

    package_arn = steps["Register-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["DriftCheckBaselines"] == {"ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": first["CalculatedBaselineStatistics"]},
        "Constraints": {"ContentType": "application/json", "S3Uri": first["CalculatedBaselineConstraints"]}}}
    assert package["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"] == \
        first["CalculatedBaselineStatistics"]

    # 2. Similar data, check on: the baseline comes from the latest approved package, and carries over.
    status, steps = run(pipeline, Dataset=f"s3://{bucket}/datasets/fresh.csv")
    assert status == "Succeeded", steps
    second = steps["DataQuality"]["Metadata"]["QualityCheck"]
    assert second["SkipCheck"] is False and second["RegisterNewBaseline"] is False
    assert "ViolationReport" not in second
    assert second["BaselineUsedForDriftCheckConstraints"] == first["CalculatedBaselineConstraints"]
    assert second["BaselineUsedForDriftCheckStatistics"] == first["CalculatedBaselineStatistics"]
    assert second["CalculatedBaselineConstraints"] != first["CalculatedBaselineConstraints"]
    job = sagemaker.describe_processing_job(ProcessingJobName=second["CheckJobArn"].split("/")[-1])
    assert job["ExitMessage"].startswith("Completed: ")
    assert job["Environment"]["baseline_constraints"] == "/opt/ml/processing/baseline/constraints/constraints.json"
    package = sagemaker.describe_model_package(
        ModelPackageName=steps["Register-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"])
    assert package["ModelPackageVersion"] == 2
    assert package["DriftCheckBaselines"]["ModelDataQuality"]["Constraints"]["S3Uri"] == \
        first["CalculatedBaselineConstraints"]
    assert package["ModelMetrics"]["ModelDataQuality"]["Constraints"]["S3Uri"] == \
        second["CalculatedBaselineConstraints"]

    # 3. Drifted data: violations fail the step (and the registration never runs)...
    status, steps = run(pipeline, Dataset=f"s3://{bucket}/datasets/drifted.csv")
    assert status == "Failed"
    third = steps["DataQuality"]
    report = third["Metadata"]["QualityCheck"]["ViolationReport"]
    assert third["StepStatus"] == "Failed"
    assert third["FailureReason"] == f"ClientError: Quality check failed. See violation report at {report}"
    violations = read_json(server, report)["violations"]
    assert any(v["constraint_check_type"] == "baseline_drift_check" and v["feature_name"] == "balance"
               for v in violations), violations
    assert "Register-RegisterModel" not in steps

    # ... unless fail_on_violation is off: the step succeeds and reports them.
    status, steps = run(pipeline, Dataset=f"s3://{bucket}/datasets/drifted.csv", FailOnViolation=False)
    assert status == "Succeeded", steps
    assert steps["DataQuality"]["Metadata"]["QualityCheck"]["ViolationReport"].endswith("/constraint_violations.json")


def test_model_quality_check_against_a_supplied_baseline(images, pipeline_session, server, tmp_path):
    """Model quality: a first run calculates the baseline (a second identical run is a cache hit); later
    runs are given it through supplied_baseline_* parameters, and worse predictions fail the check."""
    import pandas as pd
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.parameters import ParameterBoolean, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep
    from sagemaker.workflow.steps import CacheConfig

    s3 = server.client("s3")
    bucket = pipeline_session.default_bucket()
    rng = np.random.default_rng(11)
    for key, noise in (("good", 0.0), ("bad", 0.45)):
        rows = churn_like(rng, 1500)
        prediction = (rows["score"] >= 0.5).astype(int)
        flipped = rng.random(len(prediction)) < noise
        prediction[flipped] = 1 - prediction[flipped]
        frame = pd.DataFrame({"label": rows["label"], "prediction": prediction, "probability": rows["score"].round(6)})
        frame.to_csv(tmp_path / f"{key}.csv", index=False)
        s3.upload_file(str(tmp_path / f"{key}.csv"), bucket, f"predictions/{key}.csv")

    dataset = ParameterString(name="Dataset")
    skip = ParameterBoolean(name="SkipCheck", default_value=False)
    statistics = ParameterString(name="BaselineStatistics", default_value="")
    constraints = ParameterString(name="BaselineConstraints", default_value="")
    check = QualityCheckStep(
        name="ModelQuality",
        quality_check_config=ModelQualityCheckConfig(
            baseline_dataset=dataset, dataset_format=DatasetFormat.csv(header=True),
            problem_type="BinaryClassification", inference_attribute="prediction",
            probability_attribute="probability", ground_truth_attribute="label",
            output_s3_uri=f"s3://{bucket}/model-quality"),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1, instance_type="ml.m5.large",
                                        sagemaker_session=pipeline_session),
        skip_check=skip, register_new_baseline=skip,
        supplied_baseline_statistics=statistics, supplied_baseline_constraints=constraints,
        cache_config=CacheConfig(enable_caching=True, expire_after="P1D"))
    pipeline = Pipeline(name=unique("MQCheck"), parameters=[dataset, skip, statistics, constraints], steps=[check],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)

    status, steps = run(pipeline, Dataset=f"s3://{bucket}/predictions/good.csv", SkipCheck=True)
    assert status == "Succeeded", steps
    first = steps["ModelQuality"]["Metadata"]["QualityCheck"]
    assert first["CheckType"] == "MODEL_QUALITY" and "ModelPackageGroupName" not in first
    baseline = read_json(server, first["CalculatedBaselineConstraints"])["binary_classification_constraints"]
    assert baseline["f1"]["comparison_operator"] == "LessThanThreshold"
    status, steps = run(pipeline, Dataset=f"s3://{bucket}/predictions/good.csv", SkipCheck=True)
    assert status == "Succeeded" and "SourcePipelineExecutionArn" in steps["ModelQuality"]["CacheHitResult"]
    assert steps["ModelQuality"]["Metadata"]["QualityCheck"] == first

    status, steps = run(pipeline, Dataset=f"s3://{bucket}/predictions/bad.csv",
                        BaselineStatistics=first["CalculatedBaselineStatistics"],
                        BaselineConstraints=first["CalculatedBaselineConstraints"])
    assert status == "Failed"
    second = steps["ModelQuality"]
    metadata = second["Metadata"]["QualityCheck"]
    assert metadata["BaselineUsedForDriftCheckConstraints"] == first["CalculatedBaselineConstraints"]
    assert second["FailureReason"].startswith("ClientError: Quality check failed. See violation report at s3://")
    checks = {v["metric_name"] for v in read_json(server, metadata["ViolationReport"])["violations"]}
    assert "f1" in checks or "accuracy" in checks, checks
