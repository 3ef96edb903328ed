"""A real endpoint publishes what SageMaker publishes: its invocation metrics in CloudWatch namespace
AWS/SageMaker (an alarm on Invocations fires) and "SageMaker Endpoint State Change" events that an
EventBridge rule receives, with the DescribeEndpoint response as detail."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from emulator.testing.waiting import wait_until
from tests.inference_helpers import deploy, echo_image

pytestmark = pytest.mark.docker


def deliveries(server, rule: str) -> list[dict]:
    """What the rule delivered, oldest first (the emulator lists the newest first)."""
    found = requests.get(server.endpoint + "/_emulator/events", timeout=10).json()["deliveries"]
    return [d for d in reversed(found) if d["rule"] == rule]


def test_endpoint_metrics_alarm_and_state_change_events(server):
    sagemaker, runtime = server.client("sagemaker"), server.client("sagemaker-runtime")
    cloudwatch, events = server.client("cloudwatch"), server.client("events")
    name, rule, alarm = (f"{prefix}-{uuid.uuid4().hex[:8]}" for prefix in ("metered", "endpoint-events", "busy"))
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {"EndpointName": [name]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": "arn:aws:sns:us-east-1:000000000000:endpoints"}])
    dimensions = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    cloudwatch.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="Invocations",
                                Dimensions=dimensions, Statistic="Sum", Period=60, EvaluationPeriods=1,
                                Threshold=4, ComparisonOperator="GreaterThanOrEqualToThreshold")
    try:
        described = deploy(sagemaker, name, [{"VariantName": "AllTraffic", "Image": echo_image(),
                                              "InitialInstanceCount": 2}])
        assert described["EndpointStatus"] == "InService", described

        # The rule saw Creating and then InService, each with the Describe response as detail.
        def statuses() -> list[dict] | None:
            found = [json.loads(d["result"]["input"]) for d in deliveries(server, rule)]
            return found if any(e["detail"]["EndpointStatus"] == "InService" for e in found) else None
        received = wait_until(statuses, timeout=30, interval=0.2, what="the InService event")
        assert [e["detail"]["EndpointStatus"] for e in received] == ["Creating", "InService"]
        in_service = received[-1]
        assert in_service["source"] == "aws.sagemaker" and in_service["detail-type"] == "SageMaker Endpoint State Change"
        assert in_service["resources"] == [described["EndpointArn"]]
        detail = in_service["detail"]
        assert detail["EndpointArn"] == described["EndpointArn"]
        assert detail["EndpointConfigName"] == described["EndpointConfigName"]
        assert detail["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        assert abs(detail["CreationTime"] - described["CreationTime"].timestamp() * 1000) <= 1  # epoch ms

        for _ in range(10):
            runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
        with pytest.raises(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(EndpointName=name, Body=b"x", CustomAttributes="status=400")

        def statistics(metric: str) -> dict | None:
            """The metric's statistics over the last hour (whatever minutes the calls fell in)."""
            now = datetime.now(UTC)
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dimensions, Period=60,
                StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5),
                Statistics=["Sum", "SampleCount", "Minimum", "Maximum"])["Datapoints"]
            count = sum(p["SampleCount"] for p in points)
            if count != 11:
                return None
            total = sum(p["Sum"] for p in points)
            return {"Sum": total, "Average": total / count, "Unit": points[0]["Unit"],
                    "Minimum": min(p["Minimum"] for p in points), "Maximum": max(p["Maximum"] for p in points)}
        invocations = wait_until(lambda: statistics("Invocations"), timeout=60, interval=0.5,
                                 what="eleven invocations in CloudWatch")
        assert invocations["Sum"] == 11 and invocations["Unit"] == "None"
        assert statistics("InvocationsPerInstance")["Sum"] == pytest.approx(5.5)
        for metric in ("Invocation4XXErrors", "InvocationModelErrors"):
            errors = statistics(metric)
            assert (errors["Sum"], errors["Maximum"]) == (1, 1)
            assert errors["Average"] == pytest.approx(1 / 11)
        assert statistics("Invocation5XXErrors")["Sum"] == 0
        latency = statistics("ModelLatency")
        assert latency["Unit"] == "Microseconds" and 0 < latency["Minimum"] <= latency["Average"] <= latency["Maximum"]
        listed = cloudwatch.list_metrics(Namespace="AWS/SageMaker", Dimensions=[dimensions[0]])["Metrics"]
        assert {m["MetricName"] for m in listed} == {
            "Invocations", "InvocationsPerInstance", "Invocation4XXErrors", "Invocation5XXErrors",
            "InvocationModelErrors", "ModelLatency", "OverheadLatency"}

        # Eleven invocations in a minute (at least four in one, if the minute turned meanwhile) set it off.
        def fired() -> dict | None:
            state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
            return state if state["StateValue"] == "ALARM" else None
        state = wait_until(fired, timeout=60, interval=0.5, what="the alarm on Invocations")
        assert "Threshold Crossed" in state["StateReason"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
        try:
            sagemaker.delete_endpoint(EndpointName=name)
            sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name,
                                                          WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
        except sagemaker.exceptions.ClientError:
            pass
    deleting = wait_until(lambda: [e for e in (json.loads(d["result"]["input"]) for d in deliveries(server, rule))
                                   if e["detail"]["EndpointStatus"] == "Deleting"] or None,
                          timeout=30, interval=0.2, what="the Deleting event")
    assert deleting[0]["detail"]["EndpointName"] == name
