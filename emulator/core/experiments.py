"""Experiments, trials and trial components, the links between them, and the trial components that
training and processing jobs get when they are created with an ExperimentConfig.

Records are keyed by the name as given; lookups fall back to the ARN, which SageMaker builds from
the lower-cased name, so names are case-insensitive as on AWS. Trial <-> component links live in
their own table: a component can belong to several trials, and the links feed ListTrials,
ListTrialComponents, Search's `Parents` and the delete guards.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.aws.errors import ResourceNotFound, ValidationException
from emulator.core import metrics
from emulator.core.arns import sagemaker_arn
from emulator.core.listing import ListFields, filter_sort_page, list_page
from emulator.core.services import Services
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS trial_links (
    trial TEXT NOT NULL,
    component TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (trial, component)
);
CREATE INDEX IF NOT EXISTS trial_links_component ON trial_links (component);
""")

EXPERIMENT, TRIAL, COMPONENT = "Experiment", "Trial", "TrialComponent"
_NAME = {EXPERIMENT: "ExperimentName", TRIAL: "TrialName", COMPONENT: "TrialComponentName"}
_ARN = {EXPERIMENT: "ExperimentArn", TRIAL: "TrialArn", COMPONENT: "TrialComponentArn"}
_LABEL = {EXPERIMENT: "Experiment", TRIAL: "Trial", COMPONENT: "TrialComponent"}
# How AWS names the component of a job and which Source.SourceType it carries.
JOB_SOURCES = {
    "TrainingJob": ("aws-training-job", "SageMakerTrainingJob", "TrainingJobName", "TrainingJobArn"),
    "ProcessingJob": ("aws-processing-job", "SageMakerProcessingJob", "ProcessingJobName",
                      "ProcessingJobArn"),
    "TransformJob": ("aws-transform-job", "SageMakerTransformJob", "TransformJobName", "TransformJobArn"),
}


def _now() -> float:
    return time.time()


# --- generic record access ---------------------------------------------------------------------

def find(services: Services, kind: str, name: str, region: str) -> dict[str, Any] | None:
    body = services.records.get(kind, name)
    if body is None:
        hit = services.records.get_by_arn(sagemaker_arn(kind, name, region, services.account_id))
        body = hit[2] if hit and hit[0] == kind else None
    return body


def get(services: Services, kind: str, name: str, region: str) -> dict[str, Any]:
    body = find(services, kind, name, region)
    if body is None:
        arn = sagemaker_arn(kind, name, region, services.account_id)
        raise ResourceNotFound(f"{_LABEL[kind]} '{arn}' does not exist.")
    return body


def _create(services: Services, kind: str, region: str, body: dict[str, Any], tags: list | None) -> dict:
    name = body[_NAME[kind]]
    arn = sagemaker_arn(kind, name, region, services.account_id)
    now = _now()
    body = {_ARN[kind]: arn, "DisplayName": name, **{k: v for k, v in body.items() if v is not None},
            "CreationTime": now, "LastModifiedTime": now}

    def conflict() -> Exception:
        # The SDK's load-or-create needs exactly ValidationException + "already exists".
        return ValidationException(f"{_LABEL[kind]} '{arn}' already exists.")
    if services.records.arn_exists(arn):
        raise conflict()
    services.records.insert(kind, name, arn, body, conflict)
    if tags:
        services.records.add_tags(arn, tags)
    return body


def _update(services: Services, kind: str, name: str, region: str, change) -> dict[str, Any]:
    stored = get(services, kind, name, region)[_NAME[kind]]

    def apply(body: dict) -> None:
        change(body)
        body["LastModifiedTime"] = _now()
    return services.records.update(kind, stored, apply)


def _delete(services: Services, kind: str, body: dict[str, Any]) -> None:
    services.records.delete(kind, body[_NAME[kind]])


def _list(items: list[dict], req: dict[str, Any], name_field: str) -> tuple[list[dict], str | None]:
    # ListExperiments/ListTrials/ListTrialComponents call the time bounds CreatedAfter/CreatedBefore.
    request = {**req, "CreationTimeAfter": req.get("CreatedAfter"),
               "CreationTimeBefore": req.get("CreatedBefore")}
    return filter_sort_page(items, request, ListFields(name=name_field), default_max=10)


# --- links -------------------------------------------------------------------------------------

def _link_rows(services: Services, column: str, name: str) -> list[str]:
    other = "component" if column == "trial" else "trial"
    rows = services.db.query(f"SELECT {other} FROM trial_links WHERE {column}=? ORDER BY created",
                             (name.lower(),))
    return [r[0] for r in rows]


def trials_of(services: Services, component: str, region: str) -> list[dict[str, Any]]:
    names = _link_rows(services, "component", component)
    return [t for n in names if (t := find(services, TRIAL, n, region))]


def components_of(services: Services, trial: str, region: str) -> list[dict[str, Any]]:
    return [c for n in _link_rows(services, "trial", trial) if (c := find(services, COMPONENT, n, region))]


def trials_in(services: Services, experiment: str) -> list[dict[str, Any]]:
    return [t for t in services.records.list(TRIAL) if t["ExperimentName"].lower() == experiment.lower()]


def _link(services: Services, trial: str, component: str) -> None:
    with services.db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO trial_links (trial, component, created) VALUES (?,?,?)",
                     (trial.lower(), component.lower(), _now()))


# --- experiments -------------------------------------------------------------------------------

def create_experiment(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    return _create(services, EXPERIMENT, region, {k: req.get(k) for k in ("ExperimentName", "DisplayName",
                                                                          "Description")}, req.get("Tags"))


def update_experiment(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    return _update(services, EXPERIMENT, req["ExperimentName"], region,
                   lambda b: b.update({k: req[k] for k in ("DisplayName", "Description") if k in req}))


def delete_experiment(services: Services, region: str, name: str) -> dict[str, Any]:
    body = get(services, EXPERIMENT, name, region)
    trials = trials_in(services, body["ExperimentName"])
    if trials:
        # AWS (API_DeleteExperiment): "All trials associated with the experiment must be deleted first."
        raise ValidationException(f"Experiment '{body['ExperimentArn']}' has {len(trials)} trial(s) "
                                  "associated with it and cannot be deleted. Delete the trials first.")
    _delete(services, EXPERIMENT, body)
    return body


def list_experiments(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    request = {**req, "CreationTimeAfter": req.get("CreatedAfter"), "CreationTimeBefore": req.get("CreatedBefore")}
    return list_page(services.records, EXPERIMENT, request, ListFields(name="ExperimentName"))


# --- trials ------------------------------------------------------------------------------------

def create_trial(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    experiment = get(services, EXPERIMENT, req["ExperimentName"], region)
    fields = {k: req.get(k) for k in ("TrialName", "DisplayName", "MetadataProperties")}
    return _create(services, TRIAL, region, {**fields, "ExperimentName": experiment["ExperimentName"]},
                   req.get("Tags"))


def update_trial(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    return _update(services, TRIAL, req["TrialName"], region,
                   lambda b: b.update({k: req[k] for k in ("DisplayName",) if k in req}))


def delete_trial(services: Services, region: str, name: str) -> dict[str, Any]:
    body = get(services, TRIAL, name, region)
    linked = _link_rows(services, "trial", body["TrialName"])
    if linked:
        # AWS (API_DeleteTrial): "All trial components that make up the trial must be deleted first."
        raise ValidationException(f"Trial '{body['TrialArn']}' has {len(linked)} trial component(s) "
                                  "associated with it and cannot be deleted. Disassociate or delete them "
                                  "first.")
    _delete(services, TRIAL, body)
    return body


def list_trials(services: Services, region: str, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    items = services.records.list(TRIAL)
    if req.get("ExperimentName"):
        experiment = get(services, EXPERIMENT, req["ExperimentName"], region)
        items = trials_in(services, experiment["ExperimentName"])
    if req.get("TrialComponentName"):
        get(services, COMPONENT, req["TrialComponentName"], region)
        keep = set(_link_rows(services, "component", req["TrialComponentName"]))
        items = [t for t in items if t["TrialName"].lower() in keep]
    return _list(items, req, "TrialName")


# --- trial components --------------------------------------------------------------------------

_COMPONENT_FIELDS = ("TrialComponentName", "DisplayName", "Status", "StartTime", "EndTime", "Parameters",
                     "InputArtifacts", "OutputArtifacts", "MetadataProperties")


def create_trial_component(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    # The maps are always present, empty if need be: ExperimentAnalytics calls .items() on them.
    fields = {"Parameters": {}, "InputArtifacts": {}, "OutputArtifacts": {},
              **{k: req[k] for k in _COMPONENT_FIELDS if req.get(k) is not None}}
    return _create(services, COMPONENT, region, fields, req.get("Tags"))


def update_trial_component(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    def change(body: dict) -> None:
        # A key both given and removed ends up removed, as on AWS: the SDK's TrialComponent.save()
        # sends every current parameter together with the ones deleted since loading.
        body.update({k: req[k] for k in ("DisplayName", "Status", "StartTime", "EndTime") if k in req})
        for field in ("Parameters", "InputArtifacts", "OutputArtifacts"):
            merged = {**(body.get(field) or {}), **(req.get(field) or {})}
            for key in req.get(f"{field}ToRemove") or []:
                merged.pop(key, None)
            body[field] = merged
    return _update(services, COMPONENT, req["TrialComponentName"], region, change)


def describe_trial_component(services: Services, region: str, name: str) -> dict[str, Any]:
    body = get(services, COMPONENT, name, region)
    source_arn = (body.get("Source") or {}).get("SourceArn")
    summaries = metrics.summaries(services, body["TrialComponentName"], source_arn)
    return {**body, "Metrics": summaries} if summaries else body


def delete_trial_component(services: Services, region: str, name: str) -> dict[str, Any]:
    body = get(services, COMPONENT, name, region)
    if _link_rows(services, "component", body["TrialComponentName"]):
        # AWS's wording, seen in aws/sagemaker-python-sdk#1515.
        raise ValidationException(f"TrialComponent '{body['TrialComponentArn']}' is linked to 1 or more "
                                  "trials and cannot be deleted.")
    _delete(services, COMPONENT, body)
    metrics.delete(services, body["TrialComponentName"])
    return body


def list_trial_components(services: Services, region: str,
                          req: dict[str, Any]) -> tuple[list[dict], str | None]:
    given = [k for k in ("ExperimentName", "TrialName", "SourceArn") if req.get(k)]
    if len(given) > 1:
        # AWS: ExperimentName, TrialName and SourceArn are mutually exclusive filters.
        raise ValidationException(f"Only one of ExperimentName, TrialName and SourceArn may be given, "
                                  f"got {given}.")
    items = services.records.list(COMPONENT)
    if req.get("TrialName"):
        items = components_of(services, get(services, TRIAL, req["TrialName"], region)["TrialName"], region)
    elif req.get("ExperimentName"):
        experiment = get(services, EXPERIMENT, req["ExperimentName"], region)["ExperimentName"]
        names = {n for t in trials_in(services, experiment)
                 for n in _link_rows(services, "trial", t["TrialName"])}
        items = [c for c in items if c["TrialComponentName"].lower() in names]
    elif req.get("SourceArn"):
        items = [c for c in items if (c.get("Source") or {}).get("SourceArn") == req["SourceArn"]]
    return _list(items, req, "TrialComponentName")


def associate(services: Services, region: str, component: str, trial: str) -> tuple[dict, dict]:
    tc = get(services, COMPONENT, component, region)
    tr = get(services, TRIAL, trial, region)
    _link(services, tr["TrialName"], tc["TrialComponentName"])
    return tc, tr


def disassociate(services: Services, region: str, component: str, trial: str) -> tuple[dict, dict]:
    tc = get(services, COMPONENT, component, region)
    tr = get(services, TRIAL, trial, region)
    with services.db.transaction() as conn:
        gone = conn.execute("DELETE FROM trial_links WHERE trial=? AND component=?",
                            (tr["TrialName"].lower(), tc["TrialComponentName"].lower())).rowcount
    if not gone:
        raise ResourceNotFound(f"TrialComponent '{tc['TrialComponentArn']}' is not associated with "
                               f"Trial '{tr['TrialArn']}'.")
    return tc, tr


# --- jobs created with an ExperimentConfig -----------------------------------------------------

def job_component_name(job_kind: str, job_name: str) -> str:
    return f"{job_name}-{JOB_SOURCES[job_kind][0]}"


def _number_or_string(value: str) -> dict[str, Any]:
    try:
        return {"NumberValue": float(value)}
    except (TypeError, ValueError):
        return {"StringValue": str(value)}


def _job_parameters_and_artifacts(job_kind: str, job: dict[str, Any]) -> tuple[dict, dict, dict]:
    if job_kind == "TrainingJob":
        params = {k: _number_or_string(v) for k, v in (job.get("HyperParameters") or {}).items()}
        resources = job.get("ResourceConfig") or {}
        image = (job.get("AlgorithmSpecification") or {}).get("TrainingImage")
        inputs = {}
        for channel in job.get("InputDataConfig") or []:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            if uri:
                media = {"MediaType": channel["ContentType"]} if channel.get("ContentType") else {}
                inputs[channel["ChannelName"]] = {"Value": uri, **media}
        outputs = {}
    elif job_kind == "TransformJob":
        # A transform job's component lists the model and its input as inputs, the output path as output.
        params = {}
        resources = job.get("TransformResources") or {}
        model = job.get("_model") or {}
        image = (model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]).get("Image")
        source = job["TransformInput"]["DataSource"]["S3DataSource"]
        media = {"MediaType": job["TransformInput"]["ContentType"]} if job["TransformInput"].get("ContentType") else {}
        inputs = {"SageMaker.ModelName": {"Value": job["ModelName"]}, "input": {"Value": source["S3Uri"], **media}}
        outputs = {"output": {"Value": job["TransformOutput"]["S3OutputPath"]}}
    else:
        params = {}
        resources = (job.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        image = (job.get("AppSpecification") or {}).get("ImageUri")
        inputs = {i["InputName"]: {"Value": i["S3Input"]["S3Uri"]}
                  for i in job.get("ProcessingInputs") or [] if i.get("S3Input")}
        declared = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        outputs = {o["OutputName"]: {"Value": o["S3Output"]["S3Uri"]} for o in declared if o.get("S3Output")}
    # SageMaker records the job's resources as SageMaker.* parameters and its image as an input artifact.
    for key in ("InstanceType", "InstanceCount", "VolumeSizeInGB"):
        if resources.get(key) is not None:
            params[f"SageMaker.{key}"] = _number_or_string(resources[key])
    if image:
        params["SageMaker.ImageUri"] = {"StringValue": image}
        inputs["SageMaker.ImageUri"] = {"Value": image}
    return params, inputs, outputs


def _ensure_trial(services: Services, region: str, trial: str, experiment: str | None) -> str | None:
    if find(services, TRIAL, trial, region) is not None:
        return trial
    if not experiment:
        return None
    if find(services, EXPERIMENT, experiment, region) is None:
        create_experiment(services, region, {"ExperimentName": experiment})
    create_trial(services, region, {"TrialName": trial, "ExperimentName": experiment})
    return trial


def on_job_created(services: Services, region: str, job_kind: str, job: dict[str, Any]) -> None:
    """Give a job created with an ExperimentConfig its trial component `<job>-aws-training-job` /
    `<job>-aws-processing-job` and link it as AWS does: to TrialName (a new trial named after the
    component when only ExperimentName is given); with RunName, the run's component also lists the
    job among its Sources. Never raises for a missing experiment or trial: the job already exists."""
    config = job.get("ExperimentConfig")
    if not config or job_kind not in JOB_SOURCES:
        return
    _, source_type, name_field, arn_field = JOB_SOURCES[job_kind]
    name = job_component_name(job_kind, job[name_field])
    params, inputs, outputs = _job_parameters_and_artifacts(job_kind, job)
    if find(services, COMPONENT, name, region) is None:
        fields = {"TrialComponentName": name, "DisplayName": config.get("TrialComponentDisplayName") or name,
                  "Source": {"SourceArn": job[arn_field], "SourceType": source_type},
                  "Status": {"PrimaryStatus": "InProgress"}, "StartTime": job.get("CreationTime") or _now(),
                  "Parameters": params, "InputArtifacts": inputs, "OutputArtifacts": outputs}
        _create(services, COMPONENT, region, fields, None)
    trial = config.get("TrialName") or (name if config.get("ExperimentName") else None)
    if trial and _ensure_trial(services, region, trial, config.get("ExperimentName")):
        associate(services, region, name, trial)
    run = config.get("RunName")
    if run and find(services, COMPONENT, run, region) is not None:
        source = {"SourceArn": job[arn_field], "SourceType": source_type}
        _update(services, COMPONENT, run, region, lambda b: b.update(
            Sources=[s for s in b.get("Sources") or [] if s["SourceArn"] != source["SourceArn"]] + [source]))


_ENDED = ("Completed", "Failed", "Stopped", "Stopping")  # job statuses a trial component shares


def on_job_finished(services: Services, region: str, job_kind: str, job: dict[str, Any]) -> None:
    """Carry a job's end onto its trial component: status (+ FailureReason), start and end time, the
    model artifact, and each FinalMetricDataList value that has no time series yet."""
    if job_kind not in JOB_SOURCES or not job.get("ExperimentConfig"):
        return
    name_field = JOB_SOURCES[job_kind][2]
    name = job_component_name(job_kind, job[name_field])
    if find(services, COMPONENT, name, region) is None:
        on_job_created(services, region, job_kind, job)
        if find(services, COMPONENT, name, region) is None:
            return
    prefix = job_kind.removesuffix("Job")
    state = job.get(f"{prefix}JobStatus")
    ended = job.get(f"{prefix}EndTime") or (job.get("LastModifiedTime") if state in _ENDED else None)
    # A failed job's Describe still names its artifact location, but it produced no model.
    model = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") if state != "Failed" else None

    def change(body: dict) -> None:
        if state in _ENDED:
            reason = {"Message": job["FailureReason"]} if job.get("FailureReason") else {}
            body["Status"] = {"PrimaryStatus": state, **reason}
        if job.get(f"{prefix}StartTime"):
            body["StartTime"] = job[f"{prefix}StartTime"]
        if ended:
            body["EndTime"] = ended
        if model:
            body.setdefault("OutputArtifacts", {})["SageMaker.ModelArtifact"] = {"Value": model}
    _update(services, COMPONENT, name, region, change)
    final = [m for m in job.get("FinalMetricDataList") or []
             if not metrics.has_series(services, name, m["MetricName"])]
    metrics.put(services, name, [{"MetricName": m["MetricName"], "Value": m["Value"],
                                  "Timestamp": m.get("Timestamp") or ended or _now()} for m in final])


def record_job_metrics(services: Services, job_kind: str, job_name: str,
                       points: list[dict[str, Any]]) -> None:
    """For the job runtime: append metric points parsed from a job's logs ({MetricName, Value,
    Timestamp, Step?}) to the job's trial component series."""
    metrics.put(services, job_component_name(job_kind, job_name), points)
