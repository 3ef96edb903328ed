"""SDK v3 ModelBuilder against the emulator: build a model from an image and an S3 artifact, deploy it, invoke
the endpoint, delete it. Run by tests/test_sdk_v3_inference.py with the SDK v3 venv."""
import sys

import boto3
from sagemaker.core.helper.session_helper import Session
from sagemaker.serve import ModelBuilder
from sagemaker.serve.utils.types import ModelServer

bucket, image, model_data, endpoint_name = sys.argv[1:5]
session = Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
builder = ModelBuilder(image_uri=image, s3_model_data_url=model_data, model_server=ModelServer.TORCHSERVE,
                       role_arn="arn:aws:iam::000000000000:role/SageMakerRole", sagemaker_session=session,
                       instance_type="ml.m5.large", content_type="text/csv", accept_type="text/csv")
model = builder.build()
print("MODEL", model.model_name)
endpoint = builder.deploy(endpoint_name=endpoint_name, initial_instance_count=1, wait=True)
print("ENDPOINT", endpoint.endpoint_name, endpoint.endpoint_status)
response = endpoint.invoke(body=b"1,2,3,4\n-1,-2,0,0\n", content_type="text/csv", accept="text/csv")
print("PREDICTIONS", response.body.read().decode().split())
endpoint.delete()
print("DELETED")
