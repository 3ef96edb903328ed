"""SDK v3 pipeline (sagemaker.mlops.workflow) against the emulator: run by tests/test_sdk_v3.py.

A ModelTrainer TrainingStep, then a Condition on its metric choosing a Fail step or nothing."""
import sys

import boto3
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.parameters import ParameterFloat
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import TrainingStep
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, SourceCode

bucket, image, code_dir, name, threshold = sys.argv[1:6]
role = "arn:aws:iam::000000000000:role/SageMakerRole"
session = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
trainer = ModelTrainer(training_image=image, role=role, sagemaker_session=session, base_job_name="v3pipe",
                       source_code=SourceCode(source_dir=code_dir, entry_script="train.py"),
                       compute=Compute(instance_type="ml.m5.large", instance_count=1))
train = TrainingStep(name="Train", step_args=trainer.train())
minimum = ParameterFloat(name="MinimumTime", default_value=0.0)
check = ConditionStep(
    name="Check",
    conditions=[ConditionGreaterThanOrEqualTo(left=train.properties.TrainingTimeInSeconds, right=minimum)],
    if_steps=[], else_steps=[FailStep(name="TooFast", error_message="training was too fast")])
pipeline = Pipeline(name=name, parameters=[minimum], steps=[train, check], sagemaker_session=session)
pipeline.upsert(role_arn=role)
execution = pipeline.start(parameters={"MinimumTime": float(threshold)})
try:
    execution.wait(delay=1, max_attempts=300)
except Exception as exc:  # the waiter raises on Failed
    print("WAIT", type(exc).__name__)
print("STATUS", execution.describe()["PipelineExecutionStatus"])
print("STEPS", ",".join(sorted(s["StepName"] for s in execution.list_steps())))
