"""What each step type does. Job steps go through the same core functions as the public Create* APIs
(never a handler, never HTTP).

Steps never block. `begin` runs an attempt: a step with an immediate outcome (Condition, Fail, Model,
RegisterModel) returns it; a step that waits for something (a job, a tuning job, a callback) records
what it waits for in its state and returns None, and `check` looks again on later syncs of the
execution. A child resource is recorded *before* it is created, so a restart finds and waits for it,
or creates it under the recorded name: a step never runs two jobs for one attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.aws import models as aws_models
from emulator.aws.errors import AwsError
from emulator.aws.validation import validate_input
from emulator.core import arns, jobs, lifecycle, tuning
from emulator.core.pipelines import random_token, register_callback
from emulator.core.services import Services
from emulator.pipelines import checks
from emulator.pipelines.conditions import evaluate_all
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate, stringify

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


class StepContext(Protocol):
    """What a step needs from its execution (emulator.pipelines.executor.ExecutionContext)."""
    services: Services
    region: str
    execution_id: str
    arn: str

    def scope(self) -> Scope: ...
    def experiment_config(self) -> dict[str, Any] | None: ...
    def check_cache(self, step, resolved: dict[str, Any]) -> tuple[str | None, StepResult | None]: ...
    def set_step(self, name: str, **fields: Any) -> None: ...
    def wait_for(self, kind: str, name: str) -> bool: ...


def job_name(execution_id: str, step_name: str) -> str:
    """`pipelines-<execId>-<StepName[:20]>-<10 random>` (§4.1), kept to SageMaker's name pattern."""
    stem = re.sub(r"[^A-Za-z0-9-]", "-", step_name[:20]).strip("-") or "step"
    return f"pipelines-{execution_id}-{stem}-{random_token()}"


def tuning_job_name(execution_id: str, step_name: str) -> str:
    """AWS's pipeline job naming (`pipelines-<execId>-<step>-<10 random>`) cannot fit the 32 characters
    a tuning job name allows: drop the `pipelines-` prefix and keep what fits of the step name."""
    token = random_token()
    execution_id = re.sub(r"[^A-Za-z0-9-]", "", execution_id).strip("-")[:20]
    room = 32 - len(execution_id) - len(token) - 2
    stem = re.sub(r"[^A-Za-z0-9-]", "-", step_name)[:max(room, 0)].strip("-")
    return "-".join(part for part in (execution_id, stem, token) if part)


def clean(value: Any) -> Any:
    """Drop JSON nulls and the SDK's "None" placeholders before calling a Create* API."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v not in _ABSENT}
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


def arguments(step, scope: Scope) -> dict[str, Any]:
    try:
        return clean(evaluate(step.arguments, scope))
    except ExpressionError as exc:
        raise StepFailed(str(exc)) from None


def checked(operation: str, request: dict[str, Any]) -> None:
    try:
        validate_input(aws_models.operation_model("sagemaker", operation).input_shape, request)
    except AwsError as err:
        raise _client_error(operation, err) from None


def call(operation: str, create, ctx: StepContext, request: dict[str, Any]) -> dict[str, Any]:
    """A Create* call as the public API makes it: validated against the service model, then core."""
    checked(operation, request)
    try:
        return create(ctx.services, ctx.region, request)
    except AwsError as err:
        raise _client_error(operation, err) from None


def _client_error(operation: str, err: AwsError) -> StepFailed:
    kind = "SageMaker.RESOURCE_LIMIT" if err.code == "ResourceLimitExceeded" else (
        "Step.THROTTLING" if "Throttl" in err.code else None)
    return StepFailed(f"ClientError: Failed to invoke sagemaker:{operation}. Error Details: {err.message}",
                      kind, metadata={})


# --- step types ----------------------------------------------------------------------------------

class StepType:
    """An immediate step: `begin` returns its outcome (or raises StepFailed)."""

    def begin(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        raise NotImplementedError

    def check(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        """A waiting step looks again: its outcome, or None while it still waits."""
        return self.begin(ctx, step, state)

    def stop(self, ctx: StepContext, state: dict[str, Any]) -> bool:
        """The execution is stopping. True: the step stops now; False: wait for its child to stop."""
        return True


class Immediate(StepType):
    def __init__(self, run) -> None:
        self.run = run

    def begin(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        return self.run(ctx, step, ctx.scope())


class ChildResource(StepType):
    """A step that creates one resource (a job, a tuning job) and ends with it."""

    kind: str
    operation: str
    name_field: str
    metadata_key: str

    def new_name(self, ctx: StepContext, step) -> str:
        return job_name(ctx.execution_id, step.name)

    def request(self, ctx: StepContext, step, name: str) -> dict[str, Any]:
        scope = ctx.scope()
        scope.current_job_name = name
        return arguments(step, scope)

    def create(self, services: Services, region: str, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def cache_material(self, ctx: StepContext, step, request: dict[str, Any]) -> dict[str, Any]:
        """What the step's cache key is taken over (emulator.pipelines.cache)."""
        return request

    def start_metadata(self, ctx: StepContext, step, request: dict[str, Any], arn: str) -> dict[str, Any]:
        """The step's Metadata while its child runs (a step may still complete `request` here)."""
        return {self.metadata_key: {"Arn": arn}}

    def outcome(self, ctx: StepContext, step, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
        raise NotImplementedError

    def request_stop(self, services: Services, name: str) -> None:
        raise NotImplementedError

    def begin(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        recorded = (state.get("_job") or {}).get("name")
        name = recorded or self.new_name(ctx, step)
        request = self.request(ctx, step, name)
        cache_key = state.get("_cache_key")
        if not recorded:
            cache_key, hit = ctx.check_cache(step, self.cache_material(ctx, step, request))
            if hit is not None:
                return hit
        request[self.name_field] = name
        metadata = self.start_metadata(ctx, step, request,
                                       arns.sagemaker_arn(self.kind, name, ctx.region, ctx.services.account_id))
        checked(self.operation, request)
        if not recorded:
            ctx.set_step(step.name, Metadata=metadata, _job={"kind": self.kind, "name": name}, _cache_key=cache_key)
        call(self.operation, self.create, ctx, request)
        return self.check(ctx, step, {**state, "Metadata": metadata, "_job": {"kind": self.kind, "name": name},
                                      "_cache_key": cache_key})

    def check(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        name = state["_job"]["name"]
        final = ctx.services.records.get(self.kind, name)
        if final is None:  # recorded, but the emulator stopped before creating it
            return self.begin(ctx, step, state)
        if not lifecycle.is_terminal(self.kind, final):
            if not ctx.wait_for(self.kind, name):
                return None
            final = ctx.services.records.get(self.kind, name)
        result = self.outcome(ctx, step, final, state.get("Metadata") or {})
        if state.get("_cache_key"):
            result.extra["_cache_key"] = state["_cache_key"]
        return result

    def stop(self, ctx: StepContext, state: dict[str, Any]) -> bool:
        name = (state.get("_job") or {}).get("name")
        current = ctx.services.records.get(self.kind, name) if name else None
        if current is None:
            return True
        if not lifecycle.is_terminal(self.kind, current):
            try:
                self.request_stop(ctx.services, name)
            except AwsError:
                pass  # already stopping, or it ended meanwhile
        return False


class JobStep(ChildResource):
    def __init__(self, kind: jobs.JobKind, operation: str, create) -> None:
        self.job_kind = kind
        self.kind = kind.kind
        self.operation = operation
        self.name_field = kind.name_field
        self.metadata_key = kind.prefix
        self._create = create

    def request(self, ctx: StepContext, step, name: str) -> dict[str, Any]:
        request = super().request(ctx, step, name)
        experiment = ctx.experiment_config()
        if experiment:
            config = {"ExperimentName": experiment["ExperimentName"], "TrialName": experiment["TrialName"]}
            display = (request.get("ExperimentConfig") or {}).get("TrialComponentDisplayName")
            if display:
                config["TrialComponentDisplayName"] = display
            request["ExperimentConfig"] = config
        return request

    def create(self, services: Services, region: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._create(services, region, request)

    def outcome(self, ctx: StepContext, step, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
        return job_outcome(self.job_kind, final, metadata)

    def request_stop(self, services: Services, name: str) -> None:
        jobs.request_stop(services, self.job_kind, name)


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


class QualityCheckStep(JobStep):
    """`Arguments` is the Model Monitor analyzer's processing job; the check fields beside them choose the
    baseline it checks against and what the step reports (emulator.pipelines.checks)."""

    def __init__(self) -> None:
        super().__init__(jobs.PROCESSING, "CreateProcessingJob", jobs.create_processing_job)
        self.metadata_key = "QualityCheck"

    def cache_material(self, ctx: StepContext, step, request: dict[str, Any]) -> dict[str, Any]:
        return {**request, "Check": vars(checks.settings(step.raw, ctx.scope()))}

    def start_metadata(self, ctx: StepContext, step, request: dict[str, Any], arn: str) -> dict[str, Any]:
        try:
            check = checks.settings(step.raw, ctx.scope())
            return {"QualityCheck": checks.start_metadata(ctx.services, ctx.region, check, request, arn)}
        except (checks.CheckError, ExpressionError) as exc:
            raise StepFailed(str(exc)) from None

    def outcome(self, ctx: StepContext, step, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
        job_outcome(self.job_kind, final, metadata)  # a failed or stopped job fails the step as it is
        report, properties, violated = checks.finished(metadata.get("QualityCheck") or {}, final)
        metadata = {"QualityCheck": report}
        if violated and checks.settings(step.raw, ctx.scope()).fail_on_violation:
            # The service's wording (sagemaker-python-sdk tests/integ/.../test_quality_check_steps.py).
            raise StepFailed(f"ClientError: Quality check failed. See violation report at {report['ViolationReport']}",
                             None, metadata)
        return StepResult(metadata, properties)


class TuningStep(ChildResource):
    """`Arguments` is the CreateHyperParameterTuningJob request minus the name."""

    kind = tuning.KIND
    operation = "CreateHyperParameterTuningJob"
    name_field = tuning.NAME
    metadata_key = "TuningJob"

    def new_name(self, ctx: StepContext, step) -> str:
        return tuning_job_name(ctx.execution_id, step.name)

    def request(self, ctx: StepContext, step, name: str) -> dict[str, Any]:
        return arguments(step, ctx.scope())

    def create(self, services: Services, region: str, request: dict[str, Any]) -> dict[str, Any]:
        return tuning.create_tuning_job(services, region, request)

    def outcome(self, ctx: StepContext, step, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
        status = final[tuning.STATUS]
        if status == "Completed":
            properties = tuning.with_evaluation(ctx.services, final)
            properties["TrainingJobSummaries"] = tuning.ranked_summaries(ctx.services, final)
            return StepResult(metadata, properties)
        if status == "Stopped":
            raise StepFailed("Job was stopped.", "Stopped", metadata)
        raise StepFailed(final.get("FailureReason") or "Hyperparameter tuning job failed.", None, metadata)

    def request_stop(self, services: Services, name: str) -> None:
        tuning.stop_tuning_job(services, name)


class CallbackStep(StepType):
    """Waits for SendPipelineExecutionStepSuccess/Failure, which record `_callback_outcome` in the state."""

    def begin(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        arguments(step, ctx.scope())  # evaluate the message payload so reference errors fail the step
        token = random_token()  # AWS's callback tokens are 10 alphanumerics too
        metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": step.raw.get("SqsQueueUrl", "")}}
        register_callback(ctx.services, token, ctx.arn, step.name)
        ctx.set_step(step.name, Metadata=metadata, _callback=token)
        return None

    def check(self, ctx: StepContext, step, state: dict[str, Any]) -> StepResult | None:
        outcome = state.get("_callback_outcome")
        if outcome is None:
            return None
        metadata = state.get("Metadata") or {}
        if outcome.get("failure") is not None:
            raise StepFailed(outcome["failure"], None, metadata)
        declared = {p.get("OutputName"): p.get("OutputType", "String")
                    for p in step.raw.get("OutputParameters") or []}
        # Steps.X.OutputParameters['name'] is the typed value (pipeline_definitions.md §2.1).
        params = {p["Name"]: _typed(p.get("Value", ""), declared.get(p["Name"], "String"))
                  for p in outcome.get("outputs", [])}
        metadata.setdefault("Callback", {})["OutputParameters"] = [
            {"Name": p["Name"], "Value": p.get("Value", "")} for p in outcome.get("outputs", [])]
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


# --- immediate steps --------------------------------------------------------------------------------

def _condition(ctx: StepContext, step, scope: Scope) -> StepResult:
    try:
        outcome = evaluate_all(step.arguments.get("Conditions") or [], scope)
    except ExpressionError as exc:
        raise StepFailed(str(exc)) from None
    return StepResult({"Condition": {"Outcome": "True" if outcome else "False"}}, {"Outcome": outcome},
                      outcome=outcome)


def _fail(ctx: StepContext, step, scope: Scope) -> StepResult:
    try:
        message = stringify(evaluate(step.arguments.get("ErrorMessage", ""), scope))
    except ExpressionError as exc:
        message = str(exc)
    raise StepFailed(message, "Fail", {"Fail": {"ErrorMessage": message}})


def _model(ctx: StepContext, step, scope: Scope) -> StepResult:
    from emulator.core import models
    request = arguments(step, scope)
    request["ModelName"] = job_name(ctx.execution_id, step.name).lower()
    created = call("CreateModel", models.create_model, ctx, request)
    return StepResult({"Model": {"Arn": created["ModelArn"]}}, created)


def _register_model(ctx: StepContext, step, scope: Scope) -> StepResult:
    from emulator.core import model_registry
    request = arguments(step, scope)
    for key in ("ModelPackageName", "CertifyForMarketplace", "Description"):
        request.pop(key, None)
    group = request.get("ModelPackageGroupName")
    if group and model_registry.find_group(ctx.services, group, ctx.region) is None:
        # RegisterModel creates the group when it does not exist yet.
        model_registry.create_group(ctx.services, ctx.region, {"ModelPackageGroupName": group})
    package = call("CreateModelPackage", model_registry.create_package, ctx, request)
    return StepResult({"RegisterModel": {"Arn": package["ModelPackageArn"]}}, package)


def _not_yet(what: str):
    def run(ctx: StepContext, step, scope: Scope) -> StepResult:
        raise StepFailed(f"{what} steps cannot run in the SageMaker Emulator yet; the step was not executed.")
    return run


def _unknown(ctx: StepContext, step, scope: Scope) -> StepResult:
    raise StepFailed(f"Step type {step.type} cannot run in the SageMaker Emulator yet; the step was not executed.")


STEP_TYPES: dict[str, StepType] = {
    "Processing": JobStep(jobs.PROCESSING, "CreateProcessingJob", jobs.create_processing_job),
    "Training": JobStep(jobs.TRAINING, "CreateTrainingJob", jobs.create_training_job),
    "Tuning": TuningStep(),
    "Callback": CallbackStep(),
    "Condition": Immediate(_condition),
    "Fail": Immediate(_fail),
    "Model": Immediate(_model),
    "CreateModel": Immediate(_model),
    "RegisterModel": Immediate(_register_model),
    "Transform": JobStep(jobs.TRANSFORM, "CreateTransformJob", jobs.create_transform_job),
    "Lambda": Immediate(_not_yet("Lambda")),
    "EMR": Immediate(_not_yet("EMR")),
    "ClarifyCheck": Immediate(_not_yet("ClarifyCheck")),
    "QualityCheck": QualityCheckStep(),
    "AutoML": Immediate(_not_yet("AutoML")),
}
UNKNOWN = Immediate(_unknown)


def step_type(step) -> StepType:
    return STEP_TYPES.get(step.type, UNKNOWN)
