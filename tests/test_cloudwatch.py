"""CloudWatch metrics and alarms on the emulator's one port, through every protocol a client may speak."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import requests

from emulator.testing.waiting import wait_until
from tests.cloudwatchhelpers import cloudwatch_client
from tests.jobhelpers import error_of, unique
from tests.signing import signed

PROTOCOLS = ["default", "smithy-rpc-v2-cbor", "json", "query"]
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cloudwatch-models")


@pytest.fixture(params=PROTOCOLS)
def cw(request, server, model_dir):
    return cloudwatch_client(server, request.param, model_dir)


def now() -> datetime:
    return datetime.now(UTC)


def test_metrics_round_trip_in_every_protocol(cw):
    namespace = unique("Emu/Test")
    dims = [{"Name": "Endpoint", "Value": "churn"}, {"Name": "MonitoringSchedule", "Value": "hourly"}]
    start = now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "f1", "Dimensions": dims, "Timestamp": start + timedelta(seconds=5), "Value": 0.5},
        {"MetricName": "f1", "Dimensions": dims, "Timestamp": start + timedelta(seconds=15), "Value": 1.5,
         "Unit": "None"},
        {"MetricName": "f1", "Dimensions": dims, "Timestamp": start + timedelta(minutes=1, seconds=5),
         "Values": [1.0, 2.0, 3.0], "Counts": [1, 2, 1]},
        {"MetricName": "latency", "Dimensions": dims[:1], "Timestamp": start,
         "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}, "Unit": "Milliseconds"},
    ])
    stats = cw.get_metric_statistics(Namespace=namespace, MetricName="f1", Dimensions=list(reversed(dims)),
                                     StartTime=start, EndTime=start + timedelta(minutes=5), Period=60,
                                     Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"])
    points = sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])
    assert stats["Label"] == "f1"
    assert [p["Timestamp"] for p in points] == [start, start + timedelta(minutes=1)]
    assert points[0] | {"Timestamp": None} == {"Timestamp": None, "SampleCount": 2.0, "Average": 1.0, "Sum": 2.0,
                                                "Minimum": 0.5, "Maximum": 1.5, "Unit": "None"}
    assert points[1]["SampleCount"] == 4.0 and points[1]["Sum"] == 8.0 and points[1]["Average"] == 2.0

    percentiles = cw.get_metric_statistics(Namespace=namespace, MetricName="f1", Dimensions=dims,
                                           StartTime=start, EndTime=start + timedelta(minutes=5), Period=300,
                                           ExtendedStatistics=["p50", "p99", "tm50", "TC(:1.5)", "PR(:2)"])
    (point,) = percentiles["Datapoints"]
    # samples 0.5, 1.5, 1, 2, 2, 3
    assert point["ExtendedStatistics"] == {"p50": 1.5, "p99": 3.0, "tm50": 1.0, "TC(:1.5)": 3.0,
                                           "PR(:2)": pytest.approx(100 * 5 / 6)}

    data = cw.get_metric_data(MetricDataQueries=[
        {"Id": "f1", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "f1", "Dimensions": dims},
                                    "Period": 60, "Stat": "Maximum"}},
        {"Id": "lat", "Label": "latency", "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": "latency", "Dimensions": dims[:1]},
            "Period": 300, "Stat": "Average"}},
    ], StartTime=start, EndTime=start + timedelta(minutes=5), ScanBy="TimestampAscending")
    results = {r["Id"]: r for r in data["MetricDataResults"]}
    assert results["f1"]["Values"] == [1.5, 3.0] and results["f1"]["StatusCode"] == "Complete"
    assert results["f1"]["Timestamps"] == [start, start + timedelta(minutes=1)]
    assert results["lat"]["Values"] == [2.5] and results["lat"]["Label"] == "latency"

    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["f1", "latency"]
    filtered = cw.list_metrics(Namespace=namespace, Dimensions=[{"Name": "MonitoringSchedule"}])["Metrics"]
    assert [m["MetricName"] for m in filtered] == ["f1"]
    assert cw.list_metrics(Namespace=namespace, RecentlyActive="PT3H")["Metrics"]


def test_validation_and_errors_are_worded_as_aws_in_every_protocol(cw):
    namespace = unique("Emu/Test")
    err = error_of(cw.put_metric_data, Namespace=namespace,
                   MetricData=[{"MetricName": "m", "Value": 1.0, "Values": [1.0]}])
    assert err["Code"] == "InvalidParameterValue" and err["status"] == 400
    assert err["Message"] == ("The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually "
                              "exclusive and you have specified both.")
    err = error_of(cw.put_metric_data, Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1.0}])
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(cw.get_metric_statistics, Namespace=namespace, MetricName="m", StartTime=now(),
                   EndTime=now() - timedelta(hours=1), Period=60, Statistics=["Sum"])
    assert err["Message"] == "The parameter StartTime must be less than the parameter EndTime."
    err = error_of(cw.get_metric_statistics, Namespace=namespace, MetricName="m", StartTime=now() - timedelta(days=2),
                   EndTime=now(), Period=60, Statistics=["Sum"])
    assert err["Code"] == "InvalidParameterCombination"
    assert err["Message"].startswith("You have requested up to 2,88")
    err = error_of(cw.set_alarm_state, AlarmName=unique("missing"), StateValue="ALARM", StateReason="x")
    assert err["Code"] == "ResourceNotFound" and err["status"] == 404
    err = error_of(cw.put_metric_alarm, AlarmName=unique("a"), MetricName="m", Namespace=namespace,
                   Statistic="Average", Period=60, EvaluationPeriods=1, DatapointsToAlarm=2, Threshold=1.0,
                   ComparisonOperator="GreaterThanThreshold")
    assert err["Code"] == "ValidationError"
    assert err["Message"] == "DatapointsToAlarm must be less than or equal to EvaluationPeriods."


def test_model_violations_use_cloudwatch_s_validation_error_code(cw):
    # `TreatMissingData` has a length constraint botocore does not check on the client.
    err = error_of(cw.put_metric_alarm, AlarmName=unique("a"), MetricName="m", Namespace="Emu/Test",
                   Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1.0,
                   ComparisonOperator="GreaterThanThreshold", TreatMissingData="x" * 300)
    assert err["Code"] == "ValidationError"
    assert "Member must have length less than or equal to 255" in err["Message"]


def query_call(server, form: dict) -> requests.Response:
    """A query-protocol request as the AWS CLI v1 sends it: a signed form post, CloudWatch's signing name."""
    return signed("POST", server.endpoint + "/", urlencode(form), {"Content-Type": FORM}, service="monitoring",
                  timeout=10)


def test_raw_query_protocol_request(server):
    namespace = unique("Emu/Raw")
    form = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": namespace,
            "MetricData.member.1.MetricName": "requests", "MetricData.member.1.Value": "3",
            "MetricData.member.1.Dimensions.member.1.Name": "Host",
            "MetricData.member.1.Dimensions.member.1.Value": "a"}
    response = query_call(server, form)
    assert response.status_code == 200, response.text
    assert "<PutMetricDataResponse" in response.text
    listed = query_call(server, {"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": namespace})
    assert listed.status_code == 200
    assert "<ListMetricsResult><Metrics><member>" in listed.text and "<MetricName>requests</MetricName>" in listed.text
    bad = query_call(server, {"Action": "DescribeAlarms", "Version": "2010-08-01", "MaxRecords": "1000"})
    assert bad.status_code == 400
    assert "<Code>ValidationError</Code>" in bad.text


def test_aws_cli_puts_metrics_and_describes_alarms(server):
    env = server.client_env()
    namespace = unique("Emu/Cli")
    alarm = unique("cli-alarm")
    cli = [sys.executable, "-m", "awscli"]
    subprocess.run(cli + ["cloudwatch", "put-metric-data", "--namespace", namespace, "--metric-name", "errors",
                          "--value", "7", "--dimensions", "Service=api"], env=env, check=True, timeout=120)
    subprocess.run(cli + ["cloudwatch", "put-metric-alarm", "--alarm-name", alarm, "--namespace", namespace,
                          "--metric-name", "errors", "--dimensions", "Name=Service,Value=api", "--statistic",
                          "Maximum", "--period", "60", "--evaluation-periods", "1", "--threshold", "5",
                          "--comparison-operator", "GreaterThanThreshold"], env=env, check=True, timeout=120)

    def described() -> dict | None:
        out = subprocess.run(cli + ["cloudwatch", "describe-alarms", "--alarm-names", alarm], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        (found,) = json.loads(out.stdout)["MetricAlarms"]
        return found if found["StateValue"] == "ALARM" else None
    described = wait_until(described, timeout=60, what="ALARM")
    assert described["StateReason"].startswith("Threshold Crossed: 1 datapoint [7.0 (")
    assert described["StateReason"].endswith(")] was greater than the threshold (5.0).")
    failed = subprocess.run(cli + ["cloudwatch", "set-alarm-state", "--alarm-name", unique("nope"),
                                   "--state-value", "OK", "--state-reason", "x"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert failed.returncode != 0 and "(ResourceNotFound)" in failed.stderr


def test_get_metric_data_refuses_expressions(server, model_dir):
    cw = cloudwatch_client(server, "default", model_dir)
    err = error_of(cw.get_metric_data, MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}],
                   StartTime=now() - timedelta(hours=1), EndTime=now())
    assert err["Code"] == "InvalidParameterValue" and "not supported by the SageMaker Emulator" in err["Message"]


def test_extended_statistic_parsing_rejects_unknown_names(server, model_dir):
    cw = cloudwatch_client(server, "default", model_dir)
    err = error_of(cw.get_metric_statistics, Namespace="Emu/Test", MetricName="m", StartTime=now() - timedelta(1),
                   EndTime=now(), Period=3600, ExtendedStatistics=["p101"])
    assert err["Code"] == "InvalidParameterValue"


def test_large_put_metric_data_arrives_gzipped_and_is_read(cw):
    # botocore gzips PutMetricData bodies above 10 KiB (the model's requestcompression trait).
    namespace = unique("Emu/Big")
    start = now().replace(second=0, microsecond=0) - timedelta(minutes=30)
    data = [{"MetricName": "m", "Dimensions": [{"Name": "Shard", "Value": f"shard-{i % 7}"}],
             "Timestamp": start + timedelta(seconds=i), "Value": float(i)} for i in range(1000)]
    cw.put_metric_data(Namespace=namespace, MetricData=data)
    total = sum(p["SampleCount"] for i in range(7) for p in cw.get_metric_statistics(
        Namespace=namespace, MetricName="m", Dimensions=[{"Name": "Shard", "Value": f"shard-{i}"}],
        StartTime=start, EndTime=start + timedelta(hours=1), Period=3600, Statistics=["SampleCount"])["Datapoints"])
    assert total == 1000
