"""The pipeline execution controller: one sync walks an execution as far as it can go now.

A sync reads the execution record (its definition snapshot, parameters and per-step state), looks
again at every running step (its job or tuning job ended? its callback arrived? its retry is due?),
records what ended, starts the steps that became ready (all predecessors Succeeded, not pruned by a
Condition) up to MaxParallelExecutionSteps, and ends the execution when nothing runs and nothing is
ready. Steps never block: one waiting for a child resource registers with the waiter registry and
the child's next change syncs the execution again; a retry asks for a requeue at its time. Every
transition is persisted in the execution record, so a restarted emulator carries on where it was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import networkx as nx

from emulator.core import arns
from emulator.core import pipelines as store
from emulator.core.objectstore import S3UriError, parse_s3_uri
from emulator.core.services import Services
from emulator.pipelines import cache
from emulator.pipelines.definition import Definition
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate, iso_time, stringify
from emulator.pipelines.graph import Plan, plan, pruned_by_condition
from emulator.pipelines.retry import RETRYABLE_TYPES, matching_policy, retry_delay
from emulator.pipelines.steps import StepFailed, StepResult, step_type
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key

log = logging.getLogger(__name__)

EXECUTION_FAILURE = "Step failure: One or multiple steps failed."
RUNNING = ("Starting", "Executing", "Stopping")
# Per-attempt state, dropped when a step is retried.
ATTEMPT_STATE = ("_job", "_callback", "_callback_outcome", "_cache_key")


class ExecutionContext:
    """One execution as its steps see it during a sync (emulator.pipelines.steps.StepContext)."""

    def __init__(self, controller: ExecutionController, arn: str, plan: Plan, body: dict[str, Any]) -> None:
        self.controller = controller
        self.services = controller.services
        self.arn = arn
        self.plan = plan
        self.body = body
        self.region = arns.region_of(arn)
        self.execution_id = arns.arn_resource_name(arn)

    def set_step(self, name: str, **fields: Any) -> None:
        def change(body: dict) -> None:
            state = body.setdefault("_steps", {}).setdefault(name, {"StepName": name})
            state.update({k: v for k, v in fields.items() if v is not None})
            for key in [k for k, v in fields.items() if v is None]:
                state.pop(key, None)
        self.body = store.update_execution(self.services, self.arn, change)

    def experiment_config(self) -> dict[str, Any] | None:
        return self.body.get("PipelineExperimentConfig")

    def wait_for(self, kind: str, name: str) -> bool:
        return self.controller.wait_for((kind, name), (store.EXECUTION, self.arn))

    def scope(self) -> Scope:
        body = self.body
        steps = body.get("_steps", {})

        def properties(name: str) -> dict[str, Any]:
            state = steps.get(name)
            if not state or state.get("StepStatus") != "Succeeded":
                raise ExpressionError(f"Step {name} has no properties: it has not succeeded in this execution.")
            return state.get("_properties", {})

        def property_file_uri(step_name: str, file_name: str) -> str:
            step = self.plan.definition.steps[step_name]
            spec = next(f for f in step.raw.get("PropertyFiles", []) if f.get("PropertyFileName") == file_name)
            props = properties(step_name)
            outputs = props.get("ProcessingOutputConfig", {}).get("Outputs", [])
            output = next((o for o in outputs if o.get("OutputName") == spec.get("OutputName")), None)
            if output is None:
                raise ExpressionError(f"Output {spec.get('OutputName')} of step {step_name} does not exist.")
            return output["S3Output"]["S3Uri"].rstrip("/") + "/" + spec["FilePath"].lstrip("/")
        experiment = body.get("PipelineExperimentConfig") or {}
        return Scope(parameters=body["_parameters"], execution=self._execution_variables(body),
                     experiment=experiment, step_properties=properties, read_json=self.read_json,
                     property_file_uri=property_file_uri)

    def _execution_variables(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineExecutionId": self.execution_id, "PipelineExecutionArn": self.arn,
                "PipelineName": body["_pipeline"], "PipelineArn": body["PipelineArn"],
                "StartDateTime": iso_time(body["CreationTime"])}

    def read_json(self, uri: str) -> Any:
        try:
            bucket, key = parse_s3_uri(uri)
        except S3UriError as exc:
            raise ExpressionError(str(exc)) from None
        objects = self.services.objects
        if objects.head_object(bucket, key) is None:
            raise ExpressionError(f"File {uri} does not exist.")
        with objects.open_object(bucket, key) as f:
            try:
                return json.load(f)
            except ValueError:
                raise ExpressionError(f"Contents of file {uri} are not in valid JSON format.") from None

    def check_cache(self, step, resolved: dict[str, Any]) -> tuple[str | None, StepResult | None]:
        key = cache.cache_key(step.type, resolved)
        on, max_age = cache.enabled(step.raw)
        if key is None or not on:
            return key, None
        hit = cache.find_hit(store.executions_of(self.services, self.body["_pipeline"]), self.arn, step.name,
                             key, max_age)
        if hit is None:
            return key, None
        source, state = hit
        result = StepResult(state.get("Metadata") or {}, state.get("_properties") or {})
        result.extra.update({"CacheHitResult": {"SourcePipelineExecutionArn": source["PipelineExecutionArn"]},
                             "_cache_key": key})
        return key, result


class ExecutionController(Controller):
    kinds = (store.EXECUTION,)
    workers = 2

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.plans: dict[str, Plan] = {}

    def keys(self) -> Iterable[Key]:
        for execution in store.all_executions(self.services):
            if execution.get("PipelineExecutionStatus") not in store.TERMINAL_EXECUTION:
                yield store.EXECUTION, execution["PipelineExecutionArn"]

    def reset(self) -> None:
        self.plans.clear()

    def give_up(self, key: Key, error: Exception) -> None:
        self._finish(key[1], "Failed", f"Internal error in the emulator: {error}")

    def _plan(self, arn: str, body: dict[str, Any]) -> Plan:
        found = self.plans.get(arn)
        if found is None:
            found = self.plans[arn] = plan(body["_definition"])
        return found

    # --- the sync ---------------------------------------------------------------------------------
    def sync(self, key: Key) -> Requeue | None:
        arn = key[1]
        body = self.services.records.get(store.EXECUTION, arn)
        if body is None or body["PipelineExecutionStatus"] in store.TERMINAL_EXECUTION:
            self.plans.pop(arn, None)
            return None
        ctx = ExecutionContext(self, arn, self._plan(arn, body), body)
        wake_at: list[float] = []
        while True:
            body = ctx.body
            stopping = body["PipelineExecutionStatus"] == "Stopping"
            running = [n for n, s in body.get("_steps", {}).items()
                       if s.get("StepStatus") in RUNNING and n in ctx.plan.definition.steps]
            wake_at = []
            progressed = False
            for name in running:
                outcome = self._advance(ctx, name, stopping)
                if isinstance(outcome, float):
                    wake_at.append(outcome)
                elif outcome is not None:
                    self._record(ctx, name, outcome, stopping)
                    progressed = True
            if progressed:
                continue
            steps = ctx.body.get("_steps", {})
            failed = any(s.get("StepStatus") in ("Failed", "Stopped") for s in steps.values())
            running = [n for n, s in steps.items() if s.get("StepStatus") in RUNNING]
            ready = [] if stopping or failed else self._ready(ctx)
            room = self._parallelism(ctx.body) - len(running)
            if ready and room > 0:
                for name in ready[:room]:
                    self._start(ctx, name)
                continue
            if not running:
                if stopping:
                    self._finish(arn, "Stopped")
                elif failed:
                    self._finish(arn, "Failed", EXECUTION_FAILURE)
                else:
                    self._finish(arn, "Succeeded")
                return None
            return Requeue(at=min(wake_at)) if wake_at else None

    def _parallelism(self, body: dict[str, Any]) -> int:
        config = body.get("ParallelismConfiguration") or {}
        return int(config.get("MaxParallelExecutionSteps") or 1_000_000)

    def _ready(self, ctx: ExecutionContext) -> list[str]:
        body, definition, graph = ctx.body, ctx.plan.definition, ctx.plan.graph
        steps = body.get("_steps", {})
        pruned: set[str] = set()
        for name, state in steps.items():
            if state.get("StepStatus") == "Succeeded" and name in definition.steps \
                    and definition.steps[name].type == "Condition":
                outcome = state.get("_properties", {}).get("Outcome")
                pruned |= pruned_by_condition(definition, graph, name, bool(outcome))
        selected = body.get("_selected")
        ready = []
        for name in nx.topological_sort(graph):
            if name in steps or name in pruned:
                continue
            if selected is not None and name not in selected:
                continue
            if all(steps.get(p, {}).get("StepStatus") == "Succeeded" for p in graph.predecessors(name)):
                ready.append(name)
        return ready

    def _start(self, ctx: ExecutionContext, name: str) -> None:
        step = ctx.plan.definition.steps[name]
        fields: dict[str, Any] = {"StepStatus": "Starting", "StartTime": time.time(), "AttemptCount": 1,
                                  "Metadata": {}}
        if step.raw.get("DisplayName"):
            fields["StepDisplayName"] = step.raw["DisplayName"]
        if step.raw.get("Description"):
            fields["StepDescription"] = step.raw["Description"]
        ctx.set_step(name, **fields)

    def _advance(self, ctx: ExecutionContext, name: str, stopping: bool) -> StepResult | StepFailed | float | None:
        """Look again at a running step: its outcome, the time its retry is due, or None (still waiting)."""
        step = ctx.plan.definition.steps[name]
        kind = step_type(step)
        state = ctx.body["_steps"][name]
        try:
            if stopping:
                if "_retry_at" in state or kind.stop(ctx, state):
                    return StepFailed("Step stopped.", "Stopped")
                return kind.check(ctx, step, state)
            if "_retry_at" in state:
                if time.time() < state["_retry_at"]:
                    return state["_retry_at"]
                ctx.set_step(name, _retry_at=None)
                state = ctx.body["_steps"][name]
            if state.get("StepStatus") != "Executing":
                ctx.set_step(name, StepStatus="Executing")
                state = ctx.body["_steps"][name]
            if "_job" in state or "_callback" in state:
                return kind.check(ctx, step, state)
            return kind.begin(ctx, step, state)
        except StepFailed as failure:
            if stopping:
                return failure
            delay = self._retry_delay(ctx, step, failure, state)
            if delay is None:
                return failure
            ctx.set_step(name, AttemptCount=state.get("AttemptCount", 1) + 1, Metadata={},
                         _retry_at=time.time() + delay, **{k: None for k in ATTEMPT_STATE})
            return ctx.body["_steps"][name]["_retry_at"]
        except Exception as exc:
            log.exception("step %s of %s crashed", name, ctx.arn)
            return StepFailed(f"Internal error in the emulator: {exc}")

    def _retry_delay(self, ctx: ExecutionContext, step, failure: StepFailed, state: dict[str, Any]) -> float | None:
        """Seconds to wait before the next attempt, or None when no retry policy applies (§4.7)."""
        if step.type not in RETRYABLE_TYPES or not failure.exception_type:
            return None
        attempt = state.get("AttemptCount", 1)
        started = state.get("StartTime") or time.time()
        policy = matching_policy(step.raw.get("RetryPolicies"), failure.exception_type)
        if policy is not None:
            return retry_delay(policy, attempt, time.time() - started)
        kind = failure.exception_type.split(".", 1)[-1]
        failure.reason = (f"{failure.reason}\nRetry not appropriate on execution of step with PipelineExecutionArn "
                          f"{ctx.arn} and StepId {step.name}. No retry policy configured for the exception type "
                          f"{failure.exception_type.split('.')[0].upper()}_{kind}.")
        return None

    def _record(self, ctx: ExecutionContext, name: str, outcome: StepResult | StepFailed, stopping: bool) -> None:
        now = time.time()
        if isinstance(outcome, StepResult):
            ctx.set_step(name, StepStatus="Succeeded", EndTime=now, Metadata=outcome.metadata,
                         _properties=outcome.properties, **outcome.extra)
            return
        status = "Stopped" if outcome.exception_type == "Stopped" or stopping else "Failed"
        fields: dict[str, Any] = {"StepStatus": status, "EndTime": now}
        if outcome.metadata is not None:
            fields["Metadata"] = outcome.metadata
        if outcome.reason and status == "Failed":
            fields["FailureReason"] = outcome.reason[:1024]
        ctx.set_step(name, **fields)

    def _finish(self, arn: str, status: str, reason: str | None = None) -> None:
        def change(body: dict) -> None:
            if body["PipelineExecutionStatus"] in store.TERMINAL_EXECUTION:
                return
            body["PipelineExecutionStatus"] = status
            if reason and status == "Failed":
                body["FailureReason"] = reason
            else:
                body.pop("FailureReason", None)
        store.update_execution(self.services, arn, change)


def typed_parameters(definition: Definition, supplied: list[dict[str, str]]) -> dict[str, Any]:
    """Parameter values as their declared types; StartPipelineExecution errors as the service words them."""
    from emulator.aws.errors import ValidationException
    given = {}
    for item in supplied or []:
        if item["Name"] not in definition.parameters:
            raise ValidationException(f"Unknown parameter '{item['Name']}'")
        given[item["Name"]] = item["Value"]
    out: dict[str, Any] = {}
    for name, spec in definition.parameters.items():
        kind = spec.get("Type", "String")
        if name in given:
            text = given[name]
            if text == "":
                raise ValidationException(f'Parameter {name} value "" is too short (length: 0, required minimum: 1).')
            try:
                value: Any = {"Integer": int, "Float": float, "String": str,
                              "Boolean": lambda t: _boolean(t, name)}[kind](text)
            except ValueError:
                raise ValidationException(f"Parameter {name} value {text!r} is not a valid {kind}.") from None
        elif "DefaultValue" in spec:
            value = spec["DefaultValue"]
        else:
            raise ValidationException(f"Parameter '{name}' is undefined.")
        if spec.get("EnumValues") and value not in spec["EnumValues"]:
            raise ValidationException(f"Parameter {name} value {value!r} is not one of {spec['EnumValues']}.")
        out[name] = value
    return out


def _boolean(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(name)
    return lowered == "true"


def resolve_experiment_config(definition: Definition, parameters: dict[str, Any],
                              variables: dict[str, Any]) -> dict[str, str] | None:
    config = definition.experiment_config
    if not config:
        return None
    scope = Scope(parameters=parameters, execution=variables)
    return {key: stringify(evaluate(config[key], scope)) for key in ("ExperimentName", "TrialName") if key in config}
