"""Bounded memory, files and time under hostile input: request sizes, slow clients, instance counts,
log filter patterns, and client mistakes that must answer 4xx, never 5xx."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from emulator.testing.waiting import wait_until
from tests.jobhelpers import ROLE, unique
from tests.signing import sign_headers, signed

NO_JOBS = {"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}
MiB = 1024 * 1024
JSON_TARGET = {"Content-Type": "application/x-amz-json-1.1"}


def status_of(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def exchange(server, head: bytes, body: bytes = b"", *, wait: float = 15) -> bytes:
    """Send raw bytes, return what the server answers before it closes the connection (or `wait` ends)."""
    url = urlparse(server.endpoint)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head + body)
        sock.settimeout(wait)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def signed_head(server, target: str, extra: str = "", method: str = "POST") -> bytes:
    headers = sign_headers(method, server.endpoint + "/", b"", {"X-Amz-Target": target, **JSON_TARGET},
                           service="sagemaker")
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    return f"{method} / HTTP/1.1\r\nHost: {urlparse(server.endpoint).netloc}\r\n{lines}{extra}".encode()


# ------------------------------------------------------------------ request sizes
def test_an_oversized_api_body_is_refused_before_it_is_read(server):
    head = signed_head(server, "SageMaker.ListTrainingJobs", f"Content-Length: {200 * MiB}\r\n\r\n")
    answer = exchange(server, head, b"{" + b" " * MiB, wait=15)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"RequestEntityTooLargeException" in answer and len(answer) < 4096


def test_a_chunked_api_body_is_cut_off_at_the_limit(server):
    pid = server.proc.pid
    before = status_of(pid, "VmRSS")
    url = urlparse(server.endpoint)
    head = signed_head(server, "SageMaker.ListTrainingJobs", "Transfer-Encoding: chunked\r\n\r\n")
    answer = b""
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.settimeout(30)

        def send() -> None:
            try:
                sock.sendall(head + b"1\r\n{\r\n")
                block = b"%x\r\n%s\r\n" % (MiB, b" " * MiB)
                for _ in range(64):
                    sock.sendall(block)
            except OSError:
                pass  # the server answered and closed: what we want
        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        writer.join(30)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert status_of(pid, "VmRSS") - before < 48 * MiB


def test_a_huge_invalid_value_gets_a_small_error(server):
    body = json.dumps({"NameContains": "a" * (9 * MiB)})
    resp = signed("POST", server.endpoint + "/", body, {"X-Amz-Target": "SageMaker.ListTrainingJobs", **JSON_TARGET},
                  service="sagemaker")
    assert resp.status_code == 400 and resp.json()["__type"] == "ValidationException"
    assert len(resp.content) < 16 * 1024  # the value's first 4 KiB, quoted in `message` and `Message`


def test_oversized_request_headers_are_refused(server):
    head = (f"GET /_emulator/health HTTP/1.1\r\nHost: {urlparse(server.endpoint).netloc}\r\n"
            f"X-Padding: {'a' * MiB}\r\n\r\n").encode()
    answer = exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    many = "".join(f"X-Pad-{i}: {'b' * 100}\r\n" for i in range(2000))
    answer = exchange(server, f"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n{many}\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_aws_chunked_trailer_bytes_are_counted(server):
    s3 = server.client("s3")
    bucket = unique("trailers")
    s3.create_bucket(Bucket=bucket)
    data = b"payload"
    trailers = "".join(f"x-amz-meta-pad-{i}:{'t' * 100}\r\n" for i in range(2000))
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = (b"%x\r\n%s\r\n0\r\n" % (len(data), data)) + trailers.encode() + \
        f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    url = f"{server.endpoint}/{bucket}/obj"
    headers = sign_headers("PUT", url)
    headers = {"Authorization": headers["Authorization"], "X-Amz-Date": headers["X-Amz-Date"],
               "Content-Encoding": "aws-chunked", "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length": str(len(data))}
    import requests
    resp = requests.put(url, data=body, headers=headers)
    assert resp.status_code == 400 and "<Code>InvalidRequest</Code>" in resp.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="obj")


# ------------------------------------------------------------------ slow clients
@pytest.mark.own_server(env={"SAGEMAKER_EMULATOR_CLIENT_TIMEOUT": "1", **NO_JOBS})
def test_slow_and_silent_clients_are_disconnected(own_server):
    server = own_server
    start = time.time()
    answer = exchange(server, b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n", wait=20)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert exchange(server, b"", wait=20).startswith(b"HTTP/1.1 408 ")
    # A body that stops arriving: the connection is closed without an answer.
    head = signed_head(server, "SageMaker.ListTrainingJobs", "Content-Length: 100\r\n\r\n")
    assert exchange(server, head, b"{" * 10, wait=20) == b""
    assert time.time() - start < 20
    # A client that keeps to time is unaffected.
    assert server.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


# ------------------------------------------------------------------ instance counts
@pytest.mark.own_server(env=NO_JOBS)
def test_instance_counts_are_limited_like_a_service_quota(own_server):
    sm = own_server.client("sagemaker")

    def training(count: int) -> dict:
        return {"TrainingJobName": unique("many"), "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
                "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 1},
                "StoppingCondition": {"MaxRuntimeInSeconds": 60}}
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**training(10_000))
    assert err.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "'ml.m5.large for training job usage' is 32 Instances" in err.value.response["Error"]["Message"]
    sm.create_training_job(**training(20))
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(ProcessingJobName=unique("many"), RoleArn=ROLE, AppSpecification={"ImageUri": "i:1"},
                                 ProcessingResources={"ClusterConfig": {"InstanceCount": 13, "VolumeSizeInGB": 1,
                                                                        "InstanceType": "ml.m5.large"}})
    assert err.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "current utilization of 20 Instances and a request delta of 13" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**training(0))
    assert err.value.response["Error"]["Code"] == "ValidationException"


# ------------------------------------------------------------------ CloudWatch Logs filtering
@pytest.fixture
def log_stream(server):
    logs = server.client("logs")
    group = f"/limits/{unique('g')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return logs, group


def test_a_backtracking_filter_regex_answers_an_error_not_a_stuck_worker(server, log_stream):
    logs, group = log_stream
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": 1000, "message": "a" * 80}])
    impatient = server.client("logs", read_timeout=20, retries={"max_attempts": 0})
    start = time.time()
    try:
        impatient.filter_log_events(logGroupName=group, filterPattern="%(a|aa)+b%")
        raise AssertionError("expected InvalidParameterException")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidParameterException"
    except ReadTimeoutError:
        raise AssertionError("the filter held the server for over 20 s") from None
    assert time.time() - start < 10
    for bad in ("%(%", "%[z-a]%", "%a{99999999999}%"):
        with pytest.raises(ClientError) as err:
            logs.filter_log_events(logGroupName=group, filterPattern=bad)
        assert err.value.response["Error"]["Code"] == "InvalidParameterException", bad
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern="%^a{80}$%")["events"]] \
        == ["a" * 80]


@pytest.mark.own_server(env=NO_JOBS)
def test_filter_log_events_streams_rows_instead_of_loading_the_group(own_server):
    logs = own_server.client("logs")
    logs.create_log_group(logGroupName="/big")
    logs.create_log_stream(logGroupName="/big", logStreamName="s")
    filler = "x" * 1000
    needles = {10, 25_000, 59_999}
    for batch in range(60):
        logs.put_log_events(logGroupName="/big", logStreamName="s", logEvents=[
            {"timestamp": 1_000_000 + i, "message": f"needle {i}" if i in needles else filler}
            for i in range(batch * 1000, batch * 1000 + 1000)])
    pid = own_server.proc.pid
    peak_before = status_of(pid, "VmHWM")
    found, token, calls = [], None, 0
    while True:
        page = logs.filter_log_events(logGroupName="/big", filterPattern="needle", limit=1,
                                      **({"nextToken": token} if token else {}))
        found += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        calls += 1
        if not token:
            break
    assert found == [f"needle {i}" for i in sorted(needles)]
    assert calls <= 5
    assert status_of(pid, "VmHWM") - peak_before < 32 * MiB


# ------------------------------------------------------------------ client mistakes are 4xx
def post_json(server, target: str, body: bytes | str) -> tuple[int, str]:
    service = "logs" if target.startswith("Logs") else "sagemaker"
    resp = signed("POST", server.endpoint + "/", body, {"X-Amz-Target": target, **JSON_TARGET}, service=service)
    return resp.status_code, resp.headers.get("X-Amzn-ErrorType", "")


NESTED = "[" * 100_000 + "]" * 100_000
DEEP_SEARCH = '{"Resource": "TrainingJob", "SearchExpression": ' + '{"SubExpressions": [' * 450 + "{}" + "]}" * 450 + "}"

CLIENT_MISTAKES = {
    "deeply nested JSON": ("SageMaker.ListTrainingJobs", '{"NameContains": ' + NESTED + "}"),
    "deeply nested search expression": ("SageMaker.Search", DEEP_SEARCH),
    "training job without AlgorithmSpecification": ("SageMaker.CreateTrainingJob", json.dumps({
        "TrainingJobName": "no-spec", "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}})),
    "training job without ResourceConfig": ("SageMaker.CreateTrainingJob", json.dumps({
        "TrainingJobName": "no-resources", "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"}})),
    "steps without an execution ARN": ("SageMaker.ListPipelineExecutionSteps", "{}"),
    "malformed List timestamp": ("SageMaker.ListTrainingJobs", '{"CreationTimeAfter": "yesterday"}'),
    "out-of-range List timestamp": ("SageMaker.ListTrainingJobs", '{"CreationTimeAfter": 1e300}'),
    "bad List NextToken": ("SageMaker.ListTrainingJobs", '{"NextToken": "not-a-token"}'),
    "huge List NextToken offset": ("SageMaker.ListModels", json.dumps({
        "NextToken": base64.urlsafe_b64encode(b'{"o": 99999999999999999999999}').decode()})),
    "bad log filter pattern": ("Logs_20140328.FilterLogEvents", '{"logGroupName": "/g", "filterPattern": "%(%"}'),
    "bad DescribeLogGroups nextToken": ("Logs_20140328.DescribeLogGroups", '{"nextToken": "abc"}'),
    "bad GetLogEvents token": ("Logs_20140328.GetLogEvents", json.dumps({
        "logGroupName": "/g", "logStreamName": "s", "nextToken": "f/" + "9" * 40})),
    "integer beyond a long": ("Logs_20140328.PutLogEvents", json.dumps({
        "logGroupName": "/g", "logStreamName": "s", "logEvents": [{"timestamp": 10 ** 30, "message": "m"}]})),
    "lone surrogate in a log message": ("Logs_20140328.PutLogEvents", json.dumps({
        "logGroupName": "/g", "logStreamName": "s", "logEvents": [{"timestamp": 1, "message": "\ud800"}]})),
}


@pytest.mark.parametrize("name", list(CLIENT_MISTAKES))
def test_client_mistakes_answer_4xx(server, name):
    logs = server.client("logs")
    try:
        logs.create_log_group(logGroupName="/g")
        logs.create_log_stream(logGroupName="/g", logStreamName="s")
    except ClientError:
        pass  # created by an earlier case
    target, body = CLIENT_MISTAKES[name]
    status, code = post_json(server, target, body)
    assert 400 <= status < 500, (status, code)


def test_query_protocol_member_lists_answer_4xx(server):
    simulate = "Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn:aws:iam::000000000000:role/R"
    for form in (simulate + "&ActionNames.member.1.x=y", simulate + "&ActionNames.member.99999999=a",
                 "Action=GetCallerIdentity&Version=2011-06-15&Tags.member.1.Key=a&Tags.member.3.Value=b"):
        service = "iam" if "Simulate" in form else "sts"
        resp = signed("POST", server.endpoint + "/", form, {"Content-Type": "application/x-www-form-urlencoded"},
                      service=service)
        assert resp.status_code < 500, (form, resp.text)
    resp = signed("POST", server.endpoint + "/", "Action=SimulatePrincipalPolicy&Version=2010-05-08"
                  "&PolicySourceArn=arn:aws:iam::000000000000:role/R&ActionNames.member.1=s3:GetObject",
                  {"Content-Type": "application/x-www-form-urlencoded"}, service="iam")
    assert resp.status_code == 200 and "s3:GetObject" in resp.text


# ------------------------------------------------------------------ many jobs, bounded files and memory
def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@pytest.mark.docker
@pytest.mark.own_server(mode="subprocess")  # its process is measured
def test_open_files_and_memory_stay_flat_over_2000_jobs(own_server, byo_image):
    """2,000 short jobs under `ulimit -n 256`. Every job takes the whole path through the server that
    holds per-job resources (record, supervisor thread, database writes, Docker API calls, final status);
    one in ten also runs a real container (staging, log follower, wait, output upload, cleanup). Starting
    2,000 containers would take this 2-core machine half an hour; the others name an image that does not
    exist, so they fail at image resolution after the same thread, database and Docker client setup."""
    import resource

    from tests.jobhelpers import shell_training_job
    server = own_server
    pid = server.proc.pid
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (256, 256))
    sm = server.client("sagemaker")
    server.client("s3").create_bucket(Bucket="many-jobs")
    samples: dict[int, tuple[int, int]] = {}
    created = 0
    while created < 2000:
        for _ in range(20):  # a batch at a time: the instance quota counts running jobs
            real = created % 10 == 0
            sm.create_training_job(**shell_training_job(f"short-{created}", "echo hi", "many-jobs",
                                                        image=byo_image if real else "no-such-image:1"))
            created += 1
        wait_until(lambda: not sm.list_training_jobs(StatusEquals="InProgress", MaxResults=1)["TrainingJobSummaries"],
                   timeout=120, interval=0.05, what="the batch's jobs finished")
        if created % 400 == 0:
            samples[created] = (open_files(pid), status_of(pid, "VmRSS"))
    # After a warm-up (the connection pool and caches fill), flat: a leak of one descriptor per job
    # would add 1,600 here, and the server would have hit the limit of 256 long before.
    warm_files, warm_rss = samples[400]
    assert max(files for files, _ in samples.values()) <= warm_files + 12, samples
    assert samples[2000][1] <= warm_rss + 24 * MiB, samples
    completed = sm.list_training_jobs(StatusEquals="Completed", MaxResults=100, NameContains="short-")
    assert len(completed["TrainingJobSummaries"]) == 100 and completed.get("NextToken")
    print("open files, RSS MiB after N jobs:", {n: (f, r // MiB) for n, (f, r) in samples.items()})
