"""Monitoring executions: one run of a schedule, its processing jobs and its status.

An execution is recorded (`Pending`) before any of its processing jobs exists, under a name made of its
schedule and scheduled time, with its jobs' names already chosen: a scheduler that restarts finds the
record and creates only what is missing, and recording the same scheduled time twice is refused by the
store. `advance` then does the next step (emulator.runtime.controllers.schedules calls it on every change
of the execution or of its jobs):

- data quality: one job, `model-monitoring-<yyyymmddHHMM>-<24 hex>`, the analyzer over the captured hours;
- model quality: `groundtruth-merge-<suffix>` joins captured requests with uploaded ground truth, then
  `model-quality-monitoring-<suffix>` analyses the merged records (the two jobs a real run shows,
  inference_and_monitoring.md §4.3).

The captured data of the window ([scheduled + start offset, scheduled + end offset), an hour before the
scheduled time by default) is staged as the hour folders `<capture>/<endpoint>/<variant>/yyyy/mm/dd/HH`
that hold objects, under the EndpointInput's LocalPath; the analyzer reads only records inside the window
(`start_time`/`end_time`). No captured object in the window: the execution fails with "Job inputs had no
data" and starts no job (sagemaker-python-sdk#2634). Reports go to
`<MonitoringOutputs[0].S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/HH` of the scheduled time, which the SDK's
MonitoringExecution reads back through DescribeProcessingJob. The status follows the analyzer job:
Completed with ExitMessage `CompletedWithViolations: ...` → CompletedWithViolations, else Completed;
Failed/Stopped as the job.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import time
from typing import Any

from emulator.aws.errors import AwsError, ResourceInUse
from emulator.aws.serialize import to_epoch
from emulator.core import jobs
from emulator.core.arns import region_of, sagemaker_arn
from emulator.core.endpoints import find_endpoint
from emulator.core.listing import ListFields, list_page, pick
from emulator.core.monitoring import schedules
from emulator.core.monitoring.cron import HOUR
from emulator.core.monitoring.definitions import MODEL_QUALITY, JobSpec
from emulator.core.objectstore.uris import S3UriError, parse_s3_uri
from emulator.core.services import Services

KIND = "MonitoringExecution"
STATUS = "MonitoringExecutionStatus"
TERMINAL = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
SUMMARY = ("MonitoringScheduleName", "ScheduledTime", "CreationTime", "LastModifiedTime", "MonitoringExecutionStatus",
           "ProcessingJobArn", "EndpointName", "FailureReason", "MonitoringJobDefinitionName", "MonitoringType")
NO_DATA = "Job inputs had no data"
MERGE_IMAGE = "sagemaker-model-monitor-groundtruth-merger"
CAPTURE_FORMAT = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
MERGED_FORMAT = {"sagemakerMergeJson": {"captureIndexNames": ["endpointOutput"]}}
MERGE_INPUT, GROUND_TRUTH, PROCESSING_OUTPUT = "/opt/ml/processing/input_data", "/opt/ml/processing/groundtruth", \
    "/opt/ml/processing/output"
BASELINE = {"constraints": "/opt/ml/processing/baseline/constraints", "statistics": "/opt/ml/processing/baseline/stats"}
SCRIPTS = {"record_preprocessor_script": "/opt/ml/processing/code/preprocessing",
           "post_analytics_processor_script": "/opt/ml/processing/code/postprocessing"}


# --- records ---------------------------------------------------------------------------------------

def record(services: Services, schedule: dict[str, Any], scheduled: float, window: tuple[float, float]) -> \
        dict[str, Any] | None:
    """Record a run of `schedule` at `scheduled` (its clock) analysing `window` (wall times); None when that
    run was recorded already."""
    name = f"{schedule[schedules.NAME]}/{round(scheduled * 1000)}"
    digest = hashlib.sha256(f"{schedule['MonitoringScheduleArn']}/{name}".encode()).hexdigest()[:24]
    suffix = f"{time.strftime('%Y%m%d%H%M', time.gmtime(scheduled))}-{digest}"
    quality = schedule["MonitoringType"] == MODEL_QUALITY
    now = time.time()
    body = {"MonitoringScheduleName": schedule[schedules.NAME], "ScheduledTime": scheduled, "CreationTime": now,
            "LastModifiedTime": now, STATUS: "Pending", "EndpointName": schedule["EndpointName"],
            "MonitoringType": schedule["MonitoringType"], "_name": name, "_window": list(window),
            "_schedule_arn": schedule["MonitoringScheduleArn"], "_config": schedule["MonitoringScheduleConfig"],
            "_jobs": {"analysis": f"{'model-quality-monitoring' if quality else 'model-monitoring'}-{suffix}",
                      **({"merge": f"groundtruth-merge-{suffix}"} if quality else {})}}
    if schedule.get("MonitoringJobDefinitionName"):
        body["MonitoringJobDefinitionName"] = schedule["MonitoringJobDefinitionName"]
    try:
        services.records.insert(KIND, name, f"{schedule['MonitoringScheduleArn']}/execution/{name.split('/')[-1]}",
                                body, lambda: ResourceInUse(name))
    except ResourceInUse:
        return None
    return body


def get(services: Services, name: str) -> dict[str, Any] | None:
    return services.records.get(KIND, name)


def unfinished(services: Services) -> list[str]:
    return [body["_name"] for body in services.records.list_where(KIND, STATUS, exclude=TERMINAL)]


def latest(services: Services, schedule_name: str) -> dict[str, Any] | None:
    """LastMonitoringExecutionSummary of DescribeMonitoringSchedule."""
    page, _ = list_page(services.records, KIND, {"SortBy": "ScheduledTime", "MaxResults": 1},
                        ListFields(name="MonitoringScheduleName", status=STATUS),
                        where_members=[("MonitoringScheduleName", "=", schedule_name)],
                        sort_keys={"ScheduledTime": "ScheduledTime"})
    return pick(page[0], SUMMARY) if page else None


def list_executions(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    where: list[tuple[str, str, Any]] = []
    for key, member in (("MonitoringScheduleName", "MonitoringScheduleName"), ("EndpointName", "EndpointName"),
                        ("MonitoringJobDefinitionName", "MonitoringJobDefinitionName"),
                        ("MonitoringTypeEquals", "MonitoringType")):
        if req.get(key):
            where.append((member, "=", req[key]))
    for key, op in (("ScheduledTimeBefore", "<"), ("ScheduledTimeAfter", ">")):
        if req.get(key) is not None:
            where.append(("ScheduledTime", op, to_epoch(req[key])))
    page, token = list_page(services.records, KIND, req, ListFields(name="MonitoringScheduleName", status=STATUS),
                            where_members=where,
                            sort_keys={"ScheduledTime": "ScheduledTime"})
    return [pick(e, SUMMARY) for e in page], token


def _write(services: Services, name: str, change) -> dict[str, Any] | None:
    def apply(body: dict[str, Any]) -> None:
        change(body)
        body["LastModifiedTime"] = time.time()
    return services.records.update(KIND, name, apply)


def finish(services: Services, name: str, status: str, reason: str | None = None) -> None:
    def change(body: dict[str, Any]) -> None:
        if body[STATUS] not in TERMINAL:
            body[STATUS] = status
            if reason:
                body["FailureReason"] = reason[:1024]
    _write(services, name, change)


# --- running -----------------------------------------------------------------------------------------

def advance(services: Services, name: str) -> str | None:
    """Do the execution's next step; the processing job it now waits for, or None (finished, or gone)."""
    body = get(services, name)
    if body is None or body[STATUS] in TERMINAL:
        return None
    names = body["_jobs"]
    if "merge" in names:
        merge = jobs.get_job(services, jobs.PROCESSING, names["merge"])
        if merge is None:
            return _start(services, body, "merge")
        if merge["ProcessingJobStatus"] not in jobs.TERMINAL:
            return names["merge"]
        if merge["ProcessingJobStatus"] != "Completed":
            finish(services, name, "Failed", f"Ground truth merge job {names['merge']} "
                   f"{merge['ProcessingJobStatus'].lower()}: {merge.get('FailureReason') or ''}".rstrip(": "))
            return None
    analysis = jobs.get_job(services, jobs.PROCESSING, names["analysis"])
    if analysis is None:
        return _start(services, body, "analysis")
    status = analysis["ProcessingJobStatus"]
    if status not in jobs.TERMINAL:
        return names["analysis"]
    if status == "Completed":
        violations = (analysis.get("ExitMessage") or "").startswith("CompletedWithViolations")
        finish(services, name, "CompletedWithViolations" if violations else "Completed")
    elif status == "Stopped":
        finish(services, name, "Stopped")
    else:
        finish(services, name, "Failed", analysis.get("FailureReason") or "The monitoring job failed.")
    return None


def _start(services: Services, body: dict[str, Any], step: str) -> str | None:
    name = body["_name"]
    schedule = {"MonitoringScheduleConfig": body["_config"], "MonitoringType": body["MonitoringType"]}
    try:
        spec = schedules.job_spec(services, schedule)
        request = (_merge_request if step == "merge" else _analysis_request)(services, body, spec)
    except AwsError as err:
        finish(services, name, "Failed", err.message)
        return None
    if request is None:
        finish(services, name, "Failed", NO_DATA)
        return None
    try:
        job = jobs.create_processing_job(services, region_of(body["_schedule_arn"]), request)
    except ResourceInUse:  # created by an earlier attempt that did not get to record it
        job = jobs.get_job(services, jobs.PROCESSING, request["ProcessingJobName"])
    except AwsError as err:
        finish(services, name, "Failed", err.message)
        return None

    def change(record: dict[str, Any]) -> None:
        record[STATUS] = "InProgress"
        if step == "analysis":
            record["ProcessingJobArn"] = job["ProcessingJobArn"]
    _write(services, name, change)
    return request["ProcessingJobName"]


def job_arn(services: Services, body: dict[str, Any]) -> str:
    """The processing job an execution runs now (the merge job first, for model quality)."""
    names = body["_jobs"]
    step = "merge" if "merge" in names and jobs.get_job(services, jobs.PROCESSING, names["analysis"]) is None \
        else "analysis"
    return sagemaker_arn("ProcessingJob", names[step], region_of(body["_schedule_arn"]), services.account_id)


# --- the processing job requests ------------------------------------------------------------------------

def _hours(window: tuple[float, float]) -> list[float]:
    start, end = window
    hour = (start // HOUR) * HOUR
    out = []
    while hour < end:
        out.append(hour)
        hour += HOUR
    return out


def _hour_folders(services: Services, uri: str, window: tuple[float, float], levels: int = 2) -> list[str]:
    """Relative paths `<a>/<b>/yyyy/mm/dd/HH` (`levels` folders above the hour: endpoint and variant) under
    `uri` that hold objects in the window's hours."""
    try:
        bucket, key = parse_s3_uri(uri.rstrip("/") + "/")
    except S3UriError:
        return []
    store = services.objects
    if not store.bucket_exists(bucket):
        return []
    parents = [""]
    for _ in range(levels):
        parents = [p for parent in parents
                   for p in (c[len(key):] for c in store.list_page(bucket, prefix=key + parent, delimiter="/",
                                                                    max_keys=1000).common_prefixes)]
    out = []
    for parent in parents:
        for hour in _hours(window):
            folder = parent + time.strftime("%Y/%m/%d/%H", time.gmtime(hour))
            if store.list_page(bucket, prefix=f"{key}{folder}/", max_keys=1).objects:
                out.append(folder)
    return out


def _folder_inputs(base_uri: str, folders: list[str], local_root: str, label: str) -> list[dict[str, Any]]:
    return [{"InputName": f"{label}-{i}", "AppManaged": False,
             "S3Input": {"S3Uri": f"{base_uri.rstrip('/')}/{folder}", "LocalPath": f"{local_root.rstrip('/')}/{folder}",
                         "S3DataType": "S3Prefix", "S3InputMode": "File",
                         "S3DataDistributionType": "FullyReplicated"}}
            for i, folder in enumerate(folders, start=1)]


def _file_input(name: str, uri: str, local: str) -> dict[str, Any]:
    return {"InputName": name, "AppManaged": False,
            "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated"}}


def _capture_folders(services: Services, body: dict[str, Any]) -> tuple[str, list[str]]:
    endpoint = find_endpoint(services, body["EndpointName"])
    destination = ((endpoint or {}).get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    if not destination:
        return "", []
    base = f"{destination.rstrip('/')}/{body['EndpointName']}"
    folders = _hour_folders(services, base, tuple(body["_window"]), levels=1)
    return base, [f"{body['EndpointName']}/{f}" for f in folders]


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _base_request(body: dict[str, Any], spec: JobSpec, job: str, image: str, environment: dict[str, str],
                  inputs: list[dict], output_uri: str, output_local: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ProcessingJobName": job, "RoleArn": spec.role,
        "ProcessingResources": {"ClusterConfig": spec.cluster},
        "AppSpecification": {"ImageUri": image}, "Environment": environment, "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "AppManaged": False, "S3Output": {
            "S3Uri": output_uri, "LocalPath": output_local, "S3UploadMode": "Continuous"}}]},
        "StoppingCondition": spec.stopping or {"MaxRuntimeInSeconds": 3600}}
    if spec.output_kms_key:
        request["ProcessingOutputConfig"]["KmsKeyId"] = spec.output_kms_key
    if spec.network:
        request["NetworkConfig"] = spec.network
    return request


def _window_environment(body: dict[str, Any]) -> dict[str, str]:
    start, end = body["_window"]
    return {"sagemaker_endpoint_name": body["EndpointName"],
            "sagemaker_monitoring_schedule_name": body["MonitoringScheduleName"],
            "start_time": _stamp(start), "end_time": _stamp(end), "metric_time": _stamp(start)}


def _merge_request(services: Services, body: dict[str, Any], spec: JobSpec) -> dict[str, Any] | None:
    base, folders = _capture_folders(services, body)
    start, end = body["_window"]
    # Labels arrive after the predictions: every ground truth hour from the window's start to the run's.
    truth = _hour_folders(services, spec.ground_truth_uri or "", (start, min(max(end, time.time()), end + 24 * HOUR)),
                          levels=0)
    if not folders or not truth:
        return None
    inputs = (_folder_inputs(base.rsplit("/", 1)[0], folders, MERGE_INPUT, "endpoint-input")
              + _folder_inputs(spec.ground_truth_uri or "", truth, GROUND_TRUTH, "groundtruth-input"))
    environment = {"dataset_source": MERGE_INPUT, "ground_truth_source": GROUND_TRUTH,
                   "output_path": PROCESSING_OUTPUT, **_window_environment(body)}
    image = spec.image.rsplit("/", 1)[0] + "/" + MERGE_IMAGE if "/" in spec.image else MERGE_IMAGE
    return _base_request(body, spec, body["_jobs"]["merge"], image, environment, inputs,
                         f"{spec.output['S3Uri'].rstrip('/')}/merge", PROCESSING_OUTPUT)


def _analysis_request(services: Services, body: dict[str, Any], spec: JobSpec) -> dict[str, Any] | None:
    endpoint_input = spec.endpoint_input
    environment = {**spec.environment}
    environment.setdefault("publish_cloudwatch_metrics", "Enabled")
    if spec.monitoring_type == MODEL_QUALITY:
        merged = f"{spec.output['S3Uri'].rstrip('/')}/merge"
        folders = [f"{body['EndpointName']}/{f}" for f in
                   _hour_folders(services, f"{merged}/{body['EndpointName']}", tuple(body["_window"]), levels=1)]
        inputs = _folder_inputs(merged, folders, MERGE_INPUT, "endpoint-input")
        environment.update({"analysis_type": "MODEL_QUALITY", "dataset_format": json.dumps(MERGED_FORMAT),
                            "dataset_source": MERGE_INPUT})
        if spec.problem_type:
            environment["problem_type"] = spec.problem_type
        for key, env in (("InferenceAttribute", "inference_attribute"), ("ProbabilityAttribute",
                                                                           "probability_attribute"),
                         ("ProbabilityThresholdAttribute", "probability_threshold_attribute")):
            if endpoint_input.get(key) is not None:
                environment[env] = str(endpoint_input[key])
    else:
        base, folders = _capture_folders(services, body)
        local = endpoint_input.get("LocalPath") or "/opt/ml/processing/input/endpoint"
        inputs = _folder_inputs(base.rsplit("/", 1)[0], folders, local, "endpoint-input")
        environment.update({"dataset_format": json.dumps(CAPTURE_FORMAT), "dataset_source": local})
        for key, env in (("FeaturesAttribute", "features_attribute"), ("InferenceAttribute", "inference_attribute"),
                         ("ExcludeFeaturesAttribute", "exclude_features_attribute")):
            if endpoint_input.get(key) is not None:
                environment[env] = str(endpoint_input[key])
    if not folders:
        return None
    output_local = spec.output.get("LocalPath") or PROCESSING_OUTPUT
    environment.update({"output_path": output_local, **_window_environment(body)})
    baselines = (("constraints", spec.constraints_uri), ("statistics", None if spec.monitoring_type == MODEL_QUALITY
                                                        else spec.statistics_uri))
    for kind, uri in baselines:
        if uri:
            inputs.append(_file_input(kind, uri, BASELINE[kind]))
            environment[f"baseline_{kind}"] = f"{BASELINE[kind]}/{posixpath.basename(uri)}"
    for env, uri in (("record_preprocessor_script", spec.preprocessor_uri),
                     ("post_analytics_processor_script", spec.postprocessor_uri)):
        if uri:
            inputs.append(_file_input(env.replace("_script", "_script_input"), uri, SCRIPTS[env]))
            environment[env] = f"{SCRIPTS[env]}/{posixpath.basename(uri)}"
    scheduled = time.strftime("%Y/%m/%d/%H", time.gmtime(body["ScheduledTime"]))
    report = f"{spec.output['S3Uri'].rstrip('/')}/{body['EndpointName']}/{body['MonitoringScheduleName']}/{scheduled}"
    request = _base_request(body, spec, body["_jobs"]["analysis"], spec.image, environment, inputs, report,
                            output_local)
    if spec.entrypoint:
        request["AppSpecification"]["ContainerEntrypoint"] = spec.entrypoint
    if spec.arguments:
        request["AppSpecification"]["ContainerArguments"] = spec.arguments
    return request


def run_now(services: Services, schedule_name: str, now: float) -> dict[str, Any] | None:
    """POST /_emulator/monitoring-schedules/{name}/run: a run of the schedule scheduled now, analysing a
    window as long as its usual one that ends now (so what was just captured is in it), its first job
    created before this returns. None when there is no such schedule."""
    schedule = schedules.get(services, schedule_name)
    if schedule is None:
        return None
    spec = schedules.job_spec(services, schedule)
    timing = schedules.timing(schedule, spec)
    length = (timing.end_offset - timing.start_offset) / services.settings.schedule_clock_scale
    # Captured records carry whole seconds (inferenceTime): the window ends at the end of this second.
    end = float(math.ceil(now))
    body = None
    while body is None:  # two runs in the same millisecond: the second is scheduled a millisecond later
        body = record(services, schedule, schedules.clock(services, schedule, now), (end - length, end))
        now += 0.001
    started = advance(services, body["_name"])
    body = get(services, body["_name"]) or body
    answer = pick(body, SUMMARY)
    if started:
        answer["ProcessingJobArn"] = job_arn(services, body)
    return answer
