"""Alarms through their three states, the events they send, and EventBridge rules that act on them
(a SageMaker pipeline target starting an execution) or on SageMaker's own state changes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from botocore.exceptions import ClientError

from emulator.testing.waiting import wait_until
from tests.jobhelpers import unique
from tests.pipelinehelpers import ROLE, definition, wait_execution


@pytest.fixture
def cw(server):
    return server.client("cloudwatch")


@pytest.fixture
def events(server):
    return server.client("events")


def eventually(read, accept, timeout: float = 30.0, what: str = "condition"):
    """wait_until for a value that `accept` judges (the value itself may be falsy)."""
    def probe():
        value = read()
        return (value,) if accept(value) else None
    return wait_until(probe, timeout=timeout, interval=0.1, what=what)[0]


def alarm_of(cw, name: str) -> dict:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def deliveries(server) -> list[dict]:
    return requests.get(server.endpoint + "/_emulator/events", timeout=10).json()["deliveries"]


def test_alarm_moves_through_ok_alarm_and_insufficient_data(cw):
    namespace, name = unique("Emu/Alarm"), unique("errors-high")
    dims = [{"Name": "Service", "Value": "api"}]
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="too many errors", Namespace=namespace, MetricName="errors",
                        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanThreshold", Tags=[{"Key": "team", "Value": "ml"}])
    alarm = alarm_of(cw, name)
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"

    now = datetime.now(UTC)
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "errors", "Dimensions": dims, "Value": 9.0,
                                                         "Timestamp": now - timedelta(seconds=60)}])
    alarm = eventually(lambda: alarm_of(cw, name), lambda a: a["StateValue"] == "ALARM", what="ALARM")
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [9.0 (")
    reason_data = json.loads(alarm["StateReasonData"])
    assert reason_data["recentDatapoints"] == [9.0] and reason_data["threshold"] == 5.0

    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "errors", "Dimensions": dims, "Value": 1.0}])
    alarm = eventually(lambda: alarm_of(cw, name), lambda a: a["StateValue"] == "OK", what="OK")
    assert "was not greater than the threshold (5.0)" in alarm["StateReason"]

    # The update overwrites the configuration and keeps the state; the next evaluation finds no data.
    cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="silent", Dimensions=dims,
                        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanThreshold")
    alarm = eventually(lambda: alarm_of(cw, name), lambda a: a["StateValue"] == "INSUFFICIENT_DATA",
                       what="INSUFFICIENT_DATA")
    assert alarm["StateReason"] == "Insufficient Data: 1 datapoint was unknown."

    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == ["Alarm updated from OK to INSUFFICIENT_DATA",
                                                      "Alarm updated from ALARM to OK",
                                                      "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    assert json.loads(history[-1]["HistoryData"])["newState"]["stateValue"] == "ALARM"
    configs = cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate",
                                        ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in configs] == [f'Alarm "{name}" created', f'Alarm "{name}" updated']
    assert cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=name, StateValue="INSUFFICIENT_DATA")
            ["MetricAlarms"]] == [name]
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


@pytest.mark.parametrize("treat, state", [("breaching", "ALARM"), ("notBreaching", "OK"),
                                          ("missing", "INSUFFICIENT_DATA"), ("ignore", "INSUFFICIENT_DATA")])
def test_treat_missing_data_on_a_metric_without_data(cw, treat, state):
    name = unique(f"missing-{treat}")
    cw.put_metric_alarm(AlarmName=name, Namespace=unique("Emu/Empty"), MetricName="f1", Statistic="Average",
                        Period=60, EvaluationPeriods=2, Threshold=0.7, ComparisonOperator="LessThanThreshold",
                        TreatMissingData=treat)
    alarm = eventually(lambda: alarm_of(cw, name), lambda a: a["StateValue"] == state, what=state)
    if treat == "breaching":
        assert alarm["StateReason"] == ("Threshold Crossed: no datapoints were received for 2 periods and 2 missing "
                                        "datapoints were treated as [Breaching].")
    if treat in ("missing", "ignore"):
        time.sleep(0.5)  # evaluated at once on creation: nothing changes
        assert alarm_of(cw, name)["StateReason"] == "Unchecked: Initial alarm creation"


def test_set_alarm_state_sends_the_state_change_event(cw, events, server):
    name, rule = unique("manual"), unique("on-manual")
    cw.put_metric_alarm(AlarmName=name, Namespace="Emu/Manual", MetricName="m", Statistic="Sum", Period=3600,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="ignore")
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [name], "state": {"value": ["ALARM"]}}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:alarms",
                                            "InputPath": "$.detail"}])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the wiring",
                       StateReasonData='{"why": "test"}')
    assert alarm_of(cw, name)["StateValue"] == "ALARM"
    found = eventually(lambda: [d for d in deliveries(server) if d["rule"] == rule],
                       lambda d: d and d[0]["status"] == "nowhere", what="delivery")
    detail = json.loads(found[0]["result"]["input"])
    assert detail["alarmName"] == name
    assert detail["state"]["value"] == "ALARM" and detail["state"]["reason"] == "testing the wiring"
    assert detail["state"]["reasonData"] == '{"why": "test"}'
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert detail["configuration"]["metrics"][0]["metricStat"] == {
        "metric": {"namespace": "Emu/Manual", "name": "m", "dimensions": {}}, "period": 3600, "stat": "Sum"}
    # The state set by hand lasts until the next scheduled evaluation (the next hour here), even when
    # data that says otherwise arrives.
    cw.put_metric_data(Namespace="Emu/Manual", MetricData=[{"MetricName": "m", "Value": 0.0}])
    time.sleep(1.0)
    assert alarm_of(cw, name)["StateValue"] == "ALARM"


def test_alarm_rule_starts_a_retraining_pipeline_with_transformed_parameters(cw, events, sagemaker, server):
    pipeline, rule, alarm = unique("retrain"), unique("decay"), unique("f1-low")
    namespace = "aws/sagemaker/Endpoints/model-metrics"
    dims = [{"Name": "Endpoint", "Value": "churn"}, {"Name": "MonitoringSchedule", "Value": unique("hourly")}]
    sagemaker.create_pipeline(PipelineName=pipeline, RoleArn=ROLE, PipelineDefinition=definition(
        [{"Name": "Report", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": [
            {"Get": "Parameters.Reason"}, {"Get": "Parameters.Endpoint"}]}}}}],
        parameters=[{"Name": "Reason", "Type": "String", "DefaultValue": "none"},
                    {"Name": "Endpoint", "Type": "String", "DefaultValue": "none"}]))
    pipeline_arn = sagemaker.describe_pipeline(PipelineName=pipeline)["PipelineArn"]
    cw.put_metric_alarm(AlarmName=alarm, Namespace=namespace, MetricName="f1", Dimensions=dims, Statistic="Average",
                        Period=600, EvaluationPeriods=1, Threshold=0.7,
                        ComparisonOperator="LessThanOrEqualToThreshold", TreatMissingData="breaching")
    # TreatMissingData=breaching sends the alarm to ALARM before any data: bring it to OK first.
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "f1", "Dimensions": dims, "Value": 0.9}])
    eventually(lambda: alarm_of(cw, alarm), lambda a: a["StateValue"] == "OK", what="OK")
    events.put_rule(Name=rule, Description="retrain on decay", EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [alarm], "state": {"value": ["ALARM"]}}}))
    events.put_targets(Rule=rule, Targets=[{
        "Id": "pipeline", "Arn": pipeline_arn, "RoleArn": ROLE,
        "SageMakerPipelineParameters": {"PipelineParameterList": [
            {"Name": "Reason", "Value": "<alarm> is <state>"}, {"Name": "Endpoint", "Value": "$.detail.configuration"
                                                                                        ".metrics[0].metricStat.metric"
                                                                                        ".dimensions.Endpoint"}]},
        "InputTransformer": {"InputPathsMap": {"alarm": "$.detail.alarmName", "state": "$.detail.state.value"},
                             "InputTemplate": '{"alarm": <alarm>}'}}])

    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "f1", "Dimensions": dims, "Value": 0.1},
                                                        {"MetricName": "f1", "Dimensions": dims, "Value": 0.2}])
    eventually(lambda: alarm_of(cw, alarm), lambda a: a["StateValue"] == "ALARM", what="ALARM")
    summaries = eventually(lambda: sagemaker.list_pipeline_executions(PipelineName=pipeline)
                           ["PipelineExecutionSummaries"], lambda s: len(s) == 1, what="an execution")
    arn = summaries[0]["PipelineExecutionArn"]
    params = {p["Name"]: p["Value"] for p in
              sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]}
    assert params == {"Reason": f"{alarm} is ALARM", "Endpoint": "churn"}
    done = wait_execution(sagemaker, arn, timeout=60)
    assert done["PipelineExecutionStatus"] == "Failed"
    (delivery,) = [d for d in deliveries(server) if d["rule"] == rule]
    assert delivery["status"] == "delivered" and delivery["result"]["result"] == arn
    assert json.loads(delivery["result"]["input"]) == {"alarm": alarm}


def test_rules_match_sagemaker_state_change_events(events, sagemaker, server):
    pipeline, rule = unique("failing"), unique("pipeline-events")
    sagemaker.create_pipeline(PipelineName=pipeline, RoleArn=ROLE, PipelineDefinition=definition(
        [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "stop here"}}]))
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [{"suffix": f"/{pipeline}"}]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "sns", "Arn": "arn:aws:sns:us-east-1:000000000000:topic"}])
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
    wait_execution(sagemaker, arn, timeout=60)
    found = eventually(lambda: [d for d in deliveries(server) if d["rule"] == rule], lambda d: len(d) == 1,
                       what="the Failed event")
    event = json.loads(found[0]["result"]["input"])
    assert event["source"] == "aws.sagemaker" and event["account"] == "000000000000"
    assert event["resources"][1] == arn
    assert event["detail"]["pipelineExecutionArn"] == arn
    assert event["detail"]["previousPipelineExecutionStatus"] == "Executing"
    assert event["detail"]["currentPipelineExecutionStatus"] == "Failed"
    assert "executionStartTime" in event["detail"] and "executionEndTime" in event["detail"]


def test_training_job_state_change_event(events, sagemaker, server):
    job, rule = unique("evt-job"), unique("training-events")
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobName": [job], "TrainingJobStatus": ["InProgress"]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "lambda", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                                            "InputTransformer": {
                                                "InputPathsMap": {"job": "$.detail.TrainingJobName",
                                                                  "status": "$.detail.TrainingJobStatus"},
                                                "InputTemplate": '"<job> is <status>"'}}])
    sagemaker.create_training_job(
        TrainingJobName=job, RoleArn=ROLE, Tags=[{"Key": "k", "Value": "v"}],
        AlgorithmSpecification={"TrainingImage": "busybox", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"}, StoppingCondition={"MaxRuntimeInSeconds": 60},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1})
    found = eventually(lambda: [d for d in deliveries(server) if d["rule"] == rule], lambda d: len(d) >= 1,
                       what="the InProgress event")
    assert found[-1]["detailType"] == "SageMaker Training Job State Change"
    assert json.loads(found[-1]["result"]["input"]) == f"{job} is InProgress"
    try:
        sagemaker.stop_training_job(TrainingJobName=job)
    except ClientError:
        pass


def test_eventbridge_api_errors_and_listing(events):
    rule = unique("r")
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name=rule)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["Error"]["Message"] == f"Rule {rule} does not exist on EventBus default."
    with pytest.raises(ClientError) as info:
        events.put_rule(Name=rule, EventPattern='{"source": "aws.ec2"}')
    assert info.value.response["Error"]["Code"] == "InvalidEventPatternException"
    assert info.value.response["Error"]["Message"].startswith("Event pattern is not valid. Reason: ")
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="bad name", EventPattern='{"source": ["x"]}')
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'name' failed to satisfy constraint" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        events.put_rule(Name=rule)
    assert info.value.response["Error"]["Message"] == \
        "Parameter(s) EventPattern or ScheduleExpression must be specified."
    arn = events.put_rule(Name=rule, EventPattern='{"source": ["my.app"]}', State="DISABLED")["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:rule/{rule}"
    described = events.describe_rule(Name=rule)
    assert described["State"] == "DISABLED" and described["EventBusName"] == "default"
    events.enable_rule(Name=rule)
    assert events.describe_rule(Name=rule)["State"] == "ENABLED"
    assert rule in [r["Name"] for r in events.list_rules(NamePrefix=rule[:6])["Rules"]]
    events.put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == ["t1"]
    with pytest.raises(ClientError) as info:
        events.delete_rule(Name=rule)
    assert info.value.response["Error"]["Message"] == "Rule can't be deleted since it has targets."
    events.remove_targets(Rule=rule, Ids=["t1"])
    events.delete_rule(Name=rule)
    with pytest.raises(ClientError):
        events.describe_rule(Name=rule)

    result = events.put_events(Entries=[
        {"Source": "my.app", "DetailType": "thing", "Detail": '{"a": 1}'},
        {"Source": "aws.sagemaker", "DetailType": "thing", "Detail": "{}"},
        {"Source": "my.app", "DetailType": "thing", "Detail": "not json"},
    ])
    assert result["FailedEntryCount"] == 2
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "NotAuthorizedForSourceException"
    assert result["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


def test_put_events_reach_matching_rules_only(events, server):
    rule, other = unique("orders"), unique("other")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["my.shop"], "detail": {
        "amount": [{"numeric": [">=", 100]}], "currency": [{"anything-but": "XXX"}]}}))
    events.put_rule(Name=other, EventPattern=json.dumps({"source": ["my.shop"], "detail": {"amount": [1]}}))
    for name in (rule, other):
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:orders"}])
    events.put_events(Entries=[{"Source": "my.shop", "DetailType": "order", "Detail": json.dumps(d)} for d in (
        {"amount": 150, "currency": "EUR"}, {"amount": 50, "currency": "EUR"}, {"amount": 500, "currency": "XXX"})])
    found = eventually(lambda: [d for d in deliveries(server) if d["rule"] in (rule, other)], lambda d: len(d) >= 1,
                       what="delivery")
    time.sleep(0.3)
    found = [d for d in deliveries(server) if d["rule"] in (rule, other)]
    assert len(found) == 1 and found[0]["rule"] == rule
    assert json.loads(found[0]["result"]["input"])["detail"] == {"amount": 150, "currency": "EUR"}


def test_alarms_and_queued_deliveries_survive_a_kill(own_server):
    """Killed with SIGKILL right after publishing: the delivery was either made or is still queued,
    and a restarted emulator makes it exactly once; alarms keep their state and are evaluated again."""
    sagemaker, events, cw = (own_server.client(n) for n in ("sagemaker", "events", "cloudwatch"))
    sagemaker.create_pipeline(PipelineName="on-event", RoleArn=ROLE, PipelineDefinition=definition(
        [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Order"}}}],
        parameters=[{"Name": "Order", "Type": "String", "DefaultValue": "none"}]))
    arn = sagemaker.describe_pipeline(PipelineName="on-event")["PipelineArn"]
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["my.shop"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "p", "Arn": arn, "SageMakerPipelineParameters": {
        "PipelineParameterList": [{"Name": "Order", "Value": "$.detail.order"}]}}])
    cw.put_metric_alarm(AlarmName="kept", Namespace="Emu/Kill", MetricName="m", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    eventually(lambda: alarm_of(cw, "kept"), lambda a: a["StateValue"] == "OK", what="OK")
    events.put_events(Entries=[{"Source": "my.shop", "DetailType": "order", "Detail": '{"order": "o-1"}'}])
    own_server.restart(kill=True)
    sagemaker, cw = own_server.client("sagemaker"), own_server.client("cloudwatch")
    eventually(lambda: sagemaker.list_pipeline_executions(PipelineName="on-event")["PipelineExecutionSummaries"],
               lambda s: len(s) >= 1, what="the execution")
    time.sleep(1.0)  # a second execution, if the delivery were made twice, would have started by now
    summaries = sagemaker.list_pipeline_executions(PipelineName="on-event")["PipelineExecutionSummaries"]
    assert len(summaries) == 1
    params = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=summaries[0]["PipelineExecutionArn"])["PipelineParameters"]
    assert params == [{"Name": "Order", "Value": "o-1"}]
    assert alarm_of(cw, "kept")["StateValue"] == "OK"
    cw.put_metric_data(Namespace="Emu/Kill", MetricData=[{"MetricName": "m", "Value": 5.0}])
    eventually(lambda: alarm_of(cw, "kept"), lambda a: a["StateValue"] == "ALARM", what="ALARM after restart")
