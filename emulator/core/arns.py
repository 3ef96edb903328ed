"""Every ARN the emulator hands out is built here (one place, one format)."""

from __future__ import annotations

# SageMaker resource types as they appear in ARNs, e.g. arn:aws:sagemaker:us-east-1:123:training-job/x
SAGEMAKER_RESOURCE = {
    "TrainingJob": "training-job",
    "ProcessingJob": "processing-job",
    "TransformJob": "transform-job",
    "HyperParameterTuningJob": "hyper-parameter-tuning-job",
    "Model": "model",
    "EndpointConfig": "endpoint-config",
    "Endpoint": "endpoint",
    "Experiment": "experiment",
    "Trial": "experiment-trial",
    "TrialComponent": "experiment-trial-component",
    "ModelPackageGroup": "model-package-group",
    "ModelPackage": "model-package",
    "Pipeline": "pipeline",
    "Artifact": "artifact",
}


_CASE_PRESERVING = {"Pipeline"}


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def sagemaker_arn(kind: str, name: str, region: str, account: str) -> str:
    # SageMaker lower-cases job, model and experiment names inside ARNs; pipeline ARNs keep the
    # name's case (pipeline_definitions.md §API responses shows `pipeline/SimpleXGBoostPipeline`).
    resource = SAGEMAKER_RESOURCE.get(kind, kind)
    if kind not in _CASE_PRESERVING:
        name = name.lower()
    return f"arn:{partition(region)}:sagemaker:{region}:{account}:{resource}/{name}"


def role_arn(role_name: str, account: str, region: str = "us-east-1", path: str = "/") -> str:
    return f"arn:{partition(region)}:iam::{account}:role{path}{role_name}"


def log_group_arn(group: str, region: str, account: str) -> str:
    return f"arn:{partition(region)}:logs:{region}:{account}:log-group:{group}:*"


def arn_resource_name(arn: str) -> str:
    """The last path segment of an ARN's resource part (`.../training-job/NAME` -> NAME)."""
    return arn.rsplit("/", 1)[-1]
