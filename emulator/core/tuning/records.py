"""Tuning job records and the operations on them: create (checked, recorded InProgress; its controller,
emulator.runtime.controllers.tuning, does the rest), describe and list with counters and best job
computed from the training jobs as they stand, stop, delete, and the one writer of final statuses.

The stored body is the Describe response plus private `_` keys: `_trials` (every training job, recorded
before it is created) and `_parents` (warm start).
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from emulator.aws.errors import ResourceInUse, ResourceNotFound, ValidationException
from emulator.core import arns, jobs
from emulator.core.events import sagemaker as state_events
from emulator.core.jobs import TERMINAL, TRAINING
from emulator.core.listing import ListFields, filter_sort_page, pick
from emulator.core.services import Services
from emulator.core.tuning.spec import (
    ARN,
    KIND,
    NAME,
    OBJECTIVE_KEY,
    STATUS,
    Spec,
    definition_of,
    parse_spec,
    resource_config,
)

SUMMARY_KEYS = (NAME, ARN, STATUS, "Strategy", "CreationTime", "HyperParameterTuningEndTime",
                "LastModifiedTime", "TrainingJobStatusCounters", "ObjectiveStatusCounters", "ResourceLimits")
RETRYABLE_PREFIXES = ("InternalServerError", "CapacityError")


def _now() -> float:
    return time.time()


def get_tuning_job(services: Services, name: str) -> dict[str, Any] | None:
    return services.records.get(KIND, name)


def _require(services: Services, name: str) -> dict[str, Any]:
    body = get_tuning_job(services, name)
    if body is None:
        raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")
    return body


def create_tuning_job(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req[NAME]
    arn = arns.sagemaker_arn(KIND, name, region, services.account_id)
    now = _now()
    body = copy.deepcopy({k: v for k, v in req.items() if k != "Tags"})
    body[ARN] = arn
    config = body["HyperParameterTuningJobConfig"]
    config.setdefault("TrainingJobEarlyStoppingType", "Off")
    spec = parse_spec(body, services.image_problem)
    _check_training_request(spec, name)
    _record_objective_in_static_hyperparameters(body)
    parents = _warm_start_parents(services, body)
    body.update({
        STATUS: "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "TrainingJobStatusCounters": _empty_training_counters(),
        "ObjectiveStatusCounters": _empty_objective_counters(),
        "_trials": [],
        "_parents": parents,
    })

    def conflict() -> Exception:
        return ResourceInUse(f"A hyperparameter tuning job with the name, {name}, already exists. "
                             "Choose a different name.")
    services.records.insert(KIND, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    state_events.status_changed(services, KIND, body, None)
    return body


def _record_objective_in_static_hyperparameters(body: dict[str, Any]) -> None:
    """SageMaker describes each training job definition with the objective metric among its static
    hyperparameters, as it passes it to every training job (HyperparameterTuner.attach deletes
    StaticHyperParameters["_tuning_objective_metric"] and fails without it)."""
    config = body["HyperParameterTuningJobConfig"]
    definitions = [body["TrainingJobDefinition"]] if body.get("TrainingJobDefinition") is not None \
        else body.get("TrainingJobDefinitions") or []
    for definition in definitions:
        objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
        if objective.get("MetricName"):
            definition.setdefault("StaticHyperParameters", {})[OBJECTIVE_KEY] = objective["MetricName"]


def _check_training_request(spec: Spec, name: str) -> None:
    """Validate the training jobs this tuning job will create now, not halfway through the search."""
    from emulator.aws import models as aws_models
    from emulator.aws.validation import validate_input
    sample = dict(spec.template, TrainingJobName=f"{name}-001-00000000",
                  HyperParameters={**spec.static, **{p.name: p.sample(random.Random(0)) for p in spec.params},
                                   OBJECTIVE_KEY: spec.metric})
    validate_input(aws_models.operation_model("sagemaker", "CreateTrainingJob").input_shape, sample)


def _warm_start_parents(services: Services, body: dict[str, Any]) -> list[str]:
    names = []
    for parent in (body.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
        parent_name = parent.get(NAME)
        if not parent_name:
            continue
        record = get_tuning_job(services, parent_name)
        if record is None:
            raise ValidationException(f"The parent hyperparameter tuning job {parent_name} does not exist.")
        if record[STATUS] not in TERMINAL:
            raise ValidationException(f"The parent hyperparameter tuning job {parent_name} is in status "
                                      f"{record[STATUS]}; a parent must be Completed, Stopped or Failed.")
        names.append(record[NAME])
    return names


def _empty_training_counters() -> dict[str, int]:
    return {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}


def _empty_objective_counters() -> dict[str, int]:
    return {"Succeeded": 0, "Pending": 0, "Failed": 0}


def objective_value(job: dict[str, Any], metric: str) -> float | None:
    for item in job.get("FinalMetricDataList") or []:
        if item.get("MetricName") == metric:
            try:
                value = float(item["Value"])
            except (TypeError, ValueError, KeyError):
                return None
            return value if math.isfinite(value) else None
    return None


@dataclass
class Evaluation:
    """The tuning job as its training jobs currently stand."""
    summaries: list[dict[str, Any]]               # HyperParameterTrainingJobSummary, trial order
    training: dict[str, int]
    objective: dict[str, int]
    best: dict[str, Any] | None
    not_improving: int
    missing: list[dict[str, Any]]                 # trials whose training job does not exist yet


def _summary(body: dict[str, Any], trial: dict[str, Any], job: dict[str, Any], metric: str,
             objective_type: str, definition_name: str | None) -> dict[str, Any]:
    status = job["TrainingJobStatus"]
    value = objective_value(job, metric)
    if status in ("InProgress", "Stopping"):
        objective_status = "Pending"
    elif status in ("Completed", "Stopped") and value is not None:
        objective_status = "Succeeded"
    else:
        objective_status = "Failed"
    summary = {"TrainingJobName": job["TrainingJobName"], "TrainingJobArn": job["TrainingJobArn"],
               "TuningJobName": body[NAME], "CreationTime": job["CreationTime"],
               "TrainingStartTime": job.get("TrainingStartTime"),
               "TrainingEndTime": job.get("TrainingEndTime"), "TrainingJobStatus": status,
               "TunedHyperParameters": dict(trial.get("TunedHyperParameters") or {}),
               "FailureReason": job.get("FailureReason"), "ObjectiveStatus": objective_status}
    if definition_name:
        summary["TrainingJobDefinitionName"] = definition_name
    if objective_status == "Succeeded":
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": metric, "Value": value}
    return {k: v for k, v in summary.items() if v is not None}


def _objective_of(body: dict[str, Any]) -> tuple[str, str, str | None]:
    config = body["HyperParameterTuningJobConfig"]
    definition = definition_of(body)
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
    name = definition.get("DefinitionName") if body.get("TrainingJobDefinitions") else None
    return objective.get("MetricName", ""), objective.get("Type", "Minimize"), name


def _better(objective_type: str, a: float, b: float) -> bool:
    return a < b if objective_type == "Minimize" else a > b


def evaluate(services: Services, body: dict[str, Any]) -> Evaluation:
    metric, objective_type, definition_name = _objective_of(body)
    training = _empty_training_counters()
    objective = _empty_objective_counters()
    summaries, missing = [], []
    for trial in body.get("_trials") or []:
        job = jobs.get_job(services, TRAINING, trial["TrainingJobName"])
        if job is None:
            missing.append(trial)
            continue
        summary = _summary(body, trial, job, metric, objective_type, definition_name)
        summaries.append(summary)
        status = summary["TrainingJobStatus"]
        if status in ("InProgress", "Stopping"):
            training["InProgress"] += 1
        elif status == "Failed":
            retryable = (summary.get("FailureReason") or "").startswith(RETRYABLE_PREFIXES)
            training["RetryableError" if retryable else "NonRetryableError"] += 1
        else:
            training[status] += 1
        objective[summary["ObjectiveStatus"]] += 1
    best = _best(summaries, objective_type)
    # BestObjectiveNotImproving counts evaluated jobs, in the order they ended, since the last improvement.
    finished = sorted((s for s in summaries if s["ObjectiveStatus"] == "Succeeded"),
                      key=lambda s: s.get("TrainingEndTime") or 0)
    not_improving, running_best = 0, None
    for s in finished:
        value = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if running_best is None or _better(objective_type, value, running_best):
            running_best, not_improving = value, 0
        else:
            not_improving += 1
    return Evaluation(summaries, training, objective, best, not_improving, missing)


def _best(summaries: list[dict[str, Any]], objective_type: str) -> dict[str, Any] | None:
    best = None
    for s in summaries:
        if s["ObjectiveStatus"] != "Succeeded":
            continue
        value = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if best is None or _better(objective_type, value,
                                   best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]):
            best = s
    return best


def _public(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("_")}


def with_evaluation(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    """The Describe response: the stored record with counters and best job as the training jobs stand."""
    out = copy.deepcopy(_public(body))
    for definition in [out.get("TrainingJobDefinition")] + list(out.get("TrainingJobDefinitions") or []):
        if definition is not None and "ResourceConfig" not in definition:
            # The SDK creates definitions with HyperParameterTuningResourceConfig only, and its
            # HyperparameterTuner.attach() reads the definition's ResourceConfig: SageMaker describes
            # the instances the training jobs get under that name as well.
            definition["ResourceConfig"] = resource_config(definition)
    ev = evaluate(services, body)
    out["TrainingJobStatusCounters"] = ev.training
    out["ObjectiveStatusCounters"] = ev.objective
    if ev.best is not None:
        out["BestTrainingJob"] = ev.best
    if body.get("_parents"):
        _, objective_type, _ = _objective_of(body)
        candidates = [ev.best] if ev.best else []
        for parent in body["_parents"]:
            record = get_tuning_job(services, parent)
            if record is not None:
                parent_best = evaluate(services, record).best
                if parent_best:
                    candidates.append(parent_best)
        overall = _best(candidates, objective_type)
        if overall is not None:
            out["OverallBestTrainingJob"] = overall
    criteria = body["HyperParameterTuningJobConfig"].get("TuningJobCompletionCriteria")
    if criteria:
        out["TuningJobCompletionDetails"] = {"NumberOfTrainingJobsObjectiveNotImproving": ev.not_improving}
    end = body.get("HyperParameterTuningEndTime") or _now()
    out["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(end - body["CreationTime"]))}
    return out


def describe_tuning_job(services: Services, name: str) -> dict[str, Any]:
    return with_evaluation(services, _require(services, name))


def list_tuning_jobs(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    items = []
    for body in services.records.list(KIND):
        view = with_evaluation(services, body)
        view["Strategy"] = body["HyperParameterTuningJobConfig"]["Strategy"]
        view["ResourceLimits"] = body["HyperParameterTuningJobConfig"]["ResourceLimits"]
        items.append(view)
    request = {**req, "SortOrder": req.get("SortOrder") or "Ascending"}
    page, token = filter_sort_page(items, request, ListFields(name=NAME, status=STATUS), default_sort="Name")
    return [pick(item, SUMMARY_KEYS) for item in page], token


def list_training_jobs_for_tuning_job(services: Services,
                                      req: dict[str, Any]) -> tuple[list[dict], str | None]:
    body = _require(services, req[NAME])
    summaries = evaluate(services, body).summaries
    sort_by = req.get("SortBy") or "Name"
    if sort_by == "FinalObjectiveMetricValue":
        # "any training jobs that did not return an objective metric are not listed" (API reference)
        summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        for s in summaries:
            s["_value"] = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    request = {k: v for k, v in req.items() if k != NAME}
    request["SortOrder"] = req.get("SortOrder") or "Ascending"
    fields = ListFields(name="TrainingJobName", status="TrainingJobStatus")
    page, token = filter_sort_page(summaries, request, fields, default_sort="Name",
                                   sort_keys={"FinalObjectiveMetricValue": "_value"})
    return [_public(s) for s in page], token


def ranked_summaries(services: Services, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Training jobs with an objective value, best first (a Tuning step's TrainingJobSummaries)."""
    _, objective_type, _ = _objective_of(body)
    evaluated = [s for s in evaluate(services, body).summaries if s["ObjectiveStatus"] == "Succeeded"]
    evaluated.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                   reverse=objective_type == "Maximize")
    return evaluated


def stop_tuning_job(services: Services, name: str) -> None:
    body = _require(services, name)
    if body[STATUS] == "Stopping":
        return
    if body[STATUS] != "InProgress":
        raise ValidationException(f"The request was rejected because the hyperparameter tuning job is in "
                                  f"status {body[STATUS]}.")

    def change(record: dict) -> None:
        if record[STATUS] == "InProgress":
            record[STATUS] = "Stopping"
            record["LastModifiedTime"] = _now()
    _update(services, body[NAME], change)


def delete_tuning_job(services: Services, name: str) -> None:
    body = _require(services, name)
    if body[STATUS] not in TERMINAL:
        raise ValidationException(f"The hyperparameter tuning job {name} is in status {body[STATUS]}; only "
                                  "Completed, Failed or Stopped tuning jobs can be deleted.")
    services.records.delete(KIND, body[NAME])


def finish_tuning_job(services: Services, name: str, status: str, reason: str | None = None, *,
                      snapshot: bool = True) -> None:
    """The one writer of terminal statuses (with a snapshot of the counters and the best job, unless
    the record is too broken to evaluate)."""
    assert status in TERMINAL
    current = get_tuning_job(services, name)
    if current is None:
        return
    view = with_evaluation(services, current) if snapshot else {}

    def change(body: dict) -> None:
        if body[STATUS] in TERMINAL:
            return
        now = _now()
        body[STATUS] = status
        body["HyperParameterTuningEndTime"] = now
        body["LastModifiedTime"] = now
        if reason and status == "Failed":
            body["FailureReason"] = reason[:1024]
        for key in ("TrainingJobStatusCounters", "ObjectiveStatusCounters", "BestTrainingJob",
                    "OverallBestTrainingJob", "TuningJobCompletionDetails"):
            if key in view:
                body[key] = view[key]
        body["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(now - body["CreationTime"]))}
    _update(services, name, change)


def _update(services: Services, name: str, change) -> None:
    """A status write: sends the state-change event when the status changed."""
    previous: list[str] = []

    def apply(record: dict) -> None:
        previous.append(record[STATUS])
        change(record)
    after = services.records.update(KIND, name, apply)
    if after is not None and previous:
        state_events.status_changed(services, KIND, after, previous[-1])
