"""Describe* audit: a minimal Create* of every resource the emulator stores, then its Describe*
response checked against what a real response carries by default:

- every member botocore's output shape marks required, at every depth (a structure that is present
  has its required members; list items and map values too);
- the members the SageMaker SDK reads from that response (the lists below, each with where it reads
  them), including defaults AWS fills in that the request did not set.

Exceptions are listed with the AWS behaviour they follow.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import ROLE, unique

MODEL = botocore.session.get_session().get_service_model("sagemaker")
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
INFERENCE = {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
             "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}

# Required by the shape, left out by AWS: a versioned model package has no name of its own
# (ListModelPackages/DescribeModelPackage, aws/sagemaker-python-sdk#5606).
NOT_RETURNED = {("DescribeModelPackage", "versioned"): {"ModelPackageName"}}

# Members the SDK reads (dotted paths), by Describe operation.
SDK_READS = {
    # Estimator._prepare_init_params_from_job_description, Session.logs_for_job, estimator.model_data
    "DescribeTrainingJob": ["RoleArn", "ResourceConfig.InstanceCount", "ResourceConfig.InstanceType",
                            "ResourceConfig.VolumeSizeInGB", "StoppingCondition.MaxRuntimeInSeconds",
                            "AlgorithmSpecification.TrainingInputMode", "AlgorithmSpecification.TrainingImage",
                            "OutputDataConfig.S3OutputPath", "OutputDataConfig.KmsKeyId", "HyperParameters",
                            "ModelArtifacts.S3ModelArtifacts", "TrainingJobStatus", "SecondaryStatus",
                            "SecondaryStatusTransitions", "EnableNetworkIsolation"],
    # ProcessingJob.from_processing_name, Session.wait_for_processing_job, logs_for_processing_job
    "DescribeProcessingJob": ["ProcessingResources.ClusterConfig.InstanceCount", "ProcessingJobStatus",
                              "StoppingCondition.MaxRuntimeInSeconds", "AppSpecification.ImageUri", "RoleArn",
                              "ProcessingInputs", "ProcessingOutputConfig.Outputs"],
    # HyperparameterTuner.attach / _prepare_estimator_from_job_description / _prepare_init_params
    "DescribeHyperParameterTuningJob": [
        "TrainingJobDefinition.StaticHyperParameters._tuning_objective_metric",
        "TrainingJobDefinition.ResourceConfig.InstanceCount", "TrainingJobDefinition.OutputDataConfig",
        "TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds",
        "TrainingJobDefinition.AlgorithmSpecification.TrainingInputMode",
        "HyperParameterTuningJobConfig.Strategy", "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
        "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
        "HyperParameterTuningJobConfig.ParameterRanges", "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType",
        "HyperParameterTuningJobStatus"],
    # ModelPackage helpers (approval, update_model_card) and v3 ModelPackage.refresh
    "DescribeModelPackage": ["ModelPackageArn", "ModelPackageStatus", "ModelApprovalStatus",
                             "InferenceSpecification.Containers", "ModelPackageGroupName", "ModelPackageVersion"],
    "DescribeModelPackageGroup": ["ModelPackageGroupArn", "ModelPackageGroupStatus"],
    "DescribeModel": ["ModelArn", "PrimaryContainer.Image", "ExecutionRoleArn"],
    # Pipeline.describe / PipelineExecution.describe and wait (PipelineExecutionComplete waiter)
    "DescribePipeline": ["PipelineArn", "PipelineDefinition", "RoleArn", "PipelineStatus", "CreationTime",
                         "LastModifiedTime"],
    "DescribePipelineExecution": ["PipelineArn", "PipelineExecutionArn", "PipelineExecutionStatus", "CreationTime"],
    # experiments: Experiment.load, _Trial.load, _TrialComponent.load (Run reads Parameters and Status)
    "DescribeExperiment": ["ExperimentName", "ExperimentArn", "CreationTime"],
    "DescribeTrial": ["TrialName", "TrialArn", "ExperimentName", "CreationTime"],
    "DescribeTrialComponent": ["TrialComponentName", "TrialComponentArn", "CreationTime"],
    "DescribeArtifact": ["ArtifactArn", "Source.SourceUri", "ArtifactType", "CreationTime"],
}


def missing_required(shape, value, path: str = "") -> list[str]:
    """Dotted paths of required members absent from `value`, at every depth of `shape`."""
    out: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value:
                out.append(f"{path}{name}")
        for name, member in shape.members.items():
            if name in value:
                out += missing_required(member, value[name], f"{path}{name}.")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            out += missing_required(shape.member, item, f"{path}[{index}].")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            out += missing_required(shape.value, item, f"{path}{key}.")
    return out


def lookup(value, dotted: str):
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def audit(sagemaker, operation: str, exempt: set[str] = frozenset(), **params) -> dict:
    response = getattr(sagemaker, botocore_method(operation))(**params)
    response.pop("ResponseMetadata", None)
    shape = MODEL.operation_model(operation).output_shape
    assert [m for m in missing_required(shape, response) if m not in exempt] == [], operation
    absent = []
    for dotted in SDK_READS.get(operation, []):
        try:
            lookup(response, dotted)
        except KeyError:
            absent.append(dotted)
    assert absent == [], f"{operation} lacks what the SDK reads: {absent}"
    return response


def botocore_method(operation: str) -> str:
    return MODEL.operation_model(operation).name[0].lower() + "".join(
        f"_{c.lower()}" if c.isupper() else c for c in MODEL.operation_model(operation).name[1:])


def test_every_describe_carries_what_aws_and_the_sdk_do(server, sagemaker):
    s3 = server.client("s3")
    bucket = unique("audit")
    s3.create_bucket(Bucket=bucket)
    output = {"S3OutputPath": f"s3://{bucket}/out"}
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}

    training = unique("audit-train")
    sagemaker.create_training_job(
        TrainingJobName=training, RoleArn=ROLE, OutputDataConfig=output, ResourceConfig=resources,
        AlgorithmSpecification={"TrainingImage": "audit-no-such-image:1", "TrainingInputMode": "File"},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    audit(sagemaker, "DescribeTrainingJob", TrainingJobName=training)

    processing = unique("audit-proc")
    sagemaker.create_processing_job(
        ProcessingJobName=processing, RoleArn=ROLE, AppSpecification={"ImageUri": "audit-no-such-image:1"},
        ProcessingResources={"ClusterConfig": resources},
        ProcessingInputs=[{"InputName": "in", "S3Input": {"S3Uri": f"s3://{bucket}/in", "LocalPath":
                          "/opt/ml/processing/in", "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{bucket}/o", "LocalPath": "/opt/ml/processing/o", "S3UploadMode": "EndOfJob"}}]})
    audit(sagemaker, "DescribeProcessingJob", ProcessingJobName=processing)

    tuning = unique("audit-tune")[:32]
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"},
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "2"}]}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "audit-no-such-image:1", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "score", "Regex": "score=(.*)"}]},
            "RoleArn": ROLE, "OutputDataConfig": output, "StoppingCondition": {"MaxRuntimeInSeconds": 60},
            "HyperParameterTuningResourceConfig": resources})
    audit(sagemaker, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName=tuning)

    model = unique("audit-model")
    sagemaker.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    audit(sagemaker, "DescribeModel", ModelName=model)

    group = unique("audit-group")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    audit(sagemaker, "DescribeModelPackageGroup", ModelPackageGroupName=group)
    versioned = sagemaker.create_model_package(ModelPackageGroupName=group,
                                               InferenceSpecification=INFERENCE)["ModelPackageArn"]
    described = audit(sagemaker, "DescribeModelPackage", NOT_RETURNED[("DescribeModelPackage", "versioned")],
                      ModelPackageName=versioned)
    assert described["ModelApprovalStatus"] == "PendingManualApproval" and "ModelPackageName" not in described

    pipeline = unique("AuditPipe")
    definition = {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail",
                                                       "Arguments": {"ErrorMessage": "audit"}}]}
    sagemaker.create_pipeline(PipelineName=pipeline, RoleArn=ROLE, PipelineDefinition=json.dumps(definition))
    audit(sagemaker, "DescribePipeline", PipelineName=pipeline)
    execution = sagemaker.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
    audit(sagemaker, "DescribePipelineExecution", PipelineExecutionArn=execution)

    experiment = unique("audit-exp")
    sagemaker.create_experiment(ExperimentName=experiment)
    audit(sagemaker, "DescribeExperiment", ExperimentName=experiment)
    trial = unique("audit-trial")
    sagemaker.create_trial(TrialName=trial, ExperimentName=experiment)
    audit(sagemaker, "DescribeTrial", TrialName=trial)
    component = unique("audit-tc")
    sagemaker.create_trial_component(TrialComponentName=component)
    audit(sagemaker, "DescribeTrialComponent", TrialComponentName=component)
    artifact = sagemaker.create_artifact(ArtifactType="DataSet", Source={"SourceUri": f"s3://{bucket}/data"})
    audit(sagemaker, "DescribeArtifact", ArtifactArn=artifact["ArtifactArn"])

    # The same after the jobs ended (they fail: their images do not exist).
    def ended() -> tuple[str, str, str] | None:
        statuses = (sagemaker.describe_training_job(TrainingJobName=training)["TrainingJobStatus"],
                    sagemaker.describe_processing_job(ProcessingJobName=processing)["ProcessingJobStatus"],
                    sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionStatus"])
        return None if {"InProgress", "Executing"} & set(statuses) else statuses
    assert wait_until(ended, timeout=120, what="the jobs and the execution ended") == ("Failed", "Failed", "Failed")
    audit(sagemaker, "DescribeTrainingJob", TrainingJobName=training)
    audit(sagemaker, "DescribeProcessingJob", ProcessingJobName=processing)
    audit(sagemaker, "DescribePipelineExecution", PipelineExecutionArn=execution)


@pytest.mark.parametrize("operation", sorted(SDK_READS))
def test_audited_operations_exist_in_botocore(operation):
    assert MODEL.operation_model(operation).output_shape is not None
