"""Model Monitor's control plane: job definitions, monitoring schedules, executions (behaviour in
emulator.core.monitoring; the runs themselves in emulator.runtime.controllers.schedules)."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core.monitoring import definitions, executions, schedules
from emulator.core.monitoring.definitions import DATA_QUALITY, MODEL_QUALITY


def _definition_handlers(monitoring_type: str) -> None:
    noun = f"{monitoring_type}JobDefinition"

    @handler("sagemaker", f"Create{noun}")
    def create(ctx: RequestContext, req: dict) -> dict:
        return {"JobDefinitionArn": definitions.create(ctx.services, ctx.region, monitoring_type, req)["JobDefinitionArn"]}

    @handler("sagemaker", f"Describe{noun}")
    def describe(ctx: RequestContext, req: dict) -> dict:
        return definitions.describe(ctx.services, ctx.region, monitoring_type, req["JobDefinitionName"])

    @handler("sagemaker", f"Delete{noun}")
    def delete(ctx: RequestContext, req: dict) -> dict:
        definitions.delete(ctx.services, ctx.region, monitoring_type, req["JobDefinitionName"])
        return {}

    @handler("sagemaker", f"List{noun}s")
    def list_(ctx: RequestContext, req: dict) -> dict:
        summaries, token = definitions.list_definitions(ctx.services, monitoring_type, req)
        return {"JobDefinitionSummaries": summaries, "NextToken": token}


for _type in (DATA_QUALITY, MODEL_QUALITY):
    _definition_handlers(_type)


@handler("sagemaker", "CreateMonitoringSchedule")
def create_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    return {"MonitoringScheduleArn": schedules.create(ctx.services, ctx.region, req)["MonitoringScheduleArn"]}


@handler("sagemaker", "DescribeMonitoringSchedule")
def describe_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    body = schedules.require(ctx.services, ctx.region, req["MonitoringScheduleName"])
    last = executions.latest(ctx.services, body["MonitoringScheduleName"])
    return {**body, "LastMonitoringExecutionSummary": last} if last else body


@handler("sagemaker", "UpdateMonitoringSchedule")
def update_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    return {"MonitoringScheduleArn": schedules.update(ctx.services, ctx.region, req)["MonitoringScheduleArn"]}


@handler("sagemaker", "StopMonitoringSchedule")
def stop_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    schedules.stop(ctx.services, ctx.region, req["MonitoringScheduleName"])
    return {}


@handler("sagemaker", "StartMonitoringSchedule")
def start_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    schedules.start(ctx.services, ctx.region, req["MonitoringScheduleName"])
    return {}


@handler("sagemaker", "DeleteMonitoringSchedule")
def delete_monitoring_schedule(ctx: RequestContext, req: dict) -> dict:
    schedules.delete(ctx.services, ctx.region, req["MonitoringScheduleName"])
    return {}


@handler("sagemaker", "ListMonitoringSchedules")
def list_monitoring_schedules(ctx: RequestContext, req: dict) -> dict:
    summaries, token = schedules.list_schedules(ctx.services, req)
    return {"MonitoringScheduleSummaries": summaries, "NextToken": token}


@handler("sagemaker", "ListMonitoringExecutions")
def list_monitoring_executions(ctx: RequestContext, req: dict) -> dict:
    summaries, token = executions.list_executions(ctx.services, req)
    return {"MonitoringExecutionSummaries": summaries, "NextToken": token}
