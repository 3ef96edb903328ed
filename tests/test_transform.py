"""Batch transform: the record handling and DataProcessing rules as pure functions (the developer guide's
own examples), then jobs against a live emulator with real containers -- output naming, splitting and
batching, the environment, a failed object, joins and filters, multi-instance manifest input, gzip,
batch capture, stopping, logs and experiments."""

from __future__ import annotations

import gzip
import json
import re
import struct

import pytest
import requests
from botocore.exceptions import WaiterError

from emulator.runtime.batch import processing, records
from emulator.testing.waiting import wait_until
from tests.inference_helpers import ROLE, echo_image

BUCKET = "transform-tests"


# --- pure functions ------------------------------------------------------------------------------------------

def test_split_types():
    assert records.split(b"a,1\n\nb,2\nc,3", "Line") == [b"a,1\n", b"b,2\n", b"c,3"]
    assert records.split(b"whole\nobject", "None") == [b"whole\nobject"]

    def recordio(payload: bytes) -> bytes:
        return struct.pack("<II", records.RECORDIO_MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)
    framed = recordio(b"abcde") + recordio(b"xyzw")
    assert records.split(framed, "RecordIO") == [recordio(b"abcde"), recordio(b"xyzw")]
    assert records.unpadded(recordio(b"abcde"), "RecordIO") == recordio(b"abcde")[:13]

    def tfrecord(payload: bytes) -> bytes:
        return struct.pack("<Q", len(payload)) + b"crc1" + payload + b"crc2"
    assert records.split(tfrecord(b"one") + tfrecord(b"three"), "TFRecord") == [tfrecord(b"one"), tfrecord(b"three")]
    with pytest.raises(records.RecordError):
        records.split(b"\x01\x02\x03\x04\x05\x06\x07\x08", "RecordIO")


def test_batches_pack_whole_records_up_to_the_payload_limit():
    lines = [b"x" * 400_000 + b"\n"] * 5
    assert [len(b) for b in records.batches(lines, "MultiRecord", 1, "Line")] == [2, 2, 1]
    assert [len(b) for b in records.batches(lines, "SingleRecord", 1, "Line")] == [1] * 5
    assert [len(b) for b in records.batches(lines, "MultiRecord", 0, "Line")] == [5]   # 0: no limit
    with pytest.raises(records.RecordError):
        records.batches([b"x" * (2 * records.MB)], "MultiRecord", 1, "Line")
    assert records.assemble([b"1\n2\n", b"3"], "Line") == b"1\n2\n3\n"
    assert records.assemble([b"1", b"2"], "None") == b"12"


def test_jsonpath_subset_follows_the_developer_guides_examples():
    row = ["id", "c1", "c2", "c3", "c4", "c5"]
    assert processing.select("$[1:]", row) == row[1:]
    assert processing.select("$[1:4]", row) == ["c1", "c2", "c3", "c4"]   # "$[1:4]: the second through fifth"
    assert processing.select("$[:5]", row) == row                          # "[:5]: first through sixth"
    assert processing.select("$[0,-1]", row) == ["id", "c5"]
    assert processing.select("$", row) == row
    document = {"id": 7, "features": [1, 2], "SageMakerOutput": {"label": 1}}
    assert processing.select("$.features", document) == [1, 2]
    assert processing.select("$['id','SageMakerOutput']", document) == {"id": 7, "SageMakerOutput": {"label": 1}}
    assert processing.select("$.SageMakerOutput.*", document) == [1]
    with pytest.raises(processing.FilterError):
        processing.select("$[9]", row)
    with pytest.raises(processing.FilterError):
        processing.select("$.missing", document)


def test_joins_follow_the_developer_guide():
    csv_row = processing.join_and_filter(b"id1,1,2,3\n", "text/csv", b"0.7", "text/csv", True, "$[0,-1]")
    assert csv_row == b"id1,0.7"
    joined = processing.join_and_filter(b'{"key": 1}', "application/jsonlines", b'{"label": 1}',
                                        "application/jsonlines", True, None)
    assert json.loads(joined) == {"key": 1, "SageMakerOutput": {"label": 1}}
    wrapped = processing.join_and_filter(b"[1, 2]", "application/json", b"3", "application/json", True, None)
    assert json.loads(wrapped) == {"SageMakerInput": [1, 2], "SageMakerOutput": 3}
    with_id = processing.join_and_filter(b"1,2\n", "text/csv", b"0", "text/csv", False, None,
                                         ("1f1d57b1-2e6f-488c-8c30-db4e6d757861", "2022-08-30T00:49:15Z"))
    assert with_id == b"0,1f1d57b1-2e6f-488c-8c30-db4e6d757861,2022-08-30T00:49:15Z"
    assert processing.filter_input(b"id,1,2\n", "text/csv", "$[1:]") == b"1,2\n"


# --- jobs with real containers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emu(sagemaker_emulator_factory):
    emulator = sagemaker_emulator_factory(name="transform")
    emulator.client("s3").create_bucket(Bucket=BUCKET)
    yield emulator
    emulator.discard()


@pytest.fixture(scope="module")
def model(emu):
    """An echo model whose own Environment the jobs' Environment can override."""
    emu.client("sagemaker").create_model(ModelName="echo-batch", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": echo_image(), "Environment": {"ECHO_TAG": "model", "ECHO_KEEP": "model"}})
    return "echo-batch"


def _put(emu, objects: dict[str, bytes]) -> None:
    s3 = emu.client("s3")
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def _run(emu, name: str, model: str, source: str, output: str, *, wait: bool = True, **request) -> dict:
    sm = emu.client("sagemaker")
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": request.pop("DataType", "S3Prefix"),
                                                       "S3Uri": f"s3://{BUCKET}/{source}"}},
                       "ContentType": request.pop("ContentType", "text/csv"),
                       "SplitType": request.pop("SplitType", "Line"), **request.pop("Input", {})}
    sm.create_transform_job(TransformJobName=name, ModelName=model, TransformInput=transform_input,
                            TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{output}", "AssembleWith": "Line",
                                             **request.pop("Output", {})},
                            TransformResources={"InstanceType": "ml.m5.large",
                                                "InstanceCount": request.pop("InstanceCount", 1)}, **request)
    if wait:
        try:
            sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=name,
                                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        except WaiterError:
            pass   # the waiter treats Failed as its failure state: the caller checks the status

    return sm.describe_transform_job(TransformJobName=name)


def _outputs(emu, prefix: str) -> dict[str, bytes]:
    s3 = emu.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _log(emu, name: str) -> dict[str, list[str]]:
    logs = emu.client("logs")
    group = "/aws/sagemaker/TransformJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
    return {s["logStreamName"]: [e["message"] for e in logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]] for s in streams}




@pytest.mark.docker
def test_outputs_are_named_after_inputs_and_records_are_batched(emu, model):
    rows = b"".join(f"r{i},{'x' * 300_000}\n".encode() for i in range(5))   # ~1.5 MB of 300 KB records
    _put(emu, {"in1/small.csv": b"a,1,2\nb,3,4\n", "in1/sub/big.csv": rows})
    job = _run(emu, "tf-names", model, "in1/", "out1", BatchStrategy="MultiRecord", MaxPayloadInMB=1,
               Output={"Accept": "text/csv"}, Environment={"ECHO_TAG": "job"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformStartTime"] and job["TransformEndTime"] >= job["TransformStartTime"]
    outputs = _outputs(emu, "out1/")
    assert set(outputs) == {"out1/small.csv.out", "out1/sub/big.csv.out"}   # no job-name folder
    assert outputs["out1/small.csv.out"] == b"3,2\n3,2\n"
    # Three 300 KB records fit in 1 MB: batches of 3 and 2, answers in input order.
    assert outputs["out1/sub/big.csv.out"] == b"2,3\n2,3\n2,3\n2,2\n2,2\n"
    log = _log(emu, "tf-names")
    (data_log,) = [lines for stream, lines in log.items() if stream.endswith("/data-log")]
    assert "[sagemaker logs]: MaxConcurrentTransforms=1, MaxPayloadInMB=1, BatchStrategy=MULTI_RECORD" in data_log
    assert any(re.fullmatch(r"tf-names/algo-1-\d+", stream) for stream in log)
    listed = emu.client("sagemaker").list_transform_jobs(NameContains="tf-names")["TransformJobSummaries"]
    assert [j["TransformJobStatus"] for j in listed] == ["Completed"]


@pytest.mark.docker
def test_the_container_sees_sagemakers_batch_environment(emu, model):
    _put(emu, {"env/request.txt": b"ENV\n"})
    _run(emu, "tf-env", model, "env/request.txt", "env-out", SplitType="None", MaxConcurrentTransforms=2,
         BatchStrategy="SingleRecord", Environment={"ECHO_TAG": "job"})
    env = json.loads(_outputs(emu, "env-out/")["env-out/request.txt.out"])
    assert env["SAGEMAKER_BATCH"] == "true"
    assert env["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD"
    assert env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "2"
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" not in env          # only what the request set
    assert (env["ECHO_TAG"], env["ECHO_KEEP"]) == ("job", "model")   # the request's Environment over the model's


@pytest.mark.docker
def test_execution_parameters_and_max_concurrent_transforms(emu):
    """What the request leaves out comes from the container's GET /execution-parameters; at most
    MaxConcurrentTransforms mini-batches are in flight at a time (each takes 0.5 s, and says how many
    were in flight)."""
    emu.client("sagemaker").create_model(ModelName="echo-params", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": echo_image(), "Environment": {"ECHO_BATCH_SLEEP": "0.5", "ECHO_EXECUTION_PARAMETERS": json.dumps(
            {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 1})}})
    _put(emu, {"params/rows.csv": b"a,b\n" * 6})
    for name, request, peak in (("tf-params", {}, 3), ("tf-params-1", {"MaxConcurrentTransforms": 1}, 1)):
        job = _run(emu, name, "echo-params", "params/", f"{name}-out", **request)
        assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
        assert _outputs(emu, f"{name}-out/")[f"{name}-out/rows.csv.out"] == b"2,1\n" * 6   # one record a request
        log = _log(emu, name)
        data_log = next(lines for stream, lines in log.items() if stream.endswith("/data-log"))
        assert f"[sagemaker logs]: MaxConcurrentTransforms={peak}, MaxPayloadInMB=1, BatchStrategy=SINGLE_RECORD" \
            in data_log
        in_flight = [int(m.group(1)) for lines in log.values() for line in lines
                     if (m := re.search(r"batch requests in flight: (\d+)", line))]
        assert len(in_flight) == 6 and max(in_flight) == peak, in_flight


@pytest.mark.docker
def test_a_failed_object_gets_no_output_and_fails_the_job(emu, model):
    emu.client("events").put_rule(Name="transform-events", EventPattern=json.dumps({
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {"TransformJobName": ["tf-fail"]}}))
    emu.client("events").put_targets(Rule="transform-events", Targets=[
        {"Id": "topic", "Arn": "arn:aws:sns:us-east-1:000000000000:transforms"}])
    _put(emu, {"mixed/good.csv": b"1,2\n", "mixed/bad.csv": b"1,2\nFAIL,3\n"})
    job = _run(emu, "tf-fail", model, "mixed/", "mixed-out", ModelClientConfig={"InvocationsMaxRetries": 1})
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: See job logs for more information"
    # The state-change events, each with the DescribeTransformJob response as detail.
    def delivered() -> list[dict] | None:
        found = requests.get(emu.endpoint + "/_emulator/events", timeout=10).json()["deliveries"]
        events = [json.loads(d["result"]["input"]) for d in reversed(found) if d["rule"] == "transform-events"]
        return events if len(events) == 2 else None
    events = wait_until(delivered, timeout=30, interval=0.2, what="the transform job's events")
    assert [e["detail"]["TransformJobStatus"] for e in events] == ["InProgress", "Failed"]
    assert events[1]["detail"]["FailureReason"] == job["FailureReason"]
    assert events[1]["resources"] == [job["TransformJobArn"]]
    assert abs(events[1]["detail"]["TransformEndTime"] - job["TransformEndTime"].timestamp() * 1000) <= 1  # ms
    assert set(_outputs(emu, "mixed-out/")) == {"mixed-out/good.csv.out"}
    log = _log(emu, "tf-fail")
    data_log = next(lines for stream, lines in log.items() if stream.endswith("/data-log"))
    assert any(line.startswith(f"[sagemaker logs]: {BUCKET}/mixed/bad.csv: ClientError: 400") for line in data_log)
    container = next(lines for stream, lines in log.items() if not stream.endswith("/data-log"))
    assert sum("POST /invocations" in line for line in container) == 3   # good once, bad twice (one retry)


@pytest.mark.docker
def test_join_and_filters_on_csv_and_json_lines(emu, model):
    _put(emu, {"join/rows.csv": b"id1,5,6,7\nid2,8,9,10\n",
               "join-json/rows.jsonl": b'{"id": 1, "features": [1, 2, 3]}\n{"id": 2, "features": [4]}\n'})
    _run(emu, "tf-join-csv", model, "join/", "join-out", BatchStrategy="MultiRecord",
         Output={"Accept": "text/csv"},
         DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"})
    # The model saw 3 columns (the id filtered out); the output keeps the id and the model's two columns.
    assert _outputs(emu, "join-out/")["join-out/rows.csv.out"] == b"id1,3,2\nid2,3,2\n"
    _run(emu, "tf-join-json", model, "join-json/", "join-json-out", ContentType="application/jsonlines",
         BatchStrategy="MultiRecord", Output={"Accept": "application/jsonlines"},
         DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                         "OutputFilter": "$['id','SageMakerOutput']"})
    lines = _outputs(emu, "join-json-out/")["join-json-out/rows.jsonl.out"].splitlines()
    assert [json.loads(line) for line in lines] == [{"id": 1, "SageMakerOutput": {"fields": 3, "batch": 2}},
                                                   {"id": 2, "SageMakerOutput": {"fields": 1, "batch": 2}}]


@pytest.mark.docker
def test_manifest_gzip_and_instances_with_batch_capture(emu, model):
    objects = {f"many/part-{i}.csv.gz": gzip.compress(f"p{i},1\np{i},2\n".encode()) for i in range(4)}
    _put(emu, objects)
    manifest = [{"prefix": f"s3://{BUCKET}/many/"}] + [key.split("/", 1)[1] for key in objects]
    _put(emu, {"many.manifest": json.dumps(manifest).encode()})
    job = _run(emu, "tf-many", model, "many.manifest", "many-out", DataType="ManifestFile", InstanceCount=2,
               BatchStrategy="SingleRecord", Input={"CompressionType": "Gzip"}, Output={"Accept": "text/csv"},
               DataCaptureConfig={"DestinationS3Uri": f"s3://{BUCKET}/batch-capture", "GenerateInferenceId": True})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    outputs = _outputs(emu, "many-out/")
    assert set(outputs) == {f"many-out/part-{i}.csv.gz.out" for i in range(4)}
    for body in outputs.values():
        rows = body.decode().splitlines()
        assert len(rows) == 2
        for row in rows:   # SingleRecord: one line per request; then the inference id and the job's start
            assert re.fullmatch(r"2,1,[0-9a-f-]{36},\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row), row
    # The objects were spread over both instances.
    log = _log(emu, "tf-many")
    posting = [s for s, lines in log.items() if not s.endswith("data-log") and any("POST" in x for x in lines)]
    assert {s.split("/")[1].rsplit("-", 1)[0] for s in posting} == {"algo-1", "algo-2"}
    captured = _outputs(emu, "batch-capture/")
    manifests = {key.split("/")[1]: json.loads(body) for key, body in captured.items()}
    assert all(re.fullmatch(r"batch-capture/(input|output)/\d{4}/\d\d/\d\d/\d\d/tf-many-[0-9a-f]{8}\.manifest", k)
               for k in captured)
    assert manifests["input"][0] == {"prefix": f"s3://{BUCKET}/"}
    assert sorted(manifests["input"][1:]) == sorted(objects)
    assert sorted(manifests["output"][1:]) == sorted(outputs)


@pytest.mark.docker
def test_stop_and_experiment_config(emu):
    sm = emu.client("sagemaker")
    sm.create_model(ModelName="echo-slow", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": echo_image(), "Environment": {"ECHO_BATCH_SLEEP": "2"}})
    _put(emu, {"slow/rows.csv": b"".join(f"{i}\n".encode() for i in range(30))})
    _run(emu, "tf-stop", "echo-slow", "slow/", "slow-out", BatchStrategy="SingleRecord", wait=False,
         ExperimentConfig={"ExperimentName": "batch-exp", "TrialName": "batch-trial"})
    wait_until(lambda: "TransformStartTime" in sm.describe_transform_job(TransformJobName="tf-stop"), timeout=120,
               what="the transform job's containers started")
    sm.stop_transform_job(TransformJobName="tf-stop")
    assert sm.describe_transform_job(TransformJobName="tf-stop")["TransformJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="tf-stop",
                                                             WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert sm.describe_transform_job(TransformJobName="tf-stop")["TransformJobStatus"] == "Stopped"
    assert "slow-out/rows.csv.out" not in _outputs(emu, "slow-out/")
    component = sm.describe_trial_component(TrialComponentName="tf-stop-aws-transform-job")
    assert component["Source"]["SourceType"] == "SageMakerTransformJob"
    assert component["Status"]["PrimaryStatus"] == "Stopped"
    assert component["InputArtifacts"]["input"]["Value"] == f"s3://{BUCKET}/slow/"
    trial = sm.list_trial_components(TrialName="batch-trial")["TrialComponentSummaries"]
    assert [c["TrialComponentName"] for c in trial] == ["tf-stop-aws-transform-job"]


def test_line_chunks_cut_whole_lines_like_record_batches():
    data = b"".join(f"{i},{'x' * 300_000}\n".encode() for i in range(7))
    expected = [b"".join(batch) for batch in records.batches(records.split(data, "Line"), "MultiRecord", 1, "Line")]
    assert records.line_chunks(data, 1) == expected
    assert records.line_chunks(data, 0) == [data]
    assert records.line_chunks(b"a\n\nb\n", 1) is None     # empty lines: the record path drops them


@pytest.mark.docker
def test_console_lists_transform_jobs_and_their_outputs(emu, model):
    import requests
    _put(emu, {"ui/rows.csv": b"1,2\n3,4\n"})
    _run(emu, "tf-console", model, "ui/", "ui-out", ExperimentConfig={"ExperimentName": "ui-exp"})
    listing = requests.get(f"{emu.endpoint}/_emulator/ui/jobs/transform", timeout=10)
    assert listing.status_code == 200
    assert 'href="/_emulator/ui/jobs/transform/tf-console"' in listing.text
    page = requests.get(f"{emu.endpoint}/_emulator/ui/jobs/transform/tf-console", timeout=10)
    assert page.status_code == 200
    for shown in ("Completed", f"s3://{BUCKET}/ui-out/rows.csv.out", "echo-batch", f"s3://{BUCKET}/ui/",
                  "/_emulator/ui/experiments/ui-exp"):
        assert shown in page.text, shown
    log = requests.get(f"{emu.endpoint}/_emulator/ui/jobs/transform/tf-console/logs.txt", timeout=10).text
    assert "[sagemaker logs]: MaxConcurrentTransforms=" in log
