"""No client mistake answers 5xx: requests generated from botocore's own sagemaker, s3, logs, sts,
cloudwatch and events models, with random and invalid members, nested structures and odd encodings
(CloudWatch in each protocol its model lists: RPC v2 CBOR, JSON 1.0 and query; gzip bodies, some
broken, some bombs), all signed as an SDK signs them. Any 5xx but S3's intended 501 NotImplemented
fails the test.

Bounded and reproducible: a fixed seed, a few thousand requests, well under a minute. A request that
fails is written to tests/fuzz_corpus/ (commit it: every corpus entry is replayed first, for ever).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import string
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, create_request_object, prepare_request_dict
from botocore.model import Shape
from botocore.serialize import create_serializer

from emulator import api
from emulator.aws import handlers, models
from emulator.aws.validation import _compile
from emulator.testing.emulator import REGION
from tests.signing import DEFAULT_CREDENTIALS

SEED = int(os.environ.get("FUZZ_SEED", "20261130"))  # another seed explores further; the default stays fixed
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "4000"))
SERVICES = {"sagemaker": 0.35, "s3": 0.22, "logs": 0.11, "sts": 0.07, "cloudwatch": 0.13, "events": 0.12}
if os.environ.get("FUZZ_SERVICES"):  # e.g. FUZZ_SERVICES=cloudwatch,events to explore a few services further
    SERVICES = {name: SERVICES[name] for name in os.environ["FUZZ_SERVICES"].split(",")}
CORPUS = Path(__file__).parent / "fuzz_corpus"
BUCKETS = ["fuzz-one", "fuzz-two"]
NAMES = ["fuzz-job", "fuzz-model", "fuzz-pipeline", "fuzz-experiment", "fuzz-group"]
ODD_STRINGS = [
    "", " ", "a", "x" * 300, "y" * 5000, "ünïcødé", "日本語のテキスト", "\x00", "tab\there\nnewline\r", "\u202e",
    "\U0001F600", "\ud800", "\udfff\ud800", "../../../etc/passwd", "/opt/ml/processing/../../x", "%2e%2e%2f",
    "s3://fuzz-one/key", "s3://", "file:///etc", "file:///var/run/docker.sock", "https://example.com/x",
    "arn:aws:sagemaker:us-east-1:000000000000:training-job/fuzz-job", "arn:aws:iam::000000000000:role/R",
    "null", "true", "-1", "1e309", "NaN", "<a>&amp;</a>", "' OR 1=1 --", "${jndi:ldap://x}", "{{7*7}}",
    "%(a|aa)+b%", "%(%", "[", "{\"a\":", "2024-01-01T00:00:00Z", "not-a-date", "f/1", "b/99999999999999999999999",
    # JSON text members (event patterns, PutEvents Detail, target Input, StateReasonData) and JSON paths
    "[" * 5000, "{\"a\":" * 3000, '{"a": [{"numeric": [">", "x"]}]}', '{"a": [{"prefix": 1}]}',
    '{"a": [{"anything-but": {"prefix": []}}]}', '{"n": [{"numeric": ["<", 1e400]}]}', '{"a": [{"cidr": "x/99"}]}',
    '{"$or": [{"a": ["x"]}, {"b": [{"exists": true}]}]}', '{"a": {"b": {"c": [{"wildcard": "*\\\\*"}]}}}',
    '{"detail": {"x": 1e309}}', '{"source": ["fuzz"], "detail": {"n": [1]}}', "$.", "$..detail", "$.detail[",
    "$.detail.x" * 300, "<aws.events.event>", "p" + "9" * 400, "TM(1%:2%)", "tm99", "PR(:)", "rate(0 minutes)",
]
_ARN = "arn:aws:sagemaker:us-east-1:000000000000:"
PLAUSIBLE = NAMES + [
    f"{_ARN}{kind}/{name}" for kind in ("training-job", "processing-job", "model", "pipeline", "experiment",
                                        "experiment-trial", "experiment-trial-component", "model-package-group",
                                        "hyper-parameter-tuning-job", "artifact", "action", "context")
    for name in NAMES[:2]] + [
    f"{_ARN}pipeline/fuzz-pipeline/execution/abc123", f"{_ARN}model-package/fuzz-group/1",
    "arn:aws:iam::000000000000:role/FuzzRole", "s3://fuzz-one/key", "s3://fuzz-one/prefix/", "ml.m5.large",
    "0123456789abcdef0123456789abcdef", "d-abc123", "sha256:" + "a" * 64, "fuzz-one", "key", "1.0",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "/aws/sagemaker/TrainingJobs", "fuzz-job/algo-1",
    "f/00000000000000000000000000000000000000000000000000000001", "Name", "Value", "{}", "train",
    "Emu/Fuzz", "AWS/SageMaker", "Average", "p99", "Invocations", '{"source": ["fuzz"]}', '{"n": 1}', "fuzz",
    '{"detail-type": [{"prefix": "f"}], "detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}', "$.detail",
    "arn:aws:events:us-east-1:000000000000:rule/fuzz-pipeline",
    "arn:aws:cloudwatch:us-east-1:000000000000:alarm:fuzz-model",
    f"{_ARN}pipeline/fuzz-pipeline", "rate(5 minutes)", "cron(0 12 * * ? *)", "default",
]
NUMBERS = [0, 1, -1, 2, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 63 - 1, 2 ** 63, 10 ** 30, -(10 ** 30), 0.5, 1e308, -1e-9]


def _fits(shape: Shape, value: str) -> bool:
    meta = shape.metadata
    if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 20):
        return False
    pattern = meta.get("pattern")
    compiled = _compile(pattern) if pattern else None
    return compiled is None or compiled.fullmatch(value) is not None


class Generator:
    """Values for botocore shapes: usually of the right type (often violating the model's
    constraints), sometimes of any other type, in odd encodings."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tame = False  # per request: a plausible request (reaches handlers) or a hostile one

    def params(self, shape: Shape | None) -> dict[str, Any]:
        self.tame = self.rng.random() < 0.5
        if shape is None:
            return {}
        return self.structure(shape, 0, required_bias=1.0 if self.tame else 0.85)

    def structure(self, shape: Shape, depth: int, required_bias: float = 0.6) -> dict[str, Any]:
        out = {}
        for name, member in shape.members.items():
            wanted = required_bias if name in shape.required_members else 0.25
            if self.rng.random() < wanted:
                out[name] = self.value(member, depth + 1)
        return out

    def value(self, shape: Shape, depth: int) -> Any:
        rng = self.rng
        if not self.tame and rng.random() < 0.02:
            return self.junk(depth)
        kind = shape.type_name
        if self.tame and kind in ("integer", "long"):
            low = max(1, int(shape.metadata.get("min", 1)))
            return rng.randint(low, low + 9)
        if kind == "structure":
            return self.structure(shape, depth) if depth < 6 else {}
        if kind == "list":
            count = rng.choice([0, 1, 1, 2, 3, 30]) if depth < 6 else 0
            return [self.value(shape.member, depth + 1) for _ in range(count)]
        if kind == "map":
            count = rng.choice([0, 1, 2, 5]) if depth < 6 else 0
            return {self.string(shape.key): self.value(shape.value, depth + 1) for _ in range(count)}
        if kind == "string":
            return self.string(shape)
        if kind in ("integer", "long"):
            return rng.choice(NUMBERS) if rng.random() < 0.25 else rng.randint(1, 100)
        if kind in ("float", "double"):
            return rng.choice([0.0, -1.5, 1e300, 3.25, "NaN", "Infinity"])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "timestamp":
            return rng.choice([0, 1700000000, -1, 1e20, "2024-02-30T00:00:00Z", "yesterday", "1700000000",
                               "2024-01-01T00:00:00Z"])
        if kind == "blob":
            return rng.choice([b"", b"\x00\xff", b"data", base64.b64encode(b"x").decode()])
        return None

    def string(self, shape: Shape) -> str:
        rng = self.rng
        if shape.enum and (self.tame or rng.random() < 0.6):
            return rng.choice(shape.enum)
        if self.tame:
            fitting = [c for c in PLAUSIBLE if _fits(shape, c)]
            if fitting:
                return rng.choice(fitting)
        name = shape.name.lower()
        roll = rng.random()
        if "bucket" in name and roll < 0.6:
            return rng.choice(BUCKETS)
        if roll < 0.5:
            return rng.choice(NAMES)
        if roll < 0.75:
            return rng.choice(ODD_STRINGS)
        alphabet = string.ascii_letters + string.digits + "-_./:%+ "
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 5, 20, 64, 200])))

    def junk(self, depth: int) -> Any:
        choices = [None, True, 7, -3.5, "junk", [], {}, [1, "a", None], {"k": {"k": ["v"]}}]
        if depth < 4:
            choices.append([[[[[[]]]]]])
        return self.rng.choice(choices)


# Bodies the CBOR decoder must refuse as the client's mistake: not CBOR, truncated, not a map, nested
# past any stack, maps keyed by numbers or arrays, tags on the wrong items, undefined, huge bignums.
ODD_CBOR = [b"", b"\xff", b"\x80", b"\xf6", b"\xbf", b"\xbf\x61a", b"\x81" * 5000 + b"\x80", b"\xa1" * 5000 + b"\xa0",
            cbor2.dumps({1: 2}), cbor2.dumps({"a": 1})[:-1], b"\xa1\x81\x01\x02", b"\xa1\x61a\xf7",
            cbor2.dumps({"Namespace": cbor2.CBORTag(1, "x")}), cbor2.dumps({"StartTime": cbor2.CBORTag(1, 1e300)}),
            cbor2.dumps({"MetricData": [{"Value": 2 ** 200}]}), b"\xa1\x61a\xc2\x5b" + b"\xff" * 8,
            b"\xa1\x61a\x7b" + b"\xff" * 8, cbor2.dumps({b"bytes-key": 1}), cbor2.dumps({"a": float("nan")})]
# gzip-encoded bodies: broken, truncated, and one that expands past the API body limit (a bomb).
ODD_GZIP = [b"not gzip", gzip.compress(b'{"a": 1}')[:-6], gzip.compress(b"\0" * (11 * 1024 * 1024), 9)]


def wire_request(service: str, op_name: str, params: dict, endpoint: str, rng: random.Random) -> dict | None:
    """Serialise as botocore does (no client-side validation), in one of the protocols the model lists,
    sometimes mutating the bytes."""
    model = models.service_model(service)
    op = model.operation_model(op_name)
    protocol = rng.choice(model.metadata.get("protocols") or [model.metadata["protocol"]])
    try:
        serialized = create_serializer(protocol, include_validation=False).serialize_to_request(params, op)
        prepare_request_dict(serialized, endpoint)
        request = create_request_object(serialized)
        body = request.data if isinstance(request.data, bytes) else (
            request.data.encode() if isinstance(request.data, str) else _form(request.data))
    except Exception:  # noqa: BLE001 - a value the client library itself cannot put on the wire
        return None
    if protocol == "json" and rng.random() < 0.15:
        body = rng.choice([b"", b"{", b"[]", b"null", b'"x"', b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                           json.dumps(params, default=str).encode()[: rng.randint(0, 50)]])
    if protocol == "smithy-rpc-v2-cbor" and rng.random() < 0.2:
        body = rng.choice(ODD_CBOR + [body[: rng.randint(0, len(body))]])
    if protocol == "query" and rng.random() < 0.3:
        body += f"&Tags.member.{rng.choice([1, 2, 10 ** 6])}.Key=a&PolicyArns.member.1.x=y".encode()
    # Header values go out as UTF-8 bytes (http.client would refuse what latin-1 cannot encode).
    headers = {k: v.encode("utf-8", "surrogatepass").decode("latin-1") if isinstance(v, str) else v
               for k, v in request.headers.items()}
    if service != "s3" and rng.random() < 0.05:
        # botocore gzips large bodies of operations with the requestcompression trait (PutMetricData).
        headers["Content-Encoding"] = rng.choice(["gzip", "gzip", "br", "gzip, gzip"])
        body = rng.choice([gzip.compress(body or b"")] * 3 + ODD_GZIP)
    if rng.random() < 0.05:
        headers[rng.choice(["Content-Type", "X-Amz-Target", "Content-MD5", "x-amz-checksum-crc32", "Range",
                            "x-amz-copy-source", "If-Match"])] = rng.choice(
            ["", "garbage", "bytes=5-1", "\u00e9", "\xc3\xa9"])
    return {"service": service, "protocol": protocol, "operation": op_name, "method": request.method,
            "path": request.url[len(endpoint):],
            "headers": {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-date")},
            "body": base64.b64encode(body or b"").decode()}


def _form(data: Any) -> bytes:
    from urllib.parse import urlencode
    return urlencode(data or {}).encode()


class Unsendable(ValueError):
    """Bytes the client libraries will not sign or send at all."""


def send(entry: dict, endpoint: str) -> requests.Response:
    body = base64.b64decode(entry["body"])
    request = AWSRequest(method=entry["method"], url=endpoint + entry["path"], data=body,
                         headers=dict(entry["headers"]))
    service = entry["service"]
    signing_name = models.service_model(service).signing_name  # CloudWatch signs as `monitoring`
    try:
        (S3SigV4Auth if service == "s3" else SigV4Auth)(DEFAULT_CREDENTIALS, signing_name, REGION).add_auth(request)
        prepared = request.prepare()
    except Exception as exc:  # noqa: BLE001
        raise Unsendable(str(exc)) from None
    return requests.request(prepared.method, prepared.url, data=prepared.body, headers=dict(prepared.headers),
                            timeout=30, allow_redirects=False)


def is_server_error(service: str, response: requests.Response) -> bool:
    if response.status_code < 500:
        return False
    return not (service == "s3" and response.status_code == 501 and b"<Code>NotImplemented</Code>" in response.content)


@pytest.fixture(scope="module")
def fuzz_server(sagemaker_emulator_factory):
    proc = sagemaker_emulator_factory(env={"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}, name="fuzz", mode="subprocess")
    s3 = proc.client("s3")
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=BUCKETS[0], Key="key", Body=b"object")
    logs = proc.client("logs")
    logs.create_log_group(logGroupName="fuzz-group")
    logs.create_log_stream(logGroupName="fuzz-group", logStreamName="fuzz-job")
    # An alarm on a metric with data, and a rule matching every fuzzed event with targets that transform
    # it, so generated requests reach evaluation, pattern matching and delivery, not only not-found.
    cloudwatch = proc.client("cloudwatch")
    cloudwatch.put_metric_data(Namespace="Emu/Fuzz", MetricData=[{"MetricName": "Invocations", "Value": 1.0}])
    cloudwatch.put_metric_alarm(AlarmName="fuzz-model", Namespace="Emu/Fuzz", MetricName="Invocations",
                                Statistic="Average", Period=10, EvaluationPeriods=1, Threshold=0.5,
                                ComparisonOperator="GreaterThanThreshold")
    events = proc.client("events")
    events.put_rule(Name="fuzz-pipeline", EventPattern='{"source": [{"prefix": ""}]}')
    events.put_targets(Rule="fuzz-pipeline", Targets=[
        {"Id": "pipeline", "Arn": f"{_ARN}pipeline/fuzz-pipeline", "RoleArn": "arn:aws:iam::000000000000:role/R",
         "InputPath": "$.detail", "SageMakerPipelineParameters": {"PipelineParameterList": [
             {"Name": "Input", "Value": "s3://fuzz-one/key"}]}},
        {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:fuzz",
         "InputTransformer": {"InputPathsMap": {"n": "$.detail.n", "t": "$.time"},
                              "InputTemplate": '{"n": <n>, "at": "<t>", "raw": <aws.events.event>}'}}])
    yield proc
    proc.discard()


def _record(entry: dict, response: requests.Response | None) -> Path:
    CORPUS.mkdir(exist_ok=True)
    digest = hashlib.sha1(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:16]
    path = CORPUS / f"{entry['service']}-{entry['operation']}-{digest}.json"
    path.write_text(json.dumps({**entry, "observed": response.status_code if response is not None else "no answer"},
                               indent=1, sort_keys=True))
    return path


def _check(entry: dict, endpoint: str) -> str | None:
    try:
        response = send(entry, endpoint)
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError):
        return None  # bytes the HTTP client library will not send at all
    except requests.RequestException as exc:
        return f"{_record(entry, None).name}: {type(exc).__name__}"
    if is_server_error(entry["service"], response):
        return f"{_record(entry, response).name}: {response.status_code} {response.text[:300]}"
    return None


def test_regression_corpus_answers_no_5xx(fuzz_server):
    failures = [f for f in (_check(json.loads(p.read_text()), fuzz_server.endpoint)
                            for p in sorted(CORPUS.glob("*.json"))) if f]
    assert not failures, failures


def test_generated_requests_answer_no_5xx(fuzz_server):
    rng = random.Random(SEED)
    generator = Generator(rng)
    api.load_all()
    operations = {}
    for service in SERVICES:
        everything = models.service_model(service).operation_names
        implemented = set(handlers.implemented(service)) & set(everything)
        operations[service] = (sorted(implemented) or everything, everything)
    services, weights = zip(*SERVICES.items())
    failures, sent, start = [], 0, time.time()
    while sent < REQUESTS:
        service = rng.choices(services, weights)[0]
        implemented, everything = operations[service]
        op_name = rng.choice(implemented if rng.random() < 0.8 else everything)
        params = generator.params(models.operation_model(service, op_name).input_shape)
        entry = wire_request(service, op_name, params, "http://emulator", rng)
        if entry is None:
            continue
        sent += 1
        failure = _check(entry, fuzz_server.endpoint)
        if failure:
            failures.append(failure)
    elapsed = time.time() - start
    print(f"{sent} requests in {elapsed:.1f} s")
    assert not failures, failures
    assert requests.get(fuzz_server.endpoint + "/_emulator/health", timeout=10).ok
