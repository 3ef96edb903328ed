"""Pipeline and execution operations shared by the API handlers (and nothing HTTP-specific).

Start, Stop, Retry and the callback sends only write the execution record; the execution controller
(emulator.pipelines.executor) is woken by that write and does the work."""

from __future__ import annotations

import time
from typing import Any

from emulator.aws.errors import ConflictException, ValidationException
from emulator.core import pipelines as store
from emulator.core.services import Services
from emulator.pipelines.definition import parse
from emulator.pipelines.executor import resolve_experiment_config, typed_parameters
from emulator.pipelines.expressions import iso_time


def definition_text(services: Services, req: dict[str, Any]) -> str | None:
    """The definition from the request: inline, or read from PipelineDefinitionS3Location."""
    if req.get("PipelineDefinition") is not None:
        return req["PipelineDefinition"]
    location = req.get("PipelineDefinitionS3Location")
    if location is None:
        return None
    bucket, key = location["Bucket"], location["ObjectKey"]
    if services.objects.head_object(bucket, key) is None:
        raise ValidationException(f"Pipeline definition s3://{bucket}/{key} does not exist.")
    with services.objects.open_object(bucket, key) as f:
        return f.read().decode()


def start_execution(services: Services, region: str, req: dict[str, Any]) -> str:
    pipeline = store.get_pipeline(services, req["PipelineName"])
    name = pipeline["PipelineName"]
    token = req.get("ClientRequestToken")
    if token:
        for existing in store.executions_of(services, name):
            if existing.get("_token") == token:
                return existing["PipelineExecutionArn"]  # idempotent retry of the same Start
    version = req.get("PipelineVersionId") or pipeline.get("_version", 1)
    text = store.version_definition(services, name, int(version))
    definition = parse(text)
    parameters = typed_parameters(definition, req.get("PipelineParameters") or [])
    execution_id = store.new_execution_id()
    arn = f"{pipeline['PipelineArn']}/execution/{execution_id}"
    now = time.time()
    variables = {"PipelineExecutionId": execution_id, "PipelineExecutionArn": arn, "PipelineName": name,
                 "PipelineArn": pipeline["PipelineArn"], "StartDateTime": iso_time(now)}
    experiment = resolve_experiment_config(definition, parameters, variables)
    selected = None
    selective = req.get("SelectiveExecutionConfig")
    steps_state: dict[str, Any] = {}
    if selective:
        selected, steps_state = _selective(services, definition, selective)
    body = {
        "PipelineArn": pipeline["PipelineArn"], "PipelineExecutionArn": arn,
        "PipelineExecutionDisplayName": req.get("PipelineExecutionDisplayName") or f"execution-{int(now * 1000)}",
        "PipelineExecutionStatus": "Executing", "PipelineExecutionDescription": req.get("PipelineExecutionDescription"),
        "PipelineExperimentConfig": experiment, "CreationTime": now, "LastModifiedTime": now,
        "CreatedBy": {}, "LastModifiedBy": {},
        "ParallelismConfiguration": req.get("ParallelismConfiguration") or pipeline.get("ParallelismConfiguration"),
        "SelectiveExecutionConfig": selective, "PipelineVersionId": int(version),
        "_pipeline": name, "_definition": text, "_parameters": parameters, "_token": token,
        "_given_parameters": {p["Name"]: p["Value"] for p in req.get("PipelineParameters") or []},
        "_steps": steps_state, "_selected": selected,
    }
    if experiment:
        _ensure_experiment(services, region, experiment)
    store.insert_execution(services, body)
    services.records.update(store.PIPELINE, name, lambda b: b.update(LastRunTime=now))
    return arn


def _selective(services: Services, definition, config: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    selected = [s["StepName"] for s in config.get("SelectedSteps", [])]
    for name in selected:
        if name not in definition.steps:
            raise ValidationException(f"Selected step {name} is not a step of the pipeline.")
    source_arn = config.get("SourcePipelineExecutionArn")
    if not source_arn:
        from emulator.pipelines.graph import build_graph
        graph = build_graph(definition)
        needs = sorted({p for s in selected for p in graph.predecessors(s) if p not in selected})
        if needs:
            raise ValidationException(f"Invalid SourcePipelineExecutionArn: null. The selected steps {selected} "
                                      f"have dependencies on {needs}")
        return selected, {}
    source = store.get_execution(services, source_arn)
    copied = {}
    for name, state in (source.get("_steps") or {}).items():
        if name not in selected and state.get("StepStatus") == "Succeeded":
            copied[name] = {**state, "SelectiveExecutionResult": {"SourcePipelineExecutionArn": source_arn}}
    return selected, copied


def _ensure_experiment(services: Services, region: str, config: dict[str, str]) -> None:
    """PipelineExperimentConfig: create the experiment and trial when they do not exist (§4.9)."""
    try:
        from emulator.core import experiments
    except ImportError:
        return
    exp_name, trial_name = config.get("ExperimentName"), config.get("TrialName")
    if exp_name and experiments.find(services, "Experiment", exp_name, region) is None:
        experiments.create_experiment(services, region, {"ExperimentName": exp_name})
    if trial_name and experiments.find(services, "Trial", trial_name, region) is None:
        experiments.create_trial(services, region, {"TrialName": trial_name, "ExperimentName": exp_name})


def stop_execution(services: Services, arn: str) -> None:
    execution = store.get_execution(services, arn)
    if execution["PipelineExecutionStatus"] in store.TERMINAL_EXECUTION:
        raise ConflictException(f"Pipeline execution {arn} is already in status "
                                f"{execution['PipelineExecutionStatus']}.")

    def change(body: dict) -> None:
        body["PipelineExecutionStatus"] = "Stopping"
        for state in (body.get("_steps") or {}).values():
            if state.get("StepStatus") in ("Starting", "Executing"):
                state["StepStatus"] = "Stopping"
    store.update_execution(services, arn, change)


def retry_execution(services: Services, req: dict[str, Any]) -> None:
    arn = req["PipelineExecutionArn"]
    execution = store.get_execution(services, arn)
    if execution["PipelineExecutionStatus"] not in ("Failed", "Stopped"):
        raise ConflictException(f"Pipeline execution {arn} is in status {execution['PipelineExecutionStatus']}; "
                                "only Failed or Stopped executions can be retried.")

    def change(body: dict) -> None:
        body["PipelineExecutionStatus"] = "Executing"
        body.pop("FailureReason", None)
        if req.get("ParallelismConfiguration"):
            body["ParallelismConfiguration"] = req["ParallelismConfiguration"]
        # Succeeded steps keep their results; failed and stopped ones run again with new jobs.
        body["_steps"] = {n: s for n, s in (body.get("_steps") or {}).items() if s.get("StepStatus") == "Succeeded"}
    store.update_execution(services, arn, change)


def send_callback(services: Services, token: str, outcome: dict[str, Any]) -> str:
    """Record a callback step's outcome in its state (it survives a restart); the step ends on the
    execution's next sync."""
    arn, step = store.find_callback(services, token)

    def change(body: dict) -> None:
        state = (body.get("_steps") or {}).get(step) or {}
        if state.get("StepStatus") not in ("Starting", "Executing", "Stopping") or state.get("_callback") != token:
            raise ValidationException(f"Callback token {token} is no longer valid: step {step} is "
                                      f"{state.get('StepStatus')}.")
        state["_callback_outcome"] = outcome
    store.update_execution(services, arn, change)
    return arn


def parameters_for_execution(execution: dict[str, Any]) -> list[dict[str, str]]:
    given = execution.get("_given_parameters") or {}
    out = []
    for name, value in execution["_parameters"].items():
        if name in given:
            out.append({"Name": name, "Value": given[name]})
        else:
            out.append({"Name": name, "Value": _render_default(value)})
    return out


def _render_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

