"""Every ARN the emulator hands out is built here, and every ARN it is handed is parsed here (one
place, one format)."""

from __future__ import annotations

from dataclasses import dataclass

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
    "DataQualityJobDefinition": "data-quality-job-definition",
    "ModelQualityJobDefinition": "model-quality-job-definition",
    "MonitoringSchedule": "monitoring-schedule",
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


@dataclass(frozen=True)
class Arn:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`; `resource` keeps its own colons."""
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        """`training-job` of `training-job/NAME`, `log-group` of `log-group:NAME:*`."""
        for i, char in enumerate(self.resource):
            if char in "/:":
                return self.resource[:i]
        return ""

    @property
    def resource_path(self) -> str:
        """What follows the resource type: `NAME` of `training-job/NAME`, `p/execution/id` of a pipeline
        execution's `pipeline/p/execution/id`."""
        return self.resource[len(self.resource_type) + 1:] if self.resource_type else self.resource


def parse_arn(arn: str) -> Arn | None:
    """The parts of an ARN, or None when `arn` is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(*parts[1:])


def region_of(arn: str) -> str:
    """The region of an ARN the emulator made (a resource's own ARN)."""
    parsed = parse_arn(arn)
    if parsed is None:
        raise ValueError(f"not an ARN: {arn}")
    return parsed.region


def arn_resource_name(arn: str) -> str:
    """The last path segment of an ARN's resource part (`.../training-job/NAME` -> NAME)."""
    return arn.rsplit("/", 1)[-1]


def alarm_arn(name: str, region: str, account: str) -> str:
    return f"arn:{partition(region)}:cloudwatch:{region}:{account}:alarm:{name}"


def event_bus_arn(bus: str, region: str, account: str) -> str:
    return f"arn:{partition(region)}:events:{region}:{account}:event-bus/{bus}"


def event_rule_arn(rule: str, bus: str, region: str, account: str) -> str:
    # Rules on the default bus leave the bus out of their ARN (EventBridge API reference, PutRule).
    path = rule if bus == "default" else f"{bus}/{rule}"
    return f"arn:{partition(region)}:events:{region}:{account}:rule/{path}"
