"""SDK v3 QualityCheckStep (sagemaker.mlops.workflow) against the emulator: run by tests/test_sdk_v3.py.

A data quality check that only calculates a baseline and registers it as the drift-check baseline."""
import json
import sys

import boto3
from sagemaker.core.model_monitor.dataset_format import DatasetFormat
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

bucket, dataset, name = sys.argv[1:4]
role = "arn:aws:iam::000000000000:role/SageMakerRole"
session = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
check = QualityCheckStep(
    name="DataQuality",
    quality_check_config=DataQualityCheckConfig(baseline_dataset=dataset, dataset_format=DatasetFormat.csv(header=True),
                                                output_s3_uri=f"s3://{bucket}/data-quality"),
    check_job_config=CheckJobConfig(role=role, instance_count=1, instance_type="ml.m5.large",
                                    sagemaker_session=session),
    skip_check=True, register_new_baseline=True)
pipeline = Pipeline(name=name, steps=[check], sagemaker_session=session)
pipeline.upsert(role_arn=role)
execution = pipeline.start()
try:
    execution.wait(delay=1, max_attempts=300)
except Exception as exc:  # noqa: BLE001 - the waiter raises on Failed
    print("WAIT", type(exc).__name__)
print("STATUS", execution.describe()["PipelineExecutionStatus"])
step = execution.list_steps()[0]
print("REASON", step.get("FailureReason", ""))
print("METADATA", json.dumps(step["Metadata"].get("QualityCheck", {})))
