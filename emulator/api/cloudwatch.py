"""CloudWatch metrics and alarms (the `monitoring` service; JSON 1.0, RPC v2 CBOR and query on the wire)."""

from __future__ import annotations

from emulator.aws.errors import AwsError
from emulator.aws.handlers import RequestContext, handler
from emulator.core.cloudwatch import alarms, metrics
from emulator.core.cloudwatch.metrics import InvalidParameterValue


@handler("cloudwatch", "PutMetricData")
def put_metric_data(ctx: RequestContext, req: dict) -> dict:
    namespace = req["Namespace"]
    if namespace.startswith("AWS/"):
        # The AWS/ namespaces belong to AWS services (PutMetricData API reference).
        raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
    if req.get("MetricData") is None and not req.get("EntityMetricData"):
        raise metrics.MissingParameter("The parameter MetricData is required.")
    batches = [("MetricData", req.get("MetricData") or [])] + [
        (f"EntityMetricData.member.{i}.MetricData", entity.get("MetricData") or [])
        for i, entity in enumerate(req.get("EntityMetricData") or [], start=1)]
    for path, data in batches:
        alarms.metric_data_arrived(ctx.services, metrics.put_metric_data(ctx.services, namespace, data, path=path))
    return {}


@handler("cloudwatch", "GetMetricStatistics")
def get_metric_statistics(ctx: RequestContext, req: dict) -> dict:
    return metrics.get_metric_statistics(ctx.services, req)


@handler("cloudwatch", "GetMetricData")
def get_metric_data(ctx: RequestContext, req: dict) -> dict:
    return metrics.get_metric_data(ctx.services, req)


@handler("cloudwatch", "ListMetrics")
def list_metrics(ctx: RequestContext, req: dict) -> dict:
    return metrics.list_metrics(ctx.services, req)


@handler("cloudwatch", "PutMetricAlarm")
def put_metric_alarm(ctx: RequestContext, req: dict) -> dict:
    alarms.put_metric_alarm(ctx.services, ctx.region, req)
    return {}


@handler("cloudwatch", "DescribeAlarms")
def describe_alarms(ctx: RequestContext, req: dict) -> dict:
    return alarms.describe_alarms(ctx.services, req)


@handler("cloudwatch", "DescribeAlarmsForMetric")
def describe_alarms_for_metric(ctx: RequestContext, req: dict) -> dict:
    return {"MetricAlarms": alarms.alarms_for_metric(ctx.services, req)}


@handler("cloudwatch", "DeleteAlarms")
def delete_alarms(ctx: RequestContext, req: dict) -> dict:
    alarms.delete_alarms(ctx.services, req["AlarmNames"])
    return {}


@handler("cloudwatch", "SetAlarmState")
def set_alarm_state(ctx: RequestContext, req: dict) -> dict:
    alarms.set_alarm_state(ctx.services, req)
    return {}


@handler("cloudwatch", "DescribeAlarmHistory")
def describe_alarm_history(ctx: RequestContext, req: dict) -> dict:
    return alarms.describe_history(ctx.services, req)


@handler("cloudwatch", "EnableAlarmActions")
def enable_alarm_actions(ctx: RequestContext, req: dict) -> dict:
    alarms.set_actions_enabled(ctx.services, req["AlarmNames"], True)
    return {}


@handler("cloudwatch", "DisableAlarmActions")
def disable_alarm_actions(ctx: RequestContext, req: dict) -> dict:
    alarms.set_actions_enabled(ctx.services, req["AlarmNames"], False)
    return {}


def _alarm_arn(ctx: RequestContext, arn: str) -> str:
    name = arn.split(":alarm:", 1)[-1]
    alarm = alarms.get(ctx.services, name)
    if alarm is None or alarm["AlarmArn"] != arn:
        raise AwsError("Unknown", code="ResourceNotFoundException", status=404)
    return arn


@handler("cloudwatch", "TagResource")
def tag_resource(ctx: RequestContext, req: dict) -> dict:
    ctx.services.records.add_tags(_alarm_arn(ctx, req["ResourceARN"]), req["Tags"])
    return {}


@handler("cloudwatch", "UntagResource")
def untag_resource(ctx: RequestContext, req: dict) -> dict:
    ctx.services.records.delete_tags(_alarm_arn(ctx, req["ResourceARN"]), req["TagKeys"])
    return {}


@handler("cloudwatch", "ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, req: dict) -> dict:
    return {"Tags": ctx.services.records.list_tags(_alarm_arn(ctx, req["ResourceARN"]))}
