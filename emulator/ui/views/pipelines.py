"""Pipelines -> pipeline (executions, definition versions) -> execution: the step graph coloured by
step status, redrawn every two seconds while the execution runs, and a panel per step with its
Input, Output, Logs and Info. Stop and Retry call the functions StopPipelineExecution and
RetryPipelineExecution call."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import arns, browse
from emulator.core import pipelines as store
from emulator.pipelines import control
from emulator.pipelines.definition import Definition, parse, references, step_expressions
from emulator.pipelines.expressions import ExpressionError, Scope, evaluate, iso_time
from emulator.pipelines.graph import build_graph
from emulator.ui import format as fmt
from emulator.ui import joblogs, svg
from emulator.ui.layout import Layout, layout
from emulator.ui.pages import Ctx, Html, NotFound, page, url
from emulator.ui.views.jobs import JOB_TYPES

PAGE_SIZE = 50
TABS = ("input", "output", "logs", "info")
ACTIVE_STEP = ("Starting", "Executing", "Stopping")
JOB_SLUGS = {t.kind: t.slug for t in JOB_TYPES.values()}
_EXECUTION_FIELDS = ["PipelineExecutionArn", "PipelineExecutionDisplayName", "PipelineExecutionStatus",
                     "CreationTime", "LastModifiedTime", "FailureReason", "PipelineVersionId"]


@page("/pipelines", nav="Pipelines", order=10)
def pipeline_list(ctx: Ctx) -> Html:
    listing = browse.page(ctx.services, store.PIPELINE, ["PipelineName", "PipelineDescription", "CreationTime",
                                                         "LastRunTime", "_version"],
                          name_contains=ctx.arg("name") or None, offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    return Html("pipelines.html", {"section": "pipelines", "page": listing, "name": ctx.arg("name")})


def _pipeline(ctx: Ctx, name: str) -> dict[str, Any]:
    try:
        return store.get_pipeline(ctx.services, name)
    except AwsError:
        raise NotFound(f"There is no pipeline named {name!r}.") from None


def _execution_prefix(ctx: Ctx, pipeline: dict[str, Any] | None, name: str) -> str:
    arn = pipeline["PipelineArn"] if pipeline else arns.sagemaker_arn("Pipeline", name, ctx.region,
                                                                      ctx.services.account_id)
    return f"{arn}/execution/"


@page("/pipelines/{name}")
def pipeline_detail(ctx: Ctx, name: str) -> Html:
    pipeline = _pipeline(ctx, name)
    executions = browse.page(ctx.services, store.EXECUTION, _EXECUTION_FIELDS,
                             name_prefix=_execution_prefix(ctx, pipeline, name), offset=ctx.int_arg("offset"),
                             limit=PAGE_SIZE)
    versions = store.versions(ctx.services, pipeline["PipelineName"])
    definition = parse(pipeline["PipelineDefinition"])
    return Html("pipeline.html", {
        "section": "pipelines", "pipeline": pipeline, "executions": executions, "versions": versions[::-1],
        "parameters": list(definition.parameters.values()),
        "graph": _graph_svg(definition, pipeline["PipelineDefinition"], {}, None)})


@page("/pipelines/{name}/versions/{version:int}")
def pipeline_version(ctx: Ctx, name: str, version: int) -> Html:
    pipeline = _pipeline(ctx, name)
    try:
        text = store.version_definition(ctx.services, pipeline["PipelineName"], version)
    except AwsError:
        raise NotFound(f"Pipeline {name!r} has no version {version}.") from None
    definition = parse(text)
    return Html("pipeline_version.html", {
        "section": "pipelines", "pipeline": pipeline, "version": version,
        "versions": store.versions(ctx.services, pipeline["PipelineName"]),
        "definition": fmt.pretty(text), "graph": _graph_svg(definition, text, {}, None)})


# --- executions --------------------------------------------------------------------------------

def _execution(ctx: Ctx, name: str, execution_id: str) -> dict[str, Any]:
    pipeline = None
    try:
        pipeline = store.get_pipeline(ctx.services, name)
    except AwsError:
        pass  # a deleted pipeline's executions stay readable
    arn = _execution_prefix(ctx, pipeline, name) + execution_id
    try:
        return store.get_execution(ctx.services, arn)
    except AwsError:
        raise NotFound(f"Pipeline {name!r} has no execution {execution_id!r}.") from None


def _step_href(name: str, execution_id: str, step: str, tab: str | None = None) -> str:
    return url("pipelines", name, "executions", execution_id, step=step, tab=tab)


_layouts: OrderedDict[str, Layout] = OrderedDict()
_layouts_lock = threading.Lock()


def _layout_of(definition: Definition, text: str) -> Layout:
    """Layouts are pure functions of the definition: cache the recent ones (executions are polled)."""
    key = hashlib.sha256(text.encode()).hexdigest()
    with _layouts_lock:
        if key in _layouts:
            _layouts.move_to_end(key)
            return _layouts[key]
    result = layout(build_graph(definition))
    with _layouts_lock:
        _layouts[key] = result
        while len(_layouts) > 32:
            _layouts.popitem(last=False)
    return result


def _graph_svg(definition: Definition, text: str, steps: dict[str, Any], link) -> Any:
    """The step graph; `link(step)` gives each step's panel URL (None: a definition, no statuses)."""
    nodes = {}
    for name, step in definition.steps.items():
        state = steps.get(name) or {}
        status = state.get("StepStatus", "NotStarted") if link else "Defined"
        branch = "" if step.branch is None else ("true" if step.branch else "false")
        nodes[name] = svg.StepNode(name, step.type, status, link(name) if link else "#", "CacheHitResult" in state,
                                   branch)
    return svg.dag(_layout_of(definition, text), nodes, interactive=link is not None)


def _live_context(ctx: Ctx, name: str, execution_id: str, body: dict[str, Any]) -> dict[str, Any]:
    definition = parse(body["_definition"])
    steps = body.get("_steps") or {}
    status = body["PipelineExecutionStatus"]
    counts: dict[str, int] = {}
    for step in definition.steps:
        key = (steps.get(step) or {}).get("StepStatus", "NotStarted")
        counts[key] = counts.get(key, 0) + 1
    return {
        "execution": body, "status": status, "live": not fmt.is_terminal(status), "counts": counts,
        "pipeline_name": name, "execution_id": execution_id,
        "live_url": url("pipelines", name, "executions", execution_id, "live"),
        "graph": _graph_svg(definition, body["_definition"], steps,
                            lambda step: _step_href(name, execution_id, step)),
        "can_stop": status == "Executing", "can_retry": status in ("Failed", "Stopped"), "error": None,
        "action_url": url("pipelines", name, "executions", execution_id)}


@page("/pipelines/{name}/executions/{execution_id}")
def execution_detail(ctx: Ctx, name: str, execution_id: str) -> Html:
    body = _execution(ctx, name, execution_id)
    step = ctx.arg("step")
    panel = _step_panel(ctx, name, execution_id, body, step, ctx.arg("tab")) if step else None
    if panel is not None and ctx.arg("fragment"):
        return Html("_step_panel.html", {"p": panel})
    return Html("execution.html", {
        "section": "pipelines", "p": panel,
        "parameters": control.parameters_for_execution(body),
        **_live_context(ctx, name, execution_id, body)})


@page("/pipelines/{name}/executions/{execution_id}/live")
def execution_live(ctx: Ctx, name: str, execution_id: str) -> Html:
    body = _execution(ctx, name, execution_id)
    return Html("_execution_live.html", _live_context(ctx, name, execution_id, body))


@page("/pipelines/{name}/executions/{execution_id}/stop", method="POST")
def execution_stop(ctx: Ctx, name: str, execution_id: str) -> Html:
    return _act(ctx, name, execution_id, lambda arn: control.stop_execution(ctx.services, arn))


@page("/pipelines/{name}/executions/{execution_id}/retry", method="POST")
def execution_retry(ctx: Ctx, name: str, execution_id: str) -> Html:
    return _act(ctx, name, execution_id,
                lambda arn: control.retry_execution(ctx.services, {"PipelineExecutionArn": arn}))


def _act(ctx: Ctx, name: str, execution_id: str, action) -> Html:
    """Stop or Retry through the functions the API handlers call; a refusal is shown above the graph."""
    arn = _execution(ctx, name, execution_id)["PipelineExecutionArn"]
    error, status = None, 200
    try:
        action(arn)
    except AwsError as err:
        error, status = err.message, err.status
    body = _execution(ctx, name, execution_id)
    return Html("_execution_live.html", {**_live_context(ctx, name, execution_id, body), "error": error}, status)


# --- the step panel ----------------------------------------------------------------------------

def _step_panel(ctx: Ctx, name: str, execution_id: str, body: dict[str, Any], step_name: str,
                tab: str) -> dict[str, Any]:
    definition = parse(body["_definition"])
    step = definition.steps.get(step_name)
    if step is None:
        raise NotFound(f"Execution {execution_id!r} of pipeline {name!r} has no step {step_name!r}.")
    state = (body.get("_steps") or {}).get(step_name) or {}
    status = state.get("StepStatus", "NotStarted")
    job = state.get("_job")
    if tab not in TABS:
        tab = "logs" if status == "Failed" and job else "info"
    panel: dict[str, Any] = {
        "step": step, "state": state, "status": status, "tab": tab, "tabs": TABS,
        "tab_href": lambda t: _step_href(name, execution_id, step_name, t),
        "live": not fmt.is_terminal(body["PipelineExecutionStatus"]) or status in ACTIVE_STEP,
        "job": job, "job_slug": JOB_SLUGS.get(job["kind"]) if job else None,
        "metadata": state.get("Metadata") or {}}
    if tab == "input":
        panel.update(_input(ctx, body, definition, step, state))
    elif tab == "output":
        panel.update(_output(ctx, body, definition, step, state))
    elif tab == "logs" and job and JOB_SLUGS.get(job["kind"]) in ("training", "processing"):
        kind = JOB_TYPES[JOB_SLUGS[job["kind"]]]
        record = ctx.services.records.get(kind.kind, job["name"]) or {}
        panel["tail"] = joblogs.tail(ctx.services, kind.log_group, job["name"], after=None,
                                     ended=record.get(kind.end_field), hosts=joblogs.instance_count(record))
        panel["log_url"] = url("jobs", kind.slug, job["name"], "logs")
    return panel


def _scope(ctx: Ctx, body: dict[str, Any], state: dict[str, Any]) -> Scope:
    steps = body.get("_steps") or {}

    def properties(step: str) -> dict[str, Any]:
        found = steps.get(step) or {}
        if found.get("StepStatus") != "Succeeded":
            raise ExpressionError(f"Step {step} has not succeeded in this execution (yet).")
        return found.get("_properties") or {}
    arn = body["PipelineExecutionArn"]
    variables = {"PipelineExecutionId": arn.rsplit("/", 1)[-1], "PipelineExecutionArn": arn,
                 "PipelineName": body["_pipeline"], "PipelineArn": body["PipelineArn"],
                 "StartDateTime": iso_time(body["CreationTime"])}
    return Scope(parameters=body["_parameters"], execution=variables,
                 experiment=body.get("PipelineExperimentConfig") or {}, step_properties=properties,
                 read_json=lambda uri: _read_json(ctx, uri),
                 current_job_name=(state.get("_job") or {}).get("name"))


def _read_json(ctx: Ctx, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        if ctx.services.objects.head_object(bucket, key) is None:
            raise ExpressionError(f"File {uri} does not exist.")
        with ctx.services.objects.open_object(bucket, key) as f:
            return json.load(f)
    except (ValueError, AwsError, OSError) as exc:  # AwsError includes S3Error (no such bucket)
        raise ExpressionError(f"Cannot read {uri}: {exc}") from None


def _input(ctx: Ctx, body: dict[str, Any], definition: Definition, step, state: dict[str, Any]) -> dict:
    _, params, _ = references(step_expressions(step))
    used = {p: body["_parameters"].get(p) for p in sorted(params)}
    resolved, unresolved = None, None
    try:
        resolved = evaluate(step_expressions(step), _scope(ctx, body, state))
    except ExpressionError as exc:
        unresolved = str(exc)
    return {"parameters_used": used, "arguments": fmt.pretty(step_expressions(step)),
            "resolved": fmt.pretty(resolved) if resolved is not None else None, "unresolved": unresolved}


def _output(ctx: Ctx, body: dict[str, Any], definition: Definition, step, state: dict[str, Any]) -> dict:
    props = state.get("_properties") or {}
    s3_outputs: list[tuple[str, str]] = []
    model = (props.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model:
        s3_outputs.append(("model artifacts", model))
    for output in (props.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        uri = (output.get("S3Output") or {}).get("S3Uri")
        if uri:
            s3_outputs.append((output.get("OutputName", "output"), uri))
    property_files = []
    for spec in step.raw.get("PropertyFiles") or []:
        output = next((o for o in (props.get("ProcessingOutputConfig") or {}).get("Outputs") or []
                       if o.get("OutputName") == spec.get("OutputName")), None)
        uri = None
        if output:
            uri = output["S3Output"]["S3Uri"].rstrip("/") + "/" + spec.get("FilePath", "").lstrip("/")
        content = None
        if uri and state.get("StepStatus") == "Succeeded":
            try:
                content = fmt.pretty(_read_json(ctx, uri))
            except ExpressionError as exc:
                content = str(exc)
        property_files.append({"name": spec.get("PropertyFileName"), "uri": uri, "content": content})
    return {"metrics": props.get("FinalMetricDataList") or [], "s3_outputs": s3_outputs,
            "property_files": property_files,
            "properties": fmt.pretty({k: v for k, v in props.items() if not k.startswith("_")}) if props else None}

