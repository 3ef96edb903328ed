"""What each step type does when it runs. Job steps go through the same core functions as the
public Create* APIs (never a handler, never HTTP) and wait for the job's terminal status."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.aws import models as aws_models
from emulator.aws.errors import AwsError
from emulator.aws.validation import validate_input
from emulator.core import jobs
from emulator.core.pipelines import random_token
from emulator.pipelines.conditions import evaluate_all
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate, stringify

if TYPE_CHECKING:
    from emulator.pipelines.executor import ExecutionRun

# Job-step arguments the SDK emits that mean "absent" (pipeline_definitions.md §1.4 quirks).
_ABSENT = (None, "None")


class StepFailed(Exception):
    """The step failed. `exception_type` is the retry-policy class it belongs to, if any."""

    def __init__(self, reason: str, exception_type: str | None = None, metadata: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exception_type = exception_type
        self.metadata = metadata


@dataclass
class StepResult:
    metadata: dict[str, Any]
    properties: dict[str, Any]
    outcome: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def job_name(execution_id: str, step_name: str) -> str:
    """`pipelines-<execId>-<StepName[:20]>-<10 random>` (§4.1), kept to SageMaker's name pattern."""
    stem = re.sub(r"[^A-Za-z0-9-]", "-", step_name[:20]).strip("-") or "step"
    return f"pipelines-{execution_id}-{stem}-{random_token()}"


def clean(value: Any) -> Any:
    """Drop JSON nulls and the SDK's "None" placeholders before calling a Create* API."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v not in _ABSENT}
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


def run_step(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    runner = RUNNERS.get(step.type)
    if runner is None:
        raise StepFailed(f"Step type {step.type} cannot run in the SageMaker Emulator yet; the step was not "
                         "executed.")
    return runner(run, step, scope, stop)


def _arguments(step, scope: Scope) -> dict[str, Any]:
    try:
        return clean(evaluate(step.arguments, scope))
    except ExpressionError as exc:
        raise StepFailed(str(exc)) from None


def _create(operation: str, create, run: ExecutionRun, request: dict[str, Any]) -> dict[str, Any]:
    try:
        validate_input(aws_models.operation_model("sagemaker", operation).input_shape, request)
        return create(run.services, run.region, request)
    except AwsError as err:
        kind = "SageMaker.RESOURCE_LIMIT" if err.code == "ResourceLimitExceeded" else (
            "Step.THROTTLING" if "Throttl" in err.code else None)
        raise StepFailed(f"ClientError: Failed to invoke sagemaker:{operation}. Error Details: {err.message}",
                         kind, metadata={}) from None


def _job_step(kind: jobs.JobKind, operation: str, create):
    def runner(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
        name = job_name(run.execution_id, step.name)
        scope.current_job_name = name
        request = _arguments(step, scope)
        key, hit = run.check_cache(step, request)
        if hit is not None:
            return hit
        request[kind.name_field] = name
        experiment = run.experiment_config()
        if experiment:
            config = {"ExperimentName": experiment["ExperimentName"], "TrialName": experiment["TrialName"]}
            display = (request.get("ExperimentConfig") or {}).get("TrialComponentDisplayName")
            if display:
                config["TrialComponentDisplayName"] = display
            request["ExperimentConfig"] = config
        job = _create(operation, create, run, request)
        metadata = {kind.prefix: {"Arn": job[kind.arn_field]}}
        run.note_job(step.name, kind.kind, name, metadata)
        final = run.wait_for_job(kind, name, stop)
        result = job_outcome(kind, final, metadata)
        result.extra["_cache_key"] = key
        return result
    return runner


def job_outcome(kind: jobs.JobKind, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
    status = final[kind.status_field]
    if status == "Completed":
        return StepResult(metadata, final)
    if status == "Stopped":
        raise StepFailed("Job was stopped.", "Stopped", metadata)
    reason = final.get("FailureReason") or f"{kind.noun.capitalize()} failed."
    exception_type = None
    if reason.startswith("InternalServerError"):
        exception_type = "SageMaker.JOB_INTERNAL_ERROR"
    elif reason.startswith("CapacityError"):
        exception_type = "SageMaker.CAPACITY_ERROR"
    raise StepFailed(reason, exception_type, metadata)


def _condition(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    try:
        outcome = evaluate_all(step.arguments.get("Conditions") or [], scope)
    except ExpressionError as exc:
        raise StepFailed(str(exc)) from None
    return StepResult({"Condition": {"Outcome": "True" if outcome else "False"}}, {"Outcome": outcome},
                      outcome=outcome)


def _fail(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    try:
        message = stringify(evaluate(step.arguments.get("ErrorMessage", ""), scope))
    except ExpressionError as exc:
        message = str(exc)
    raise StepFailed(message, "Fail", {"Fail": {"ErrorMessage": message}})


def _model(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    from emulator.core import models
    request = _arguments(step, scope)
    request["ModelName"] = job_name(run.execution_id, step.name).lower()
    created = _create("CreateModel", models.create_model, run, request)
    return StepResult({"Model": {"Arn": created["ModelArn"]}}, created)


def _register_model(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    from emulator.core import model_registry
    request = _arguments(step, scope)
    for key in ("ModelPackageName", "CertifyForMarketplace", "Description"):
        request.pop(key, None)
    group = request.get("ModelPackageGroupName")
    if group and model_registry.find_group(run.services, group, run.region) is None:
        # RegisterModel creates the group when it does not exist yet.
        model_registry.create_group(run.services, run.region, {"ModelPackageGroupName": group})
    package = _create("CreateModelPackage", model_registry.create_package, run, request)
    return StepResult({"RegisterModel": {"Arn": package["ModelPackageArn"]}}, package)


def _callback(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    raw = step.raw
    _arguments(step, scope)  # evaluate the message payload so reference errors fail the step
    token = random_token()  # AWS's callback tokens are 10 alphanumerics too
    metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": raw.get("SqsQueueUrl", "")}}
    run.await_callback(step.name, token, metadata)
    outcome = run.wait_for_callback(token, stop)
    if outcome.get("failure") is not None:
        raise StepFailed(outcome["failure"], None, metadata)
    declared = {p.get("OutputName"): p.get("OutputType", "String") for p in raw.get("OutputParameters") or []}
    # Steps.X.OutputParameters['name'] is the typed value (pipeline_definitions.md §2.1).
    params = {p["Name"]: _typed(p.get("Value", ""), declared.get(p["Name"], "String"))
              for p in outcome.get("outputs", [])}
    metadata["Callback"]["OutputParameters"] = [{"Name": p["Name"], "Value": p.get("Value", "")}
                                                for p in outcome.get("outputs", [])]
    return StepResult(metadata, {"OutputParameters": params})


def _typed(value: str, kind: str) -> Any:
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
        if kind == "Boolean":
            return str(value).lower() == "true"
    except ValueError:
        return value
    return value


def _tuning(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
    try:
        from emulator.core import tuning
    except ImportError:
        raise StepFailed("Tuning steps need hyperparameter tuning jobs, which this emulator version cannot run "
                         "yet; the step was not executed.") from None
    return tuning.run_pipeline_step(run, step, _arguments(step, scope), stop)


def _not_yet(what: str):
    def runner(run: ExecutionRun, step, scope: Scope, stop: threading.Event) -> StepResult:
        raise StepFailed(f"{what} steps cannot run in the SageMaker Emulator yet; the step was not executed.")
    return runner


RUNNERS = {
    "Processing": _job_step(jobs.PROCESSING, "CreateProcessingJob", jobs.create_processing_job),
    "Training": _job_step(jobs.TRAINING, "CreateTrainingJob", jobs.create_training_job),
    "Condition": _condition,
    "Fail": _fail,
    "Model": _model,
    "CreateModel": _model,
    "RegisterModel": _register_model,
    "Callback": _callback,
    "Tuning": _tuning,
    "Transform": _not_yet("Transform (batch transform)"),
    "Lambda": _not_yet("Lambda"),
    "EMR": _not_yet("EMR"),
    "ClarifyCheck": _not_yet("ClarifyCheck"),
    "QualityCheck": _not_yet("QualityCheck"),
    "AutoML": _not_yet("AutoML"),
}
