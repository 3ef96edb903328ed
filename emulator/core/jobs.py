"""Training, processing and transform job records and their state machine.

Create* only records the desired job (status InProgress); the write wakes the job controller
(emulator.runtime.controllers.jobs). Every later transition goes through the writers below, so there
is one place where statuses, secondary statuses, times and messages are set, and they match AWS:

  InProgress -> Completed | Failed | Stopping -> Stopped
  SecondaryStatus: Starting -> Downloading -> Training -> Uploading -> Completed (training only)

A transform job runs the model's serving containers and feeds them its input (the job controller
carries that out with the transform contract); its record keeps a snapshot of the model (`_model`),
which may be deleted while the job runs.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from emulator.aws.errors import ResourceInUse, ResourceLimitExceeded, ValidationException
from emulator.core import arns, file_inputs
from emulator.core.container_paths import check_processing_paths, check_training_paths
from emulator.core.events import sagemaker as state_events
from emulator.core.listing import ListFields, list_page, pick
from emulator.core.services import Services

TERMINAL = ("Completed", "Failed", "Stopped")

# Observed on real jobs (container_contracts.md §1.6).
SECONDARY_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading the training image",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Job stopped because the maximum allowed runtime was exceeded",
    "Failed": "Training job failed",
}


@dataclass(frozen=True)
class JobKind:
    kind: str              # record kind and Search resource name
    prefix: str            # TrainingJob -> TrainingJobName / TrainingJobArn / TrainingJobStatus
    log_group: str
    summary_keys: tuple[str, ...]
    end_field: str
    start_field: str       # set when the job's containers were started (TrainingStartTime, ...)

    @property
    def name_field(self) -> str:
        return f"{self.prefix}Name"

    @property
    def arn_field(self) -> str:
        return f"{self.prefix}Arn"

    @property
    def status_field(self) -> str:
        return f"{self.prefix}Status"

    @property
    def noun(self) -> str:
        return self.kind.removesuffix("Job").lower() + " job"


TRAINING = JobKind("TrainingJob", "TrainingJob", "/aws/sagemaker/TrainingJobs",
                   ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime",
                    "TrainingJobStatus", "SecondaryStatus", "WarmPoolStatus"),
                   "TrainingEndTime", "TrainingStartTime")
PROCESSING = JobKind("ProcessingJob", "ProcessingJob", "/aws/sagemaker/ProcessingJobs",
                     ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime",
                      "LastModifiedTime", "ProcessingJobStatus", "FailureReason", "ExitMessage"),
                     "ProcessingEndTime", "ProcessingStartTime")
TRANSFORM = JobKind("TransformJob", "TransformJob", "/aws/sagemaker/TransformJobs",
                    ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime", "LastModifiedTime",
                     "TransformJobStatus", "FailureReason"),
                    "TransformEndTime", "TransformStartTime")
KINDS = {k.kind: k for k in (TRAINING, PROCESSING, TRANSFORM)}


def _now() -> float:
    return time.time()


# --- create / read --------------------------------------------------------------------------

def create_training_job(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["TrainingJobName"]
    arn = arns.sagemaker_arn("TrainingJob", name, region, services.account_id)
    now = _now()
    body = copy.deepcopy({k: v for k, v in req.items() if k != "Tags"})
    spec = body.get("AlgorithmSpecification") or {}
    if not spec.get("TrainingImage") and not spec.get("AlgorithmName"):
        raise ValidationException("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
    if not body.get("ResourceConfig"):
        # The model leaves it optional for serverless jobs, which the emulator does not run.
        raise ValidationException("ResourceConfig is required: the emulator runs training jobs on instances.")
    check_training_paths(body)
    check_file_inputs(services, [c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
                                 for c in body.get("InputDataConfig", [])])
    check_instance_quota(services, TRAINING, body["ResourceConfig"])
    for channel in body.get("InputDataConfig", []):
        channel.setdefault("CompressionType", "None")
        channel.setdefault("RecordWrapperType", "None")
        s3 = channel.get("DataSource", {}).get("S3DataSource")
        if s3:
            s3.setdefault("S3DataDistributionType", "FullyReplicated")
    names = [c["ChannelName"] for c in body.get("InputDataConfig", [])]
    if len(names) != len(set(names)):
        raise ValidationException("Channel names must be unique within InputDataConfig.")
    body.update({
        "TrainingJobArn": arn,
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Starting",
        "CreationTime": now,
        "LastModifiedTime": now,
        "HyperParameters": body.get("HyperParameters", {}),
        "EnableNetworkIsolation": bool(body.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": bool(body.get("EnableInterContainerTrafficEncryption", False)),
        "EnableManagedSpotTraining": bool(body.get("EnableManagedSpotTraining", False)),
        "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": now,
                                        "StatusMessage": SECONDARY_MESSAGES["Starting"]}],
        "ModelArtifacts": {"S3ModelArtifacts": _model_artifacts_uri(body, name)},
    })
    if body["OutputDataConfig"].get("CompressionType") is None:
        body["OutputDataConfig"]["CompressionType"] = "GZIP"
    # AWS answers an unset key with "" (Estimator.attach reads OutputDataConfig["KmsKeyId"]).
    body["OutputDataConfig"].setdefault("KmsKeyId", "")
    _insert(services, TRAINING, name, arn, body, req.get("Tags"))
    return body


def create_processing_job(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req["ProcessingJobName"]
    arn = arns.sagemaker_arn("ProcessingJob", name, region, services.account_id)
    now = _now()
    body = copy.deepcopy({k: v for k, v in req.items() if k != "Tags"})
    check_processing_paths(body)
    check_file_inputs(services, [(item.get("S3Input") or {}).get("S3Uri") for item in body.get("ProcessingInputs", [])])
    check_instance_quota(services, PROCESSING, body["ProcessingResources"]["ClusterConfig"])
    for item in body.get("ProcessingInputs", []):
        s3 = item.get("S3Input")
        if s3:
            s3.setdefault("S3DataDistributionType", "FullyReplicated")
        item.setdefault("AppManaged", False)
    for out in body.get("ProcessingOutputConfig", {}).get("Outputs", []):
        out.setdefault("AppManaged", False)
    # A job without StoppingCondition is described with the 24 h default it runs under
    # (ProcessingStoppingCondition.MaxRuntimeInSeconds: "The default value is 86400").
    body.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": 86400})
    body.update({"ProcessingJobArn": arn, "ProcessingJobStatus": "InProgress", "CreationTime": now,
                 "LastModifiedTime": now})
    _insert(services, PROCESSING, name, arn, body, req.get("Tags"))
    return body


def check_file_inputs(services: Services, uris: list[str | None]) -> None:
    for uri in uris:
        if uri and uri.startswith("file://"):
            try:
                file_inputs.resolve(uri, services.settings.file_roots, must_exist=False,
                                   sockets=services.settings.engine_sockets)
            except file_inputs.FileInputRefused as refused:
                raise ValidationException(str(refused)) from None


def check_instance_quota(services: Services, kind: JobKind, resources: dict[str, Any]) -> None:
    """Every instance is a container on this machine: the jobs that are running may hold at most
    SAGEMAKER_EMULATOR_MAX_INSTANCES of them. Worded as AWS words its per-instance-type quotas."""
    count = resources.get("InstanceCount", 1)
    if count < 1:
        raise ValidationException(f"Value '{count}' at 'instanceCount' failed to satisfy constraint: Member must have "
                                  "value greater than or equal to 1")
    limit = services.settings.max_instances
    in_use = sum(_instances(k, job) for k, job in active_jobs(services))
    if in_use + count > limit:
        usage = f"{kind.noun} usage"
        raise ResourceLimitExceeded(
            f"The account-level service limit '{resources.get('InstanceType', 'instance')} for {usage}' is {limit} "
            f"Instances, with current utilization of {in_use} Instances and a request delta of {count} Instances. "
            "Please use AWS Service Quotas to request an increase for this quota (here: "
            "SAGEMAKER_EMULATOR_MAX_INSTANCES).")


def _instances(kind: JobKind, job: dict[str, Any]) -> int:
    if kind is TRAINING:
        resources = job.get("ResourceConfig")
    elif kind is TRANSFORM:
        resources = job.get("TransformResources")
    else:
        resources = job.get("ProcessingResources", {}).get("ClusterConfig")
    return int((resources or {}).get("InstanceCount", 1) or 0)


def create_transform_job(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    """CreateTransformJob: the request with AWS's defaults filled in, and the model's containers
    (`_model`) as they are now."""
    from emulator.core import models
    name = req["TransformJobName"]
    arn = arns.sagemaker_arn("TransformJob", name, region, services.account_id)
    model = models.get_model(services, region, req["ModelName"])
    body = copy.deepcopy({k: v for k, v in req.items() if k != "Tags"})
    transform_input = body["TransformInput"]
    transform_input.setdefault("CompressionType", "None")
    transform_input.setdefault("SplitType", "None")
    s3 = transform_input["DataSource"]["S3DataSource"]
    if not s3["S3Uri"].startswith("s3://"):
        raise ValidationException(f"Invalid S3Uri {s3['S3Uri']}: it must start with s3://.")
    if body.get("BatchStrategy") and transform_input["SplitType"] == "None" \
            and body["BatchStrategy"] == "MultiRecord":
        # DG (batch-transform.md): "To use MultiRecord, SplitType must be set" - AWS refuses the pair.
        raise ValidationException("BatchStrategy MultiRecord requires a SplitType other than None.")
    payload, concurrent = body.get("MaxPayloadInMB"), body.get("MaxConcurrentTransforms")
    if payload and concurrent and payload * concurrent > 100:
        # API reference: "the value of (MaxConcurrentTransforms * MaxPayloadInMB) must not exceed 100 MB".
        raise ValidationException(f"MaxConcurrentTransforms ({concurrent}) * MaxPayloadInMB ({payload}) must not "
                                  "exceed 100 MB.")
    if len(body.get("Environment") or {}) > 16:
        raise ValidationException("Environment can contain at most 16 entries.")
    check_instance_quota(services, TRANSFORM, body["TransformResources"])
    body["TransformOutput"].setdefault("AssembleWith", "None")
    body.setdefault("DataProcessing", {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"})
    now = _now()
    body.update({"TransformJobArn": arn, "TransformJobStatus": "InProgress", "CreationTime": now,
                 "LastModifiedTime": now, "ModelClientConfig": {"InvocationsTimeoutInSeconds": 600,
                                                                "InvocationsMaxRetries": 3,
                                                                **(body.get("ModelClientConfig") or {})},
                 "_model": {k: model[k] for k in models.CONTAINER_FIELDS if k in model}})
    _insert(services, TRANSFORM, name, arn, body, req.get("Tags"))
    return body


def _insert(services: Services, kind: JobKind, name: str, arn: str, body: dict, tags: list | None) -> None:
    def conflict() -> Exception:
        # AWS: "Job name must be unique within an AWS account and region, and a job with this name already exists"
        return ResourceInUse(f"Job name must be unique within an AWS account and region, and a job with this name "
                             f"already exists ({arn})")
    services.records.insert(kind.kind, name, arn, body, conflict)
    if tags:
        services.records.add_tags(arn, tags)
    state_events.status_changed(services, kind.kind, body, None)
    try:
        from emulator.core import experiments
        experiments.on_job_created(services, arns.region_of(arn), kind.kind, body)
    except ImportError:
        pass


def _model_artifacts_uri(body: dict, name: str) -> str:
    base = body["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{name}/output/model.tar.gz"


def get_job(services: Services, kind: JobKind, name: str) -> dict[str, Any] | None:
    return services.records.get(kind.kind, name)


def describe_job(services: Services, kind: JobKind, name: str) -> dict[str, Any]:
    job = get_job(services, kind, name)
    if job is None:
        # AWS answers DescribeTrainingJob/DescribeProcessingJob of a missing name with ValidationException.
        raise ValidationException("Requested resource not found.")
    return job


def list_jobs(services: Services, kind: JobKind, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    fields = ListFields(name=kind.name_field, status=kind.status_field)
    page, token = list_page(services.records, kind.kind, req, fields)
    return [pick(job, kind.summary_keys) for job in page], token


# --- transitions (the one status writer) ----------------------------------------------------

def update_job(services: Services, kind: JobKind, name: str, change) -> dict[str, Any] | None:
    previous: list[str] = []

    def apply(body: dict) -> None:
        previous.append(body.get(kind.status_field))
        change(body)
        body["LastModifiedTime"] = _now()
    job = services.records.update(kind.kind, name, apply)
    if job is not None:
        state_events.status_changed(services, kind.kind, job, previous[-1])
    return job


def set_secondary_status(services: Services, name: str, status: str, message: str | None = None) -> None:
    """Record a training job's SecondaryStatus transition (ending the previous one)."""
    def change(body: dict) -> None:
        if body["TrainingJobStatus"] in TERMINAL or body.get("SecondaryStatus") == status:
            return
        now = _now()
        transitions = body.setdefault("SecondaryStatusTransitions", [])
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now,
                            "StatusMessage": message or SECONDARY_MESSAGES.get(status, status)})
        body["SecondaryStatus"] = status
        if status == "Training" and "TrainingStartTime" not in body:
            body["TrainingStartTime"] = now
    update_job(services, TRAINING, name, change)


def set_status_message(services: Services, kind: JobKind, name: str, message: str) -> None:
    """Say what a training job's current SecondaryStatus is doing, e.g. "Building local image
    sagemaker-emulator/xgboost (step 3/7)" while Downloading (what `logs_for_job` and the console show)."""
    if kind is not TRAINING:
        return  # a processing job's description has no status message

    def change(body: dict) -> None:
        transitions = body.get("SecondaryStatusTransitions")
        if body["TrainingJobStatus"] == "InProgress" and transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["StatusMessage"] = message[:1024]
    update_job(services, TRAINING, name, change)


def mark_downloading(services: Services, kind: JobKind, name: str) -> None:
    """The job's image and data are being fetched (a training job's Downloading phase)."""
    if kind is TRAINING:
        set_secondary_status(services, name, "Downloading")


def mark_started(services: Services, kind: JobKind, name: str) -> None:
    """The job's containers run."""
    if kind is TRAINING:
        set_secondary_status(services, name, "Training")
    else:
        update_job(services, kind, name, lambda b: b.setdefault(kind.start_field, _now()))


def mark_uploading(services: Services, kind: JobKind, name: str) -> None:
    """The job's outputs are being stored (a training job's Uploading phase)."""
    if kind is TRAINING:
        set_secondary_status(services, name, "Uploading")


def started(kind: JobKind, body: dict[str, Any]) -> bool:
    """Whether the job's containers were started (mark_started was recorded)."""
    return kind.start_field in body


def request_stop(services: Services, kind: JobKind, name: str) -> dict[str, Any]:
    job = describe_job(services, kind, name)
    if job[kind.status_field] != "InProgress":
        raise ValidationException(f"The request was rejected because the {kind.noun} is in status "
                                  f"{job[kind.status_field]}.")

    def change(body: dict) -> None:
        if body[kind.status_field] == "InProgress":
            body[kind.status_field] = "Stopping"
    update_job(services, kind, name, change)
    if kind is TRAINING:
        _force_secondary(services, name, "Stopping")
    return job


def _force_secondary(services: Services, name: str, status: str) -> None:
    def change(body: dict) -> None:
        now = _now()
        transitions = body.setdefault("SecondaryStatusTransitions", [])
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now,
                            "StatusMessage": SECONDARY_MESSAGES.get(status, status)})
        body["SecondaryStatus"] = status
    update_job(services, TRAINING, name, change)


def finish_job(services: Services, kind: JobKind, name: str, status: str, *,
               failure_reason: str | None = None, exit_message: str | None = None,
               secondary: str | None = None, final_metrics: list[dict] | None = None) -> dict[str, Any] | None:
    """Move a job to a terminal status: Completed, Failed or Stopped."""
    assert status in TERMINAL

    def change(body: dict) -> None:
        if body[kind.status_field] in TERMINAL:
            return
        now = _now()
        body[kind.status_field] = status
        body[kind.end_field] = now
        if failure_reason:
            body["FailureReason"] = failure_reason[:1024]
        if exit_message:
            body["ExitMessage"] = exit_message[:1024]
        if kind is TRAINING:
            start = body.get("TrainingStartTime") or body["CreationTime"]
            body.setdefault("TrainingStartTime", start)
            seconds = max(1, int(round(now - start)))
            body["TrainingTimeInSeconds"] = seconds
            body["BillableTimeInSeconds"] = seconds
            if final_metrics is not None:
                body["FinalMetricDataList"] = final_metrics
            final = secondary or status
            transitions = body.setdefault("SecondaryStatusTransitions", [])
            if transitions and "EndTime" not in transitions[-1]:
                transitions[-1]["EndTime"] = now
            message = SECONDARY_MESSAGES.get(final, final)
            if final == "Failed" and failure_reason:
                message = failure_reason[:1024]
            transitions.append({"Status": final, "StartTime": now, "EndTime": now, "StatusMessage": message})
            body["SecondaryStatus"] = final
            # ModelArtifacts.S3ModelArtifacts stays, even on a failed job: botocore's
            # DescribeTrainingJobResponse requires both, and the SDK reads them (HyperparameterTuner
            # reads estimator.model_data of the estimator's last job, whatever its status).
        else:
            body.setdefault(kind.start_field, body["CreationTime"])
    job = update_job(services, kind, name, change)
    if job is not None:
        try:
            from emulator.core import experiments
            experiments.on_job_finished(services, arns.region_of(job[kind.arn_field]), kind.kind, job)
        except ImportError:
            pass
    return job


def active_jobs(services: Services) -> list[tuple[JobKind, dict[str, Any]]]:
    """Jobs that are not terminal: what the job controller looks at after a restart."""
    out = []
    for kind in KINDS.values():
        for job in services.records.list_where(kind.kind, kind.status_field, exclude=TERMINAL):
            out.append((kind, job))
    return out
