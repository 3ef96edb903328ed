"""Pipeline definitions for tests, built as the SDK emits them (pipeline_definitions.md §1)."""

from __future__ import annotations

import json

from emulator.testing.waiting import wait_for_status, wait_until
from tests.jobhelpers import BYO_IMAGE, ROLE


def processing_step(name: str, script: str, *, outputs=(), inputs=(), depends_on=(), environment=None,
                    **extra) -> dict:
    args = {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": BYO_IMAGE, "ContainerEntrypoint": ["sh", "-c", script]},
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},  # bounds a job whose test failed mid-way
    }
    if environment:
        args["Environment"] = environment
    if inputs:
        args["ProcessingInputs"] = [
            {"InputName": f"in{i}", "AppManaged": False, "S3Input": {
                "S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}
            for i, (uri, path) in enumerate(inputs)]
    if outputs:
        args["ProcessingOutputConfig"] = {"Outputs": [
            {"OutputName": name_, "AppManaged": False, "S3Output": {"S3Uri": uri, "LocalPath": path,
                                                                   "S3UploadMode": "EndOfJob"}}
            for name_, uri, path in outputs]}
    step = {"Name": name, "Type": "Processing", "Arguments": args, **extra}
    if depends_on:
        step["DependsOn"] = list(depends_on)
    return step


def training_step(name: str, script: str, output: str, **extra) -> dict:
    return {"Name": name, "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": BYO_IMAGE, "TrainingInputMode": "File",
                                   "ContainerEntrypoint": ["sh", "-c", script]},
        "OutputDataConfig": {"S3OutputPath": output},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceCount": 1, "InstanceType": "ml.m5.large"},
        "RoleArn": ROLE, **extra.pop("arguments", {})}, **extra}


def definition(steps: list[dict], parameters: list[dict] = (), experiment: bool = False) -> str:
    body = {"Version": "2020-12-01", "Metadata": {}, "Parameters": list(parameters), "Steps": steps,
            "PipelineExperimentConfig": {"ExperimentName": {"Get": "Execution.PipelineName"},
                                         "TrialName": {"Get": "Execution.PipelineExecutionId"}}
            if experiment else None}
    return json.dumps(body)


def wait_execution(sagemaker, arn: str, timeout: float = 300) -> dict:
    return wait_for_status(lambda: sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn),
                           "PipelineExecutionStatus", timeout=timeout, statuses=("Succeeded", "Failed", "Stopped"))


def wait_step_status(sagemaker, arn: str, step: str, status: str, timeout: float = 120) -> dict:
    """Until step `step` of execution `arn` has StepStatus `status`; returns the step."""
    return wait_until(lambda: (found := steps_by_name(sagemaker, arn).get(step, {})).get("StepStatus") == status
                      and found, timeout=timeout, what=f"step {step} {status}")


def steps_by_name(sagemaker, arn: str) -> dict[str, dict]:
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {s["StepName"]: s for s in steps}
