"""sagemaker-metrics (REST-JSON): BatchPutMetrics and BatchGetMetrics over the trial-component
metric store."""

from __future__ import annotations

from emulator.aws.errors import ResourceNotFound
from emulator.aws.handlers import RequestContext, handler
from emulator.core import experiments, metrics
from emulator.core.arns import arn_resource_name


@handler("sagemaker-metrics", "BatchPutMetrics")
def batch_put_metrics(ctx: RequestContext, req: dict) -> dict:
    name = req["TrialComponentName"]
    if experiments.find(ctx.services, experiments.COMPONENT, name, ctx.region) is None:
        raise ResourceNotFound(f"Trial component {name} does not exist.")
    return {"Errors": metrics.put(ctx.services, name, req["MetricData"])}


@handler("sagemaker-metrics", "BatchGetMetrics")
def batch_get_metrics(ctx: RequestContext, req: dict) -> dict:
    results = []
    for query in req["MetricQueries"]:
        hit = ctx.services.records.get_by_arn(query["ResourceArn"])
        if hit is None or hit[0] != experiments.COMPONENT:
            results.append({"Status": "ValidationError", "XAxisValues": [], "MetricValues": [],
                            "Message": f"Resource {query['ResourceArn']} does not exist."})
            continue
        results.append(metrics.query(ctx.services, arn_resource_name(query["ResourceArn"]), query))
    return {"MetricQueryResults": results}
