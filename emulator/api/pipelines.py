"""SageMaker Pipelines operations (thin: behaviour lives in emulator.pipelines and core.pipelines)."""

from __future__ import annotations

from emulator.aws.errors import ValidationException
from emulator.aws.handlers import RequestContext, handler
from emulator.core import pipelines as store
from emulator.core.listing import decode_token, encode_token
from emulator.pipelines import control
from emulator.pipelines.graph import plan

SUMMARY = ("PipelineArn", "PipelineName", "PipelineDisplayName", "PipelineDescription", "RoleArn", "CreationTime",
           "LastModifiedTime", "LastExecutionTime")


def _page(items: list, req: dict, default_max: int = 50) -> tuple[list, str | None]:
    start = decode_token(req.get("NextToken"))
    limit = req.get("MaxResults") or default_max
    return items[start:start + limit], (encode_token(start + limit) if start + limit < len(items) else None)


@handler("sagemaker", "CreatePipeline")
def create_pipeline(ctx: RequestContext, req: dict) -> dict:
    text = control.definition_text(ctx.services, req)
    if text is None:
        raise ValidationException("Either PipelineDefinition or PipelineDefinitionS3Location must be specified.")
    plan(text)
    body = store.create_pipeline(ctx.services, ctx.region, req, text)
    return {"PipelineArn": body["PipelineArn"]}


@handler("sagemaker", "UpdatePipeline")
def update_pipeline(ctx: RequestContext, req: dict) -> dict:
    text = control.definition_text(ctx.services, req)
    if text is not None:
        plan(text)
    body = store.update_pipeline(ctx.services, req, text)
    return {"PipelineArn": body["PipelineArn"], "PipelineVersionId": body["_version"]}


@handler("sagemaker", "DescribePipeline")
def describe_pipeline(ctx: RequestContext, req: dict) -> dict:
    body = dict(store.get_pipeline(ctx.services, req["PipelineName"]))
    if req.get("PipelineVersionId"):
        body["PipelineDefinition"] = store.version_definition(ctx.services, body["PipelineName"],
                                                              int(req["PipelineVersionId"]))
    return body


@handler("sagemaker", "DeletePipeline")
def delete_pipeline(ctx: RequestContext, req: dict) -> dict:
    body = store.delete_pipeline(ctx.services, req["PipelineName"])
    return {"PipelineArn": body["PipelineArn"]}


@handler("sagemaker", "ListPipelines")
def list_pipelines(ctx: RequestContext, req: dict) -> dict:
    from emulator.aws.serialize import to_epoch
    items = ctx.services.records.list(store.PIPELINE)
    prefix = req.get("PipelineNamePrefix")
    if prefix:
        items = [p for p in items if p["PipelineName"].startswith(prefix)]
    if req.get("CreatedAfter") is not None:
        items = [p for p in items if p["CreationTime"] > to_epoch(req["CreatedAfter"])]
    if req.get("CreatedBefore") is not None:
        items = [p for p in items if p["CreationTime"] < to_epoch(req["CreatedBefore"])]
    key = "PipelineName" if req.get("SortBy") == "Name" else "CreationTime"
    items.sort(key=lambda p: p[key], reverse=(req.get("SortOrder") or "Descending") == "Descending")
    for p in items:
        p["LastExecutionTime"] = p.get("LastRunTime")
    page, token = _page(items, req)
    return {"PipelineSummaries": [{k: p[k] for k in SUMMARY if p.get(k) is not None} for p in page],
            "NextToken": token}


@handler("sagemaker", "ListPipelineVersions")
def list_pipeline_versions(ctx: RequestContext, req: dict) -> dict:
    pipeline = store.get_pipeline(ctx.services, req["PipelineName"])
    versions = store.versions(ctx.services, pipeline["PipelineName"])
    # Newest first by default: the SDK reads [0] of MaxResults=1 as the latest version.
    versions.sort(key=lambda v: v["version"], reverse=(req.get("SortOrder") or "Descending") == "Descending")
    page, token = _page(versions, req)
    return {"PipelineVersionSummaries": [{
        "PipelineArn": pipeline["PipelineArn"], "PipelineVersionId": v["version"], "CreationTime": v["created"],
        "PipelineVersionDisplayName": v["display_name"], "PipelineVersionDescription": v["description"]}
        for v in page], "NextToken": token}


@handler("sagemaker", "StartPipelineExecution")
def start_pipeline_execution(ctx: RequestContext, req: dict) -> dict:
    return {"PipelineExecutionArn": control.start_execution(ctx.services, ctx.region, req)}


@handler("sagemaker", "DescribePipelineExecution")
def describe_pipeline_execution(ctx: RequestContext, req: dict) -> dict:
    return store.get_execution(ctx.services, req["PipelineExecutionArn"])


@handler("sagemaker", "ListPipelineExecutions")
def list_pipeline_executions(ctx: RequestContext, req: dict) -> dict:
    from emulator.aws.serialize import to_epoch
    pipeline = store.get_pipeline(ctx.services, req["PipelineName"])
    items = store.executions_of(ctx.services, pipeline["PipelineName"])
    if req.get("CreatedAfter") is not None:
        items = [e for e in items if e["CreationTime"] > to_epoch(req["CreatedAfter"])]
    if req.get("CreatedBefore") is not None:
        items = [e for e in items if e["CreationTime"] < to_epoch(req["CreatedBefore"])]
    key = "PipelineExecutionArn" if req.get("SortBy") == "PipelineExecutionArn" else "CreationTime"
    items.sort(key=lambda e: e[key], reverse=(req.get("SortOrder") or "Descending") == "Descending")
    page, token = _page(items, req)
    return {"PipelineExecutionSummaries": [{
        "PipelineExecutionArn": e["PipelineExecutionArn"], "StartTime": e["CreationTime"],
        "PipelineExecutionStatus": e["PipelineExecutionStatus"],
        "PipelineExecutionDescription": e.get("PipelineExecutionDescription"),
        "PipelineExecutionDisplayName": e.get("PipelineExecutionDisplayName"),
        "PipelineExecutionFailureReason": e.get("FailureReason")} for e in page], "NextToken": token}


@handler("sagemaker", "ListPipelineExecutionSteps")
def list_pipeline_execution_steps(ctx: RequestContext, req: dict) -> dict:
    execution = store.get_execution(ctx.services, req["PipelineExecutionArn"])
    steps = [store.public_step(s) for s in (execution.get("_steps") or {}).values()]
    # Newest first by default (list_steps()[0] is the last step started).
    steps.sort(key=lambda s: s.get("StartTime") or 0, reverse=(req.get("SortOrder") or "Descending") == "Descending")
    if not req.get("MaxResults") and not req.get("NextToken"):
        return {"PipelineExecutionSteps": steps}  # the SDK never paginates: one page
    page, token = _page(steps, req)
    return {"PipelineExecutionSteps": page, "NextToken": token}


@handler("sagemaker", "ListPipelineParametersForExecution")
def list_pipeline_parameters_for_execution(ctx: RequestContext, req: dict) -> dict:
    execution = store.get_execution(ctx.services, req["PipelineExecutionArn"])
    page, token = _page(control.parameters_for_execution(execution), req)
    return {"PipelineParameters": page, "NextToken": token}


@handler("sagemaker", "DescribePipelineDefinitionForExecution")
def describe_pipeline_definition_for_execution(ctx: RequestContext, req: dict) -> dict:
    execution = store.get_execution(ctx.services, req["PipelineExecutionArn"])
    return {"PipelineDefinition": execution["_definition"], "CreationTime": execution["CreationTime"]}


@handler("sagemaker", "StopPipelineExecution")
def stop_pipeline_execution(ctx: RequestContext, req: dict) -> dict:
    control.stop_execution(ctx.services, req["PipelineExecutionArn"])
    return {"PipelineExecutionArn": req["PipelineExecutionArn"]}


@handler("sagemaker", "RetryPipelineExecution")
def retry_pipeline_execution(ctx: RequestContext, req: dict) -> dict:
    control.retry_execution(ctx.services, req)
    return {"PipelineExecutionArn": req["PipelineExecutionArn"]}


@handler("sagemaker", "UpdatePipelineExecution")
def update_pipeline_execution(ctx: RequestContext, req: dict) -> dict:
    def change(body: dict) -> None:
        for key in ("PipelineExecutionDescription", "PipelineExecutionDisplayName", "ParallelismConfiguration"):
            if req.get(key) is not None:
                body[key] = req[key]
    store.update_execution(ctx.services, req["PipelineExecutionArn"], change)
    return {"PipelineExecutionArn": req["PipelineExecutionArn"]}


@handler("sagemaker", "SendPipelineExecutionStepSuccess")
def send_step_success(ctx: RequestContext, req: dict) -> dict:
    arn = control.send_callback(ctx.services, req["CallbackToken"], {"outputs": req.get("OutputParameters") or []})
    return {"PipelineExecutionArn": arn}


@handler("sagemaker", "SendPipelineExecutionStepFailure")
def send_step_failure(ctx: RequestContext, req: dict) -> dict:
    arn = control.send_callback(ctx.services, req["CallbackToken"],
                                {"failure": req.get("FailureReason") or "Callback step failed."})
    return {"PipelineExecutionArn": arn}
