"""SDK v3 ModelTrainer against the emulator: run by tests/test_sdk_v3.py with the SDK v3 venv."""
import sys

import boto3
from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, SourceCode

bucket, image, code_dir, data = sys.argv[1:5]
boto_session = boto3.Session(region_name="us-east-1")
session = Session(boto_session=boto_session, default_bucket=bucket)
trainer = ModelTrainer(training_image=image, role="arn:aws:iam::000000000000:role/SageMakerRole",
                       sagemaker_session=session, base_job_name="v3job",
                       source_code=SourceCode(source_dir=code_dir, entry_script="train.py"),
                       compute=Compute(instance_type="ml.m5.large", instance_count=1))
trainer.train(input_data_config=[InputData(channel_name="train", data_source=data)], wait=True, logs=False)
job = trainer._latest_training_job
print("STATUS", job.training_job_status, job.model_artifacts.s3_model_artifacts)
