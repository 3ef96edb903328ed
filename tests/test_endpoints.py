"""Real-time endpoints against a live emulator with real containers: the control plane (shapes, statuses,
AWS's wording), InvokeEndpoint (headers, variants, errors), data capture byte for byte, updates under load,
multi-model, inference pipelines, serverless, response streaming, async inference, and a restart.

One emulator of this module's own (short invocation timeout, short serverless idle time and cold-start wait,
fast capture flushes); endpoints are shared between tests where the behaviour allows.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading

import botocore
import pytest
import requests

from emulator.testing.waiting import wait_until
from tests.inference_helpers import (
    ROLE,
    XGBOOST_IMAGE,
    body_json,
    delete_all_endpoints,
    deploy,
    echo_image,
    wait_endpoint,
    xgboost_model,
)

pytestmark = pytest.mark.docker

BUCKET = "endpoint-tests"
ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def emu(sagemaker_emulator_factory):
    emulator = sagemaker_emulator_factory(name="endpoints", env={
        "SAGEMAKER_EMULATOR_INVOCATION_TIMEOUT": "3", "SAGEMAKER_EMULATOR_SERVERLESS_IDLE_SECONDS": "3",
        "SAGEMAKER_EMULATOR_CAPTURE_FLUSH_SECONDS": "0.5", "SAGEMAKER_EMULATOR_SERVERLESS_WAIT_SECONDS": "0.1"})
    emulator.client("s3").create_bucket(Bucket=BUCKET)
    yield emulator
    delete_all_endpoints(emulator.client("sagemaker"))
    emulator.discard()


@pytest.fixture(scope="module")
def sm(emu):
    return emu.client("sagemaker")


@pytest.fixture(scope="module")
def rt(emu):
    return emu.client("sagemaker-runtime", retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def echo():
    return echo_image()


CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{BUCKET}/capture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}}


@pytest.fixture(scope="module")
def echo_endpoint(sm, echo):
    """One echo endpoint with 100% capture, shared by the tests that only invoke it."""
    described = deploy(sm, "echo-ep", [{"VariantName": "AllTraffic", "Image": echo,
                                        "Environment": {"ECHO_TAG": "first"}}], capture=CAPTURE)
    assert described["EndpointStatus"] == "InService", described
    return described


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:{kind}/{name.lower()}"


def client_error(call, *args, **kwargs) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    return caught.value


def containers(name: str) -> list:
    import docker
    client = docker.from_env()
    try:
        return client.containers.list(filters={"label": ["sagemaker-emulator.kind=Endpoint",
                                                         f"sagemaker-emulator.job={name}"]})
    finally:
        client.close()


# --- control plane ------------------------------------------------------------------------------------------

def test_describe_list_tags_and_waiters(sm, echo, echo_endpoint):
    described = sm.describe_endpoint(EndpointName="echo-ep")
    assert described["EndpointArn"] == arn("endpoint", "echo-ep")
    assert described["EndpointConfigName"] == "echo-ep-config"
    (variant,) = described["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 1.0)
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 1)
    (image,) = variant["DeployedImages"]
    assert image["SpecifiedImage"] == echo
    assert re.fullmatch(r"sagemaker-emulator-test/echo@sha256:[0-9a-f]{64}", image["ResolvedImage"])
    # KmsKeyId is omitted when none was given (sagemaker-core v3 crashed on a null, sdk#5738).
    assert described["DataCaptureConfig"] == {"EnableCapture": True, "CaptureStatus": "Started",
                                              "CurrentSamplingPercentage": 100,
                                              "DestinationS3Uri": f"s3://{BUCKET}/capture"}
    assert "PendingDeploymentSummary" not in described
    sm.get_waiter("endpoint_in_service").wait(EndpointName="echo-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    listed = sm.list_endpoints(NameContains="echo-ep", StatusEquals="InService")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["echo-ep"]
    assert set(listed[0]) == {"EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"}
    configs = sm.list_endpoint_configs(NameContains="echo-ep")["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == ["echo-ep-config"]
    config = sm.describe_endpoint_config(EndpointConfigName="echo-ep-config")
    assert config["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert config["DataCaptureConfig"]["CaptureOptions"] == CAPTURE["CaptureOptions"]
    sm.add_tags(ResourceArn=described["EndpointArn"], Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_missing_resources_and_conflicts_are_worded_as_aws(sm, rt, echo_endpoint):
    missing = client_error(sm.describe_endpoint, EndpointName="no-such-ep")
    assert missing.response["Error"] == {"Code": "ValidationException",
                                         "Message": f'Could not find endpoint "{arn("endpoint", "no-such-ep")}".'}
    assert client_error(sm.delete_endpoint, EndpointName="No-Such-Ep").response["Error"]["Message"] == \
        f'Could not find endpoint "{arn("endpoint", "no-such-ep")}".'
    assert client_error(sm.describe_endpoint_config, EndpointConfigName="nope").response["Error"]["Message"] == \
        f'Could not find endpoint configuration "{arn("endpoint-config", "nope")}".'
    again = client_error(sm.create_endpoint, EndpointName="echo-ep", EndpointConfigName="echo-ep-config")
    assert again.response["Error"]["Message"] == \
        f'Cannot create already existing endpoint "{arn("endpoint", "echo-ep")}".'
    no_model = client_error(sm.create_endpoint_config, EndpointConfigName="c-x", ProductionVariants=[
        {"VariantName": "v", "ModelName": "missing-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert no_model.response["Error"]["Message"] == f'Could not find model "{arn("model", "missing-model")}".'
    # The endpoint waiter's "deleted" acceptor is this very error.
    sm.get_waiter("endpoint_deleted").wait(EndpointName="no-such-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    unknown = client_error(rt.invoke_endpoint, EndpointName="no-such-ep", Body=b"x")
    assert unknown.response["Error"] == {"Code": "ValidationError",
                                         "Message": f"Endpoint no-such-ep of account {ACCOUNT} not found."}
    assert unknown.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_config_and_model_can_be_deleted_while_the_endpoint_serves(sm, rt, echo):
    deploy(sm, "orphan-ep", [{"VariantName": "AllTraffic", "Image": echo}])
    # The SDK's delete_endpoint deletes the config first, while the endpoint is live.
    sm.delete_endpoint_config(EndpointConfigName="orphan-ep-config")
    sm.delete_model(ModelName="orphan-ep-alltraffic")
    assert rt.invoke_endpoint(EndpointName="orphan-ep", Body=b"{}")["InvokedProductionVariant"] == "AllTraffic"
    assert sm.describe_endpoint(EndpointName="orphan-ep")["EndpointConfigName"] == "orphan-ep-config"
    sm.delete_endpoint(EndpointName="orphan-ep")
    assert sm.describe_endpoint(EndpointName="orphan-ep")["EndpointStatus"] in ("Deleting",)
    sm.get_waiter("endpoint_deleted").wait(EndpointName="orphan-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert containers("orphan-ep") == []
    assert client_error(rt.invoke_endpoint, EndpointName="orphan-ep", Body=b"x").response["Error"]["Code"] == \
        "ValidationError"


def test_failures_name_their_cause(sm, echo, emu):
    s3 = emu.client("s3")
    s3.put_object(Bucket=BUCKET, Key="bad/model.tar.gz", Body=b"this is not a tarball")
    ping_failed = ("The primary container for production variant AllTraffic did not pass the ping health check. "
                   "Please check CloudWatch logs for this endpoint.")
    cases = {
        # /ping answers 500 until ContainerStartupHealthCheckTimeoutInSeconds (at least 60 s, botocore's min) passes.
        "fail-ping": ({"Image": echo, "Environment": {"ECHO_PING": "500"},
                       "ContainerStartupHealthCheckTimeoutInSeconds": 60}, ping_failed),
        "fail-image": ({"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/not-a-real-image:1"},
                       "neither in the local Docker engine"),
        "fail-exit": ({"Image": echo, "Environment": {"ECHO_EXIT": "1"}}, ping_failed),
        "fail-archive": ({"Image": echo, "ModelDataUrl": f"s3://{BUCKET}/bad/model.tar.gz"},
                         'Failed to extract model data archive for container "container_1" from URL '
                         f'"s3://{BUCKET}/bad/model.tar.gz". Please ensure that the object located at the URL is '
                         "a valid tar.gz archive."),
        "fail-missing": ({"Image": echo, "ModelDataUrl": f"s3://{BUCKET}/nothing/model.tar.gz"},
                         f"Could not find model data at s3://{BUCKET}/nothing/model.tar.gz."),
    }
    for name, (container, _) in cases.items():
        deploy(sm, name, [{"VariantName": "AllTraffic", **container}], wait=False)
    for name, (container, reason) in cases.items():
        described = wait_endpoint(sm, name, timeout=180)   # well before the 240 s default health-check timeout
        assert described["EndpointStatus"] == "Failed", described
        if "ContainerStartupHealthCheckTimeoutInSeconds" in container:   # not before the time it was given
            assert described["LastModifiedTime"] - described["CreationTime"] >= dt.timedelta(seconds=60)
        assert reason in described["FailureReason"], described["FailureReason"]
        assert containers(name) == []
    update = client_error(sm.update_endpoint, EndpointName="fail-exit", EndpointConfigName="fail-exit-config")
    assert update.response["Error"]["Message"] == f'Cannot update failed endpoint "{arn("endpoint", "fail-exit")}".'
    for name in cases:
        sm.delete_endpoint(EndpointName=name)
    for name in cases:
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


# --- InvokeEndpoint ------------------------------------------------------------------------------------------

def test_invoke_forwards_sagemakers_headers_and_returns_the_models_answer(rt, echo_endpoint):
    response = rt.invoke_endpoint(EndpointName="echo-ep", Body=b'{"x": 1}', ContentType="application/json",
                                  Accept="application/json", CustomAttributes="attributes=from-model",
                                  InferenceId="inf-1", TargetVariant="AllTraffic", EnableExplanations="`true`")
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "from-model"
    seen = body_json(response)
    assert seen["body"] == '{"x": 1}'
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["content-type"] == "application/json" and headers["accept"] == "application/json"
    assert headers["x-amzn-sagemaker-custom-attributes"] == "attributes=from-model"
    assert headers["x-amzn-sagemaker-inference-id"] == "inf-1"
    assert headers["x-amzn-sagemaker-target-variant"] == "AllTraffic"
    assert headers["x-amzn-sagemaker-enable-explanations"] == "`true`"
    assert "authorization" not in headers   # the client's own headers stay out
    assert seen["tag"] == "first"


def test_model_errors_are_model_error_424_as_aws_words_them(rt, echo_endpoint):
    console = ("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:"
               f"group=/aws/sagemaker/Endpoints/echo-ep in account {ACCOUNT} for more information.")
    for status, side in ((400, "client"), (503, "server")):
        error = client_error(rt.invoke_endpoint, EndpointName="echo-ep", Body=b"x", CustomAttributes=f"status={status}")
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 424
        assert error.response["Error"]["Code"] == "ModelError"
        assert error.response["Error"]["Message"] == \
            f'Received {side} error ({status}) from primary with message "status {status} as asked". See {console}'
        assert error.response["OriginalStatusCode"] == status
        assert error.response["OriginalMessage"] == f"status {status} as asked"
        assert error.response["LogStreamArn"] == \
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/echo-ep"
    # This module's emulator gives containers 3 s (AWS: 60 s).
    timed_out = client_error(rt.invoke_endpoint, EndpointName="echo-ep", Body=b"x", CustomAttributes="sleep=5")
    assert timed_out.response["Error"]["Message"].startswith(
        'Received server error (0) from primary with message "Your invocation timed out while waiting for a '
        "response from container primary.")
    assert timed_out.response["OriginalStatusCode"] == 0
    too_big = client_error(rt.invoke_endpoint, EndpointName="echo-ep", Body=b"x" * (6 * 1024 * 1024 + 1))
    assert too_big.response["Error"]["Code"] == "ValidationError"
    assert "Member must have length less than or equal to 6291456" in too_big.response["Error"]["Message"]
    target = client_error(rt.invoke_endpoint, EndpointName="echo-ep", Body=b"x", TargetModel="a.tar.gz")
    assert target.response["Error"] == {"Code": "ValidationError", "Message": "Endpoint echo-ep is not a multi-model "
                                        "endpoint and does not support target model header."}
    variant = client_error(rt.invoke_endpoint, EndpointName="echo-ep", Body=b"x", TargetVariant="Nope")
    assert variant.response["Error"]["Code"] == "ValidationError"


def test_runtime_calls_pass_the_servers_guards(emu, echo_endpoint):
    """The data path skips the web framework, not the access guard or the signature check."""
    url = f"{emu.endpoint}/endpoints/echo-ep/invocations"
    unsigned = requests.post(url, data=b"{}", timeout=10)
    assert unsigned.status_code in (400, 403) and "echo" not in unsigned.text
    signed = {"X-Amz-Date": "20260101T000000Z", "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/"
              "us-east-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}
    assert requests.post(url, data=b"{}", headers=signed, timeout=10).status_code == 200
    foreign = requests.post(url, data=b"{}", headers={**signed, "Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 403
    rebound = requests.post(url, data=b"{}", headers={**signed, "Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 403
    huge = requests.post(url, data=b"x" * (6291456 + 1), headers=signed, timeout=30)
    assert huge.status_code == 400 and huge.headers["x-amzn-errortype"] == "ValidationError"


def test_response_stream_is_an_aws_event_stream(rt, echo_endpoint):
    response = rt.invoke_endpoint_with_response_stream(EndpointName="echo-ep", Body=b"x",
                                                       CustomAttributes="stream=3", Accept="text/plain")
    assert response["ContentType"] == "text/plain"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert b"".join(parts) == b"part0;part1;part2;" and len(parts) >= 2
    error = client_error(rt.invoke_endpoint_with_response_stream, EndpointName="echo-ep", Body=b"x",
                         CustomAttributes="status=400")
    assert error.response["Error"]["Code"] == "ModelError" and error.response["OriginalStatusCode"] == 400


# --- data capture -------------------------------------------------------------------------------------------------

def _captured(s3, prefix: str) -> list[tuple[str, bytes]]:
    """(key, raw line) of every record captured under `prefix`."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            data = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found += [(item["Key"], line) for line in data.split(b"\n") if line]
    return found


def _capture_lines(s3, prefix: str, expected: int, timeout: float = 20) -> list[tuple[str, bytes]]:
    """The captured records under `prefix` once there are at least `expected` of them."""
    return wait_until(lambda: (lambda found: found if len(found) >= expected else None)(_captured(s3, prefix)),
                      timeout=timeout, interval=0.3, what=f"{expected} captured records under {prefix}")


def test_capture_files_and_lines_are_laid_out_byte_for_byte_as_aws(emu, rt, echo_endpoint):
    s3 = emu.client("s3")
    before = dt.datetime.now(dt.UTC)
    calls = [(b"1,2,3\n", "text/csv; charset=utf-8", "text/csv", "42"),
             (b'{"a": [1, 2]}', "application/json", "application/json", None),
             (bytes(range(256)), "application/x-npy", None, None)]
    for body, content_type, accept, inference_id in calls:
        extra = {"InferenceId": inference_id} if inference_id else {}
        if accept:
            extra["Accept"] = accept
        rt.invoke_endpoint(EndpointName="echo-ep", Body=body, ContentType=content_type, **extra)
    lines = _capture_lines(s3, "capture/echo-ep/AllTraffic/", 3)
    records = []
    for key, line in lines:
        # <prefix>/<endpoint>/<variant>/yyyy/mm/dd/HH/MM-SS-mmm-<uuid4>.jsonl, the UTC hour of the inference
        match = re.fullmatch(r"capture/echo-ep/AllTraffic/(\d{4})/(\d\d)/(\d\d)/(\d\d)/(\d\d)-(\d\d)-(\d{3})-"
                             r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl", key)
        assert match, key
        record = json.loads(line)
        hour = dt.datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert match.group(1, 2, 3, 4) == (f"{hour:%Y}", f"{hour:%m}", f"{hour:%d}", f"{hour:%H}")
        records.append((line, record))
    by_input = {r["captureData"]["endpointInput"]["observedContentType"]: (line, r) for line, r in records}
    assert set(by_input) >= {"text/csv; charset=utf-8", "application/json", "application/x-npy"}

    def expected(record: dict, data_in: dict, data_out: dict, inference_id: str | None) -> bytes:
        metadata = {"eventId": record["eventMetadata"]["eventId"]}
        if inference_id is not None:
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = record["eventMetadata"]["inferenceTime"]
        return json.dumps({"captureData": {"endpointInput": data_in, "endpointOutput": data_out},
                           "eventMetadata": metadata, "eventVersion": "0"}, separators=(",", ":")).encode()

    line, record = by_input["text/csv; charset=utf-8"]
    assert re.fullmatch(r"[0-9a-f-]{36}", record["eventMetadata"]["eventId"])
    assert dt.datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ") >= \
        before.replace(tzinfo=None, microsecond=0)
    # CSV matched ignoring the charset parameter; the exact body (newline kept) as text.
    assert line == expected(record,
                            {"observedContentType": "text/csv; charset=utf-8", "mode": "INPUT", "data": "1,2,3\n",
                             "encoding": "CSV"},
                            {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT", "data": "1,2,3\n",
                             "encoding": "CSV"}, "42")
    line, record = by_input["application/json"]
    output = record["captureData"]["endpointOutput"]
    assert output["encoding"] == "JSON" and json.loads(output["data"])["body"] == '{"a": [1, 2]}'
    assert line == expected(record, {"observedContentType": "application/json", "mode": "INPUT",
                                     "data": '{"a": [1, 2]}', "encoding": "JSON"}, output, None)
    assert "inferenceId" not in record["eventMetadata"]   # only when the caller sent one
    line, record = by_input["application/x-npy"]
    data_in = record["captureData"]["endpointInput"]
    assert data_in == {"observedContentType": "application/x-npy", "mode": "INPUT",
                       "data": base64.b64encode(bytes(range(256))).decode(), "encoding": "BASE64"}


def test_capture_sampling_options_and_updates(emu, sm, rt, echo):
    """UpdateEndpoint (what Predictor.update_data_capture_config does) between phases of 2,000 calls at 0%,
    100% and 30% sampling; Input only in the last phase. Bounds are 4.5 standard deviations."""
    s3 = emu.client("s3")
    deploy(sm, "sampled-ep", [{"VariantName": "AllTraffic", "Image": echo}],
           capture={**CAPTURE, "InitialSamplingPercentage": 0, "DestinationS3Uri": f"s3://{BUCKET}/s0"})
    phases = [(0, "s0", None), (100, "s100", None), (30, "s30", [{"CaptureMode": "Input"}])]
    calls = 2000
    for index, (percent, prefix, options) in enumerate(phases):
        if index:
            config = {**CAPTURE, "InitialSamplingPercentage": percent, "DestinationS3Uri": f"s3://{BUCKET}/{prefix}"}
            if options:
                config["CaptureOptions"] = options
            sm.create_endpoint_config(EndpointConfigName=f"sampled-{prefix}", DataCaptureConfig=config,
                                      ProductionVariants=sm.describe_endpoint_config(
                                          EndpointConfigName="sampled-ep-config")["ProductionVariants"])
            sm.update_endpoint(EndpointName="sampled-ep", EndpointConfigName=f"sampled-{prefix}")
            assert wait_endpoint(sm, "sampled-ep", until=("InService",))["DataCaptureConfig"][
                "CurrentSamplingPercentage"] == percent
        for _ in range(calls):
            rt.invoke_endpoint(EndpointName="sampled-ep", Body=b"1,2", ContentType="text/csv")
        expected = calls * percent / 100
        sigma = (calls * percent / 100 * (1 - percent / 100)) ** 0.5
        # Capture is flushed every 0.5 s here: once the count stops growing, everything is written.
        counts: list[int] = []

        def settled() -> tuple | None:
            lines = _captured(s3, f"{prefix}/sampled-ep/")
            counts.append(len(lines))
            return (lines,) if len(counts) >= 4 and len(set(counts[-4:])) == 1 else None
        (lines,) = wait_until(settled, timeout=30, interval=0.5, what="capture files settling")
        assert expected - 4.5 * sigma <= len(lines) <= expected + 4.5 * sigma, (percent, len(lines))
        if options:
            assert all(set(json.loads(line)["captureData"]) == {"endpointInput"} for _, line in lines)
    sm.delete_endpoint(EndpointName="sampled-ep")


# --- variants, weights, updates -------------------------------------------------------------------------------

def test_weights_split_traffic_and_update_weights_and_capacities(sm, rt, echo):
    deploy(sm, "split-ep", [{"VariantName": "A", "Image": echo, "InitialVariantWeight": 1},
                            {"VariantName": "B", "Image": echo, "InitialVariantWeight": 3}])
    calls = 2000
    counts = {"A": 0, "B": 0}
    for _ in range(calls):
        counts[rt.invoke_endpoint(EndpointName="split-ep", Body=b"{}")["InvokedProductionVariant"]] += 1
    share, sigma = counts["B"] / calls, (0.75 * 0.25 / calls) ** 0.5
    assert abs(share - 0.75) <= 4.5 * sigma, counts
    sm.update_endpoint_weights_and_capacities(EndpointName="split-ep", DesiredWeightsAndCapacities=[
        {"VariantName": "A", "DesiredWeight": 1.0, "DesiredInstanceCount": 2},
        {"VariantName": "B", "DesiredWeight": 0}])
    updating = sm.describe_endpoint(EndpointName="split-ep")
    assert updating["EndpointStatus"] == "Updating"
    described = wait_endpoint(sm, "split-ep", until=("InService",))
    variants = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert (variants["A"]["CurrentInstanceCount"], variants["A"]["CurrentWeight"]) == (2, 1.0)
    assert variants["B"]["CurrentWeight"] == 0.0
    hosts = set()
    for _ in range(40):
        response = rt.invoke_endpoint(EndpointName="split-ep", Body=b"{}")
        assert response["InvokedProductionVariant"] == "A"   # B has no weight now
        hosts.add(body_json(response)["address"])
    assert len(hosts) == 2   # round-robin over A's two instances
    assert rt.invoke_endpoint(EndpointName="split-ep", Body=b"{}", TargetVariant="B")["InvokedProductionVariant"] == "B"
    unknown = client_error(sm.update_endpoint_weights_and_capacities, EndpointName="split-ep",
                           DesiredWeightsAndCapacities=[{"VariantName": "C", "DesiredWeight": 1}])
    assert unknown.response["Error"]["Code"] == "ValidationException"
    sm.delete_endpoint(EndpointName="split-ep")


def test_update_serves_every_call_while_the_new_fleet_comes_up(sm, rt, echo):
    deploy(sm, "rolling-ep", [{"VariantName": "AllTraffic", "Image": echo, "Environment": {"ECHO_TAG": "old"}}])
    old = {c.id for c in containers("rolling-ep")}
    sm.create_model(ModelName="rolling-new", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": echo, "Environment": {"ECHO_TAG": "new"}})
    sm.create_endpoint_config(EndpointConfigName="rolling-new-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "rolling-new", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    seen, failures, stop = [], [], threading.Event()

    def loop() -> None:
        client = botocore.session.get_session().create_client(
            "sagemaker-runtime", region_name="us-east-1", endpoint_url=rt.meta.endpoint_url, aws_access_key_id="t",
            aws_secret_access_key="t", config=botocore.config.Config(retries={"max_attempts": 1}))
        while not stop.is_set():
            try:
                seen.append(body_json(client.invoke_endpoint(EndpointName="rolling-ep", Body=b"{}"))["tag"])
            except Exception as exc:  # noqa: BLE001 - every failure is what the test counts
                failures.append(repr(exc))
    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: seen.count("old") >= 20, what="calls to the old fleet")
        sm.update_endpoint(EndpointName="rolling-ep", EndpointConfigName="rolling-new-config")
        pending = sm.describe_endpoint(EndpointName="rolling-ep")
        assert pending["EndpointStatus"] == "Updating"
        assert pending["PendingDeploymentSummary"]["EndpointConfigName"] == "rolling-new-config"
        assert pending["EndpointConfigName"] == "rolling-ep-config"
        described = wait_endpoint(sm, "rolling-ep", until=("InService",))
        after = len(seen)
        wait_until(lambda: len(seen) >= after + 40, what="calls after the switch")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert described["EndpointConfigName"] == "rolling-new-config"
    assert "old" in seen
    assert set(seen[after + 8:]) == {"new"}   # once InService, only the new fleet answers (4 calls may be in flight)
    wait_until(lambda: not old & {c.id for c in containers("rolling-ep")}, timeout=30,
               what="the old fleet removed")
    sm.delete_endpoint(EndpointName="rolling-ep")


# --- multi-model, pipelines, serverless, async ------------------------------------------------------------------

def test_multi_model_endpoint_loads_target_models_on_demand(emu, sm, rt):
    s3 = emu.client("s3")
    s3.put_object(Bucket=BUCKET, Key="mme/first.tar.gz", Body=xgboost_model(seed=1))
    s3.put_object(Bucket=BUCKET, Key="mme/second.tar.gz", Body=xgboost_model(seed=2))
    deploy(sm, "mme-ep", [{"VariantName": "AllTraffic", "Image": XGBOOST_IMAGE, "Mode": "MultiModel",
                           "ModelDataUrl": f"s3://{BUCKET}/mme/"}])
    answers = {}
    for target in ("first.tar.gz", "second.tar.gz", "first.tar.gz"):
        response = rt.invoke_endpoint(EndpointName="mme-ep", Body=b"1,2,3,4\n-1,-2,0,0\n", ContentType="text/csv",
                                      TargetModel=target)
        answers.setdefault(target, response["Body"].read())
    assert len(answers) == 2
    assert all(len(a.decode().split()) == 2 for a in answers.values())
    missing = client_error(rt.invoke_endpoint, EndpointName="mme-ep", Body=b"1,2,3,4", ContentType="text/csv",
                           TargetModel="absent.tar.gz")
    assert missing.response["Error"]["Code"] == "ValidationError"
    assert "Failed to download model data(bucket: endpoint-tests, key: mme/absent.tar.gz)" in \
        missing.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName="mme-ep")


def test_inference_pipeline_runs_containers_in_series_or_directly(sm, rt, echo):
    containers_ = [{"Image": echo, "ContainerHostname": "first", "Environment": {"ECHO_TAG": "first"}},
                   {"Image": echo, "ContainerHostname": "second", "Environment": {"ECHO_TAG": "second"}}]
    deploy(sm, "pipeline-ep", [{"VariantName": "AllTraffic", "Image": echo, "Containers": containers_}])
    answer = body_json(rt.invoke_endpoint(EndpointName="pipeline-ep", Body=b"start", ContentType="text/plain",
                                          Accept="application/json"))
    assert answer["tag"] == "second"
    inner = json.loads(answer["body"])   # the first container's answer was the second's request
    assert inner["tag"] == "first" and inner["body"] == "start"
    assert {k.lower(): v for k, v in answer["headers"].items()}["content-type"] == "application/json"
    deploy(sm, "direct-ep", [{"VariantName": "AllTraffic", "Image": echo, "Containers": containers_, "Direct": True}])
    direct = body_json(rt.invoke_endpoint(EndpointName="direct-ep", Body=b"x", TargetContainerHostname="first"))
    assert direct["tag"] == "first" and direct["body"] == "x"
    assert client_error(rt.invoke_endpoint, EndpointName="direct-ep", Body=b"x").response["Error"]["Code"] == \
        "ValidationError"
    for name in ("pipeline-ep", "direct-ep"):
        sm.delete_endpoint(EndpointName=name)


def _answered(runtime, name: str, body: bytes) -> dict | None:
    """InvokeEndpoint's response, or None while the endpoint says its model is not ready."""
    try:
        return runtime.invoke_endpoint(EndpointName=name, Body=body)
    except runtime.exceptions.ModelNotReadyException:
        return None


def test_serverless_variant_starts_on_first_call_and_stops_when_idle(sm, rt, echo):
    described = deploy(sm, "serverless-ep", [{"VariantName": "AllTraffic", "Image": echo, "InstanceType": None,
                                              "InitialInstanceCount": None,
                                              "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2}}])
    (variant,) = described["ProductionVariants"]
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert "CurrentInstanceCount" not in variant
    assert containers("serverless-ep") == []    # nothing runs until the first call
    # This module's emulator holds a call to a cold variant 0.1 s (AWS: while it provisions), then answers
    # ModelNotReadyException (429); the container it started serves the retries.
    cold = client_error(rt.invoke_endpoint, EndpointName="serverless-ep", Body=b"{}")
    assert cold.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert cold.response["Error"]["Code"] == "ModelNotReadyException"
    assert body_json(wait_until(lambda: _answered(rt, "serverless-ep", b"{}"), timeout=60,
                                what="the serverless container serving"))["body"] == "{}"
    assert len(containers("serverless-ep")) == 1
    # This module's emulator stops a serverless container after 3 idle seconds.
    wait_until(lambda: containers("serverless-ep") == [], timeout=30, what="the idle container stopped")
    assert body_json(wait_until(lambda: _answered(rt, "serverless-ep", b"again"), timeout=60,
                                what="the serverless container serving again"))["body"] == "again"
    sm.delete_endpoint(EndpointName="serverless-ep")


def test_async_inference_writes_output_and_failure_objects(emu, sm, echo):
    s3, runtime = emu.client("s3"), emu.client("sagemaker-runtime")
    deploy(sm, "async-ep", [{"VariantName": "AllTraffic", "Image": echo}], AsyncInferenceConfig={
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/async-out", "S3FailurePath": f"s3://{BUCKET}/async-fail"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}})
    s3.put_object(Bucket=BUCKET, Key="async-in/request.json", Body=b'{"ask": 1}')
    response = runtime.invoke_endpoint_async(EndpointName="async-ep", InputLocation=f"s3://{BUCKET}/async-in/request.json",
                                             ContentType="application/json", InferenceId="mine")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "mine"
    output = response["OutputLocation"]
    assert re.fullmatch(rf"s3://{BUCKET}/async-out/[0-9a-f-]{{36}}\.out", output)
    assert re.fullmatch(rf"s3://{BUCKET}/async-fail/[0-9a-f-]{{36}}-error\.out", response["FailureLocation"])
    key = output[len(f"s3://{BUCKET}/"):]
    s3.get_waiter("object_exists").wait(Bucket=BUCKET, Key=key, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["body"] == '{"ask": 1}'
    failing = runtime.invoke_endpoint_async(EndpointName="async-ep", InputLocation=f"s3://{BUCKET}/async-in/none.json")
    failure_key = failing["FailureLocation"][len(f"s3://{BUCKET}/"):]
    s3.get_waiter("object_exists").wait(Bucket=BUCKET, Key=failure_key, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    real_time = client_error(runtime.invoke_endpoint_async, EndpointName="echo-ep",
                             InputLocation=f"s3://{BUCKET}/async-in/request.json")
    assert real_time.response["Error"]["Code"] == "ValidationError"
    sm.delete_endpoint(EndpointName="async-ep")


# --- logs, metrics, restarts --------------------------------------------------------------------------------------

def test_logs_go_to_the_endpoints_group_by_variant_and_instance(emu, rt, echo_endpoint):
    rt.invoke_endpoint(EndpointName="echo-ep", Body=b"{}")
    logs = emu.client("logs")

    def logged() -> tuple | None:
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/echo-ep")["logStreams"]
        events = [e["message"] for s in streams for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/Endpoints/echo-ep", logStreamName=s["logStreamName"])["events"]]
        return (streams, events) if any("POST /invocations" in m for m in events) else None
    streams, events = wait_until(logged, timeout=20, what="the invocation in the log")
    assert [s["logStreamName"] for s in streams] and all(
        re.fullmatch(r"AllTraffic/i-[0-9a-f]{17}", s["logStreamName"]) for s in streams)
    assert any("echo: listening on 8080" in m for m in events)


def test_console_shows_endpoint_traffic_and_capture_files(emu, rt, echo_endpoint):
    for _ in range(5):
        rt.invoke_endpoint(EndpointName="echo-ep", Body=b"1", ContentType="text/csv")
    def shown() -> str | None:
        page = requests.get(f"{emu.endpoint}/_emulator/ui/endpoints/echo-ep", timeout=10).text
        invocations = re.search(r'data-invocations="(\d+)"', page)
        ready = invocations and int(invocations.group(1)) >= 5 and "capture/echo-ep/AllTraffic/" in page
        return page if ready else None
    page = wait_until(shown, timeout=30, interval=0.5, what="the console counting the invocations")
    assert "capture/echo-ep/AllTraffic/" in page and "InService" in page and "AllTraffic" in page
    listing = requests.get(f"{emu.endpoint}/_emulator/ui/endpoints", timeout=10).text
    assert 'href="/_emulator/ui/endpoints/echo-ep"' in listing


def test_an_instance_whose_container_dies_is_relaunched(sm, rt, echo):
    deploy(sm, "phoenix-ep", [{"VariantName": "AllTraffic", "Image": echo, "InitialInstanceCount": 2}])
    first, second = containers("phoenix-ep")
    first.kill()
    # The other instance takes the calls at once; the dead one is replaced.
    for _ in range(10):
        assert rt.invoke_endpoint(EndpointName="phoenix-ep", Body=b"{}")["InvokedProductionVariant"] == "AllTraffic"
    running = wait_until(lambda: (lambda ids: ids if len(ids) == 2 and first.id not in ids else None)(
        {c.id for c in containers("phoenix-ep")}), timeout=60, what="the dead instance replaced")
    assert second.id in running
    addresses = {body_json(rt.invoke_endpoint(EndpointName="phoenix-ep", Body=b"{}"))["address"] for _ in range(10)}
    assert len(addresses) == 2
    assert sm.describe_endpoint(EndpointName="phoenix-ep")["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName="phoenix-ep")


def test_restart_keeps_endpoints_serving_without_recreating_them(emu, sm, rt, echo_endpoint):
    before = {c.id for c in containers("echo-ep")}
    rt.invoke_endpoint(EndpointName="echo-ep", Body=b"before", ContentType="text/csv", Accept="text/csv")
    emu.restart()
    runtime = emu.client("sagemaker-runtime", retries={"max_attempts": 1})

    def answered():
        try:
            return runtime.invoke_endpoint(EndpointName="echo-ep", Body=b"after", ContentType="text/csv",
                                           Accept="text/csv")
        except botocore.exceptions.ClientError:
            return None
    answer = wait_until(answered, timeout=60, what="the endpoint serving again")
    assert answer["Body"].read() == b"AFTER"
    assert {c.id for c in containers("echo-ep")} == before   # adopted, not re-created
    assert emu.client("sagemaker").describe_endpoint(EndpointName="echo-ep")["EndpointStatus"] == "InService"
    # What was captured before the restart was flushed at shutdown; capture goes on after it.
    def bodies() -> list[str]:
        return [json.loads(line)["captureData"]["endpointInput"]["data"]
                for _, line in _captured(emu.client("s3"), "capture/echo-ep/")]
    assert "before" in bodies()
    wait_until(lambda: "after" in bodies(), timeout=20, what="the call after the restart captured")


def test_captured_records_are_written_on_delete_and_on_a_clean_stop(sagemaker_emulator_factory, echo):
    """With the periodic flush an hour away, only DeleteEndpoint and the shutdown can write what was captured:
    no record is lost when an endpoint is deleted or the emulator stops cleanly."""
    emulator = sagemaker_emulator_factory(name="capture-flush", env={"SAGEMAKER_EMULATOR_CAPTURE_FLUSH_SECONDS": "3600"})
    try:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        sagemaker, runtime = emulator.client("sagemaker"), emulator.client("sagemaker-runtime")
        for name in ("deleted-ep", "kept-ep"):
            deploy(sagemaker, name, [{"VariantName": "AllTraffic", "Image": echo}], capture=CAPTURE, wait=False)
        for name in ("deleted-ep", "kept-ep"):
            assert wait_endpoint(sagemaker, name)["EndpointStatus"] == "InService"
            runtime.invoke_endpoint(EndpointName=name, Body=name.encode(), ContentType="text/csv", Accept="text/csv")
        assert _captured(emulator.client("s3"), "capture/") == []   # nothing written yet
        sagemaker.delete_endpoint(EndpointName="deleted-ep")
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName="deleted-ep",
                                                      WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})
        (_, line), = _captured(emulator.client("s3"), "capture/deleted-ep/")
        assert json.loads(line)["captureData"]["endpointInput"]["data"] == "deleted-ep"
        # The delete flushed every endpoint's records; what kept-ep captures next waits for the shutdown.
        runtime.invoke_endpoint(EndpointName="kept-ep", Body=b"later", ContentType="text/csv", Accept="text/csv")
        assert len(_captured(emulator.client("s3"), "capture/kept-ep/")) == 1
        emulator.restart()   # SIGTERM, then a new process on the same data
        outputs = [json.loads(line)["captureData"]["endpointOutput"]["data"]
                   for _, line in _captured(emulator.client("s3"), "capture/kept-ep/")]
        assert sorted(outputs) == ["KEPT-EP", "LATER"]
    finally:
        delete_all_endpoints(emulator.client("sagemaker"))
        emulator.discard()
