"""SDK v3 model registry reads (sagemaker.core.resources.ModelPackage): run by tests/test_sdk_v3.py.

ModelPackage.get(arn).update(...) refreshes the package after the update, and get_all() refreshes each
listed package: both describe by ModelPackageName when the response has one, else by ARN."""
import sys

import boto3
from sagemaker.core.resources import ModelPackage

group = sys.argv[1]
client = boto3.client("sagemaker", region_name="us-east-1")
client.create_model_package_group(ModelPackageGroupName=group)
inference = {"Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"}],
             "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
arns = [client.create_model_package(ModelPackageGroupName=group, InferenceSpecification=inference)["ModelPackageArn"]
        for _ in range(2)]
package = ModelPackage.get(arns[0])
package.update(model_approval_status="Approved")
print("UPDATED", package.model_approval_status)
listed = list(ModelPackage.get_all(model_package_group_name=group))
print("LISTED", ",".join(sorted(str(p.model_package_version) for p in listed)))
print("APPROVED", client.describe_model_package(ModelPackageName=arns[0])["ModelApprovalStatus"])
