"""The pipeline executor: one small loop per execution over the networkx plan.

When a step ends, the loop records it, works out which successors are ready (all predecessors
Succeeded, not pruned by a Condition), and starts them up to MaxParallelExecutionSteps. Each step
runs in its own thread through emulator.pipelines.steps. Step state is persisted on every
transition inside the execution record, so a restarted emulator resumes executions where they were.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import networkx as nx

from emulator.core import jobs
from emulator.core import pipelines as store
from emulator.core.services import Services
from emulator.pipelines import cache
from emulator.pipelines.definition import Definition, parse
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate, iso_time, stringify
from emulator.pipelines.graph import build_graph, pruned_by_condition
from emulator.pipelines.retry import RETRYABLE_TYPES, matching_policy, retry_delay
from emulator.pipelines.steps import StepFailed, StepResult, run_step

log = logging.getLogger(__name__)

EXECUTION_FAILURE = "Step failure: One or multiple steps failed."


class ExecutionRun:
    def __init__(self, engine: PipelineEngine, arn: str) -> None:
        self.engine = engine
        self.services = engine.services
        self.arn = arn
        body = store.get_execution(self.services, arn)
        self.region = arn.split(":")[3]
        self.execution_id = arn.rsplit("/", 1)[-1]
        self.definition: Definition = parse(body["_definition"])
        self.graph: nx.DiGraph = build_graph(self.definition)
        self.events: queue.Queue = queue.Queue()
        self.stop_event = threading.Event()
        self.running: dict[str, threading.Thread] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._callback_events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # --- state helpers -------------------------------------------------------------------------
    def body(self) -> dict[str, Any]:
        return store.get_execution(self.services, self.arn)

    def set_step(self, name: str, **fields: Any) -> None:
        def change(body: dict) -> None:
            state = body.setdefault("_steps", {}).setdefault(name, {"StepName": name})
            state.update({k: v for k, v in fields.items() if v is not None})
            for key in [k for k, v in fields.items() if v is None]:
                state.pop(key, None)
        store.update_execution(self.services, self.arn, change)

    def experiment_config(self) -> dict[str, Any] | None:
        return self.body().get("PipelineExperimentConfig")

    def scope(self) -> Scope:
        body = self.body()
        steps = body.get("_steps", {})

        def properties(name: str) -> dict[str, Any]:
            state = steps.get(name)
            if not state or state.get("StepStatus") != "Succeeded":
                raise ExpressionError(f"Step {name} has no properties: it has not succeeded in this execution.")
            return state.get("_properties", {})

        def property_file_uri(step_name: str, file_name: str) -> str:
            step = self.definition.steps[step_name]
            spec = next(f for f in step.raw.get("PropertyFiles", []) if f.get("PropertyFileName") == file_name)
            props = properties(step_name)
            outputs = props.get("ProcessingOutputConfig", {}).get("Outputs", [])
            output = next((o for o in outputs if o.get("OutputName") == spec.get("OutputName")), None)
            if output is None:
                raise ExpressionError(f"Output {spec.get('OutputName')} of step {step_name} does not exist.")
            return output["S3Output"]["S3Uri"].rstrip("/") + "/" + spec["FilePath"].lstrip("/")
        experiment = body.get("PipelineExperimentConfig") or {}
        return Scope(parameters=body["_parameters"], execution=self._execution_variables(body),
                     experiment=experiment, step_properties=properties, read_json=self.engine.read_json,
                     property_file_uri=property_file_uri)

    def _execution_variables(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineExecutionId": self.execution_id, "PipelineExecutionArn": self.arn,
                "PipelineName": body["_pipeline"], "PipelineArn": body["PipelineArn"],
                "StartDateTime": iso_time(body["CreationTime"])}

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - an execution must never hang in Executing
            if self.engine.resetting:
                return  # POST /_emulator/reset wiped the execution under us
            log.exception("pipeline execution %s crashed", self.arn)
            try:
                self._finish("Failed", f"Internal error in the emulator: {exc}")
            except Exception:  # noqa: BLE001
                log.exception("cannot record the failure of %s", self.arn)
        finally:
            self.engine.forget(self.arn)

    def _loop(self) -> None:
        self._resume_steps()
        while True:
            body = self.body()
            steps = body.get("_steps", {})
            stopping = body["PipelineExecutionStatus"] == "Stopping" or self.stop_event.is_set()
            failed = any(s.get("StepStatus") in ("Failed", "Stopped") for s in steps.values())
            if not stopping and not failed:
                for name in self._ready(body):
                    if len(self.running) >= self._parallelism(body):
                        break
                    self._start(name)
            if not self.running:
                if stopping:
                    self._finish("Stopped")
                elif failed:
                    self._finish("Failed", EXECUTION_FAILURE)
                elif not self._ready(self.body()):
                    self._finish("Succeeded")
                else:
                    continue
                return
            name, outcome = self.events.get()
            if name == "__wake__":  # a Stop request: re-check the execution status
                continue
            self.running.pop(name, None)
            self._record(name, outcome)

    def _parallelism(self, body: dict[str, Any]) -> int:
        config = body.get("ParallelismConfiguration") or {}
        return int(config.get("MaxParallelExecutionSteps") or 1_000_000)

    def _ready(self, body: dict[str, Any]) -> list[str]:
        steps = body.get("_steps", {})
        pruned: set[str] = set()
        for name, state in steps.items():
            if state.get("StepStatus") == "Succeeded" and name in self.definition.steps \
                    and self.definition.steps[name].type == "Condition":
                outcome = state.get("_properties", {}).get("Outcome")
                pruned |= pruned_by_condition(self.definition, self.graph, name, bool(outcome))
        selected = body.get("_selected")
        ready = []
        for name in nx.topological_sort(self.graph):
            if name in steps or name in pruned or name in self.running:
                continue
            if selected is not None and name not in selected:
                continue
            preds = list(self.graph.predecessors(name))
            if all(steps.get(p, {}).get("StepStatus") == "Succeeded" for p in preds):
                ready.append(name)
        return ready

    def _start(self, name: str) -> None:
        step = self.definition.steps[name]
        fields: dict[str, Any] = {"StepStatus": "Starting", "StartTime": time.time(), "AttemptCount": 1,
                                  "Metadata": {}}
        if step.raw.get("DisplayName"):
            fields["StepDisplayName"] = step.raw["DisplayName"]
        if step.raw.get("Description"):
            fields["StepDescription"] = step.raw["Description"]
        self.set_step(name, **fields)
        thread = threading.Thread(target=self._run_step, args=(name,), name=f"step-{name}", daemon=True)
        self.running[name] = thread
        thread.start()

    def _run_step(self, name: str, resume: dict[str, Any] | None = None) -> None:
        step = self.definition.steps[name]
        started = time.time()
        attempt = 1
        while True:
            try:
                self.set_step(name, StepStatus="Executing")
                if resume is not None:
                    result, resume = self._resume_job(resume), None
                else:
                    result = run_step(self, step, self.scope(), self.stop_event)
                self.events.put((name, result))
                return
            except StepFailed as failure:
                delay = self._retry_delay(step, failure, attempt, started)
                if delay is None or self.stop_event.is_set():
                    self.events.put((name, failure))
                    return
                attempt += 1
                self.set_step(name, AttemptCount=attempt, Metadata={})
                if self.stop_event.wait(delay):
                    self.events.put((name, StepFailed("Step stopped.", "Stopped")))
                    return
            except Exception as exc:  # noqa: BLE001
                log.exception("step %s crashed", name)
                self.events.put((name, StepFailed(f"Internal error in the emulator: {exc}")))
                return

    def _retry_delay(self, step, failure: StepFailed, attempt: int, started: float) -> float | None:
        """Seconds to wait before the next attempt, or None when no retry policy applies (§4.7)."""
        if step.type not in RETRYABLE_TYPES or not failure.exception_type:
            return None
        policy = matching_policy(step.raw.get("RetryPolicies"), failure.exception_type)
        if policy is not None:
            return retry_delay(policy, attempt, time.time() - started)
        kind = failure.exception_type.split(".", 1)[-1]
        failure.reason = (f"{failure.reason}\nRetry not appropriate on execution of step with PipelineExecutionArn "
                          f"{self.arn} and StepId {step.name}. No retry policy configured for the exception type "
                          f"{failure.exception_type.split('.')[0].upper()}_{kind}.")
        return None

    def _record(self, name: str, outcome: StepResult | StepFailed) -> None:
        now = time.time()
        if isinstance(outcome, StepResult):
            fields = {"StepStatus": "Succeeded", "EndTime": now, "Metadata": outcome.metadata,
                      "_properties": outcome.properties, **outcome.extra}
            self.set_step(name, **fields)
            return
        status = "Stopped" if outcome.exception_type == "Stopped" or self.stop_event.is_set() else "Failed"
        fields = {"StepStatus": status, "EndTime": now}
        if outcome.metadata is not None:
            fields["Metadata"] = outcome.metadata
        if outcome.reason and status == "Failed":
            fields["FailureReason"] = outcome.reason[:1024]
        self.set_step(name, **fields)

    def _finish(self, status: str, reason: str | None = None) -> None:
        def change(body: dict) -> None:
            body["PipelineExecutionStatus"] = status
            if reason and status == "Failed":
                body["FailureReason"] = reason
            else:
                body.pop("FailureReason", None)
        store.update_execution(self.services, self.arn, change)

    # --- jobs, caching, callbacks (used by the step runners) -----------------------------------
    def note_job(self, step: str, kind: str, name: str, metadata: dict[str, Any]) -> None:
        self.set_step(step, Metadata=metadata, _job={"kind": kind, "name": name})

    def wait_for_job(self, kind: jobs.JobKind, name: str, stop: threading.Event) -> dict[str, Any]:
        event = self.engine.job_event(kind.kind, name)
        stop_sent = False
        while True:
            job = jobs.get_job(self.services, kind, name)
            if job is None:
                raise StepFailed(f"The {kind.noun} {name} disappeared.")
            if job[kind.status_field] in jobs.TERMINAL:
                self.engine.drop_job_event(kind.kind, name)
                return job
            if stop.is_set() and not stop_sent and job[kind.status_field] == "InProgress":
                stop_sent = True
                try:
                    jobs.request_stop(self.services, kind, name)
                except Exception:  # noqa: BLE001 - it may have ended meanwhile
                    pass
            event.wait(1.0)
            event.clear()

    def _resume_job(self, state: dict[str, Any]) -> StepResult:
        from emulator.pipelines.steps import job_outcome
        if state["_job"]["kind"] == "HyperParameterTuningJob":
            from emulator.core import tuning
            return tuning.resume_pipeline_step(self, state, self.stop_event)
        kind = jobs.KINDS[state["_job"]["kind"]]
        final = self.wait_for_job(kind, state["_job"]["name"], self.stop_event)
        result = job_outcome(kind, final, state.get("Metadata") or {})
        if state.get("_cache_key"):
            result.extra["_cache_key"] = state["_cache_key"]
        return result

    def check_cache(self, step, resolved: dict[str, Any]) -> tuple[str | None, StepResult | None]:
        key = cache.cache_key(step.type, resolved)
        on, max_age = cache.enabled(step.raw)
        if key is None or not on:
            return key, None
        hit = cache.find_hit(store.executions_of(self.services, self.body()["_pipeline"]), self.arn, step.name,
                             key, max_age)
        if hit is None:
            return key, None
        source, state = hit
        result = StepResult(state.get("Metadata") or {}, state.get("_properties") or {})
        result.extra.update({"CacheHitResult": {"SourcePipelineExecutionArn": source["PipelineExecutionArn"]},
                             "_cache_key": key})
        return key, result

    def await_callback(self, step: str, token: str, metadata: dict[str, Any]) -> None:
        with self._lock:
            self._callback_events[token] = threading.Event()
        store.register_callback(self.services, token, self.arn, step)
        self.set_step(step, Metadata=metadata, _callback=token)

    def wait_for_callback(self, token: str, stop: threading.Event) -> dict[str, Any]:
        event = self._callback_events.setdefault(token, threading.Event())
        while not event.wait(0.5):
            if stop.is_set():
                raise StepFailed("Step stopped.", "Stopped")
        return self._callbacks.pop(token)

    def deliver_callback(self, token: str, outcome: dict[str, Any]) -> None:
        self._callbacks[token] = outcome
        self._callback_events.setdefault(token, threading.Event()).set()

    # --- restart --------------------------------------------------------------------------------
    def _resume_steps(self) -> None:
        """Steps that were running when the emulator stopped: re-wait their jobs or restart them."""
        for name, state in list(self.body().get("_steps", {}).items()):
            if state.get("StepStatus") not in ("Starting", "Executing", "Stopping"):
                continue
            if name not in self.definition.steps:
                continue
            if state.get("_job"):
                thread = threading.Thread(target=self._run_step, args=(name, state), daemon=True)
            elif state.get("_callback"):
                token = state["_callback"]
                self._callback_events.setdefault(token, threading.Event())
                thread = threading.Thread(target=self._rewait_callback, args=(name, state), daemon=True)
            else:
                thread = threading.Thread(target=self._run_step, args=(name,), daemon=True)
            self.running[name] = thread
            thread.start()

    def _rewait_callback(self, name: str, state: dict[str, Any]) -> None:
        from emulator.pipelines.steps import _typed
        try:
            outcome = self.wait_for_callback(state["_callback"], self.stop_event)
        except StepFailed as failure:
            self.events.put((name, failure))
            return
        if outcome.get("failure") is not None:
            self.events.put((name, StepFailed(outcome["failure"], None, state.get("Metadata"))))
            return
        step = self.definition.steps[name]
        declared = {p.get("OutputName"): p.get("OutputType", "String") for p in step.raw.get("OutputParameters") or []}
        params = {p["Name"]: _typed(p.get("Value", ""), declared.get(p["Name"], "String"))
                  for p in outcome.get("outputs", [])}
        metadata = state.get("Metadata") or {}
        metadata.setdefault("Callback", {})["OutputParameters"] = [
            {"Name": p["Name"], "Value": p.get("Value", "")} for p in outcome.get("outputs", [])]
        self.events.put((name, StepResult(metadata, {"OutputParameters": params})))


class PipelineEngine:
    """Owns the running executions of one emulator."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.runs: dict[str, ExecutionRun] = {}
        self._lock = threading.Lock()
        self._job_events: dict[tuple[str, str], threading.Event] = {}
        self.resetting = False
        services.job_listeners.append(self._on_job_event)
        services.reset_hooks.append(self._stop_all)

    def _stop_all(self) -> None:
        self.resetting = True
        with self._lock:
            arns = list(self.runs)
        for arn in arns:
            self.stop(arn)

    def _on_job_event(self, event: str, kind: str, name: str) -> None:
        if event == "finished":
            with self._lock:
                waiter = self._job_events.get((kind, name))
            if waiter is not None:
                waiter.set()

    def job_event(self, kind: str, name: str) -> threading.Event:
        with self._lock:
            return self._job_events.setdefault((kind, name), threading.Event())

    def drop_job_event(self, kind: str, name: str) -> None:
        with self._lock:
            self._job_events.pop((kind, name), None)

    def launch(self, arn: str) -> None:
        self.resetting = False  # a new execution after a reset: crashes are real again
        run = ExecutionRun(self, arn)
        with self._lock:
            self.runs[arn] = run
        threading.Thread(target=run.run, name=f"pipeline-{arn.rsplit('/', 1)[-1]}", daemon=True).start()

    def forget(self, arn: str) -> None:
        with self._lock:
            self.runs.pop(arn, None)

    def run_of(self, arn: str) -> ExecutionRun | None:
        with self._lock:
            return self.runs.get(arn)

    def stop(self, arn: str) -> None:
        run = self.run_of(arn)
        if run is not None:
            run.stop_event.set()
            run.events.put(("__wake__", StepFailed("wake", "Stopped")))

    def deliver_callback(self, arn: str, token: str, outcome: dict[str, Any]) -> None:
        run = self.run_of(arn)
        if run is not None:
            run.deliver_callback(token, outcome)

    def read_json(self, uri: str) -> Any:
        import json
        from emulator.runtime.staging import StagingError, parse_s3_uri
        try:
            bucket, key = parse_s3_uri(uri)
        except StagingError as exc:
            raise ExpressionError(str(exc)) from None
        store_ = self.services.objects
        if store_.head_object(bucket, key) is None:
            raise ExpressionError(f"File {uri} does not exist.")
        with store_.open_object(bucket, key) as f:
            try:
                return json.load(f)
            except ValueError:
                raise ExpressionError(f"Contents of file {uri} are not in valid JSON format.") from None

    def resume_all(self) -> None:
        for execution in store.all_executions(self.services):
            if execution.get("PipelineExecutionStatus") in ("Executing", "Stopping"):
                try:
                    self.launch(execution["PipelineExecutionArn"])
                except Exception:  # noqa: BLE001
                    log.exception("cannot resume %s", execution["PipelineExecutionArn"])


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
