"""Home: how many resources of each kind there are and what happened last."""

from __future__ import annotations

from emulator.core import browse
from emulator.core.cloudwatch import alarms
from emulator.core.endpoints import ENDPOINT
from emulator.core.monitoring import executions as monitoring_executions
from emulator.core.monitoring import schedules
from emulator.ui.pages import Ctx, Html, page, url
from emulator.ui.views.jobs import JOB_TYPES

RECENT = 10
# (record kind, label, list page)
COUNTED = [("Pipeline", "Pipelines", url("pipelines")), ("PipelineExecution", "Pipeline executions", url("pipelines")),
           *[(t.kind, f"{t.label} jobs", url("jobs", t.slug)) for t in JOB_TYPES.values()],
           ("Experiment", "Experiments", url("experiments")), ("TrialComponent", "Runs (trial components)", url("experiments")),
           ("ModelPackageGroup", "Model package groups", url("models")), (ENDPOINT, "Endpoints", url("endpoints")),
           (schedules.KIND, "Monitoring schedules", url("monitoring")),
           (alarms.KIND, "CloudWatch alarms", url("monitoring"))]


@page("/", nav="Home", order=0)
def home(ctx: Ctx) -> Html:
    counts = browse.counts(ctx.services)
    activity = []
    for kind in JOB_TYPES.values():
        listing = browse.page(ctx.services, kind.kind, [kind.name_field, kind.status_field], limit=RECENT)
        activity += [{"created": r["created"], "what": f"{kind.label} job", "name": r["name"],
                      "status": r[kind.status_field], "href": url("jobs", kind.slug, r["name"])}
                     for r in listing.rows]
    executions = browse.page(ctx.services, "PipelineExecution", ["PipelineExecutionStatus", "_pipeline"],
                             limit=RECENT)
    for r in executions.rows:
        execution_id = r["name"].rsplit("/", 1)[-1]
        activity.append({"created": r["created"], "what": "Pipeline execution",
                         "name": f"{r['_pipeline']} / {execution_id}", "status": r["PipelineExecutionStatus"],
                         "href": url("pipelines", r["_pipeline"], "executions", execution_id)})
    endpoints = browse.page(ctx.services, ENDPOINT, ["EndpointStatus"], limit=RECENT)
    activity += [{"created": r["created"], "what": "Endpoint", "name": r["name"], "status": r["EndpointStatus"],
                  "href": url("endpoints", r["name"])} for r in endpoints.rows]
    runs = browse.page(ctx.services, monitoring_executions.KIND, ["MonitoringScheduleName", "MonitoringExecutionStatus"],
                       limit=RECENT)
    activity += [{"created": r["created"], "what": "Monitoring execution", "name": r["MonitoringScheduleName"],
                  "status": r["MonitoringExecutionStatus"], "href": url("monitoring", "schedules", r["MonitoringScheduleName"])}
                 for r in runs.rows]
    activity.sort(key=lambda a: a["created"], reverse=True)
    return Html("home.html", {"section": "", "counts": [(label, counts.get(kind, 0), href)
                                                       for kind, label, href in COUNTED],
                              "activity": activity[:RECENT]})
