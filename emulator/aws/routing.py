"""Which AWS service a request on our single port is for (peer_emulators_and_s3_wire.md §1.4).

Order: the emulator's own /_emulator paths; Smithy RPC v2 CBOR (`smithy-protocol: rpc-v2-cbor` on
`/service/<Service>/operation/<Operation>`, what current botocore may send CloudWatch); X-Amz-Target
(JSON 1.0/1.1 services); sagemaker-runtime and
sagemaker-metrics paths (they share the signing name `sagemaker`, so the path decides, as in
LocalStack's router); query-protocol STS/IAM (form body or query string with Action=); and
everything else is S3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RUNTIME_PATH = re.compile(r"^/endpoints/[^/]+/(invocations|async-invocations|invocations-response-stream)$")
METRICS_PATHS = {"/BatchPutMetrics", "/BatchGetMetrics"}
RPC_V2_PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Route:
    service: str  # emulator | rpcv2-cbor | json | sagemaker-runtime | sagemaker-metrics | query | s3
    region: str | None = None
    signing_service: str | None = None


def signing_scope(authorization: str | None, query: dict[str, str]) -> tuple[str | None, str | None]:
    """(region, service) from a SigV4 Authorization header or presigned X-Amz-Credential."""
    text = authorization or ""
    if not text and "X-Amz-Credential" in query:
        text = "Credential=" + query["X-Amz-Credential"]
    match = _CREDENTIAL.search(text)
    return (match.group(1), match.group(2)) if match else (None, None)


def classify(method: str, path: str, headers, query: dict[str, str]) -> Route:
    region, signing = signing_scope(headers.get("authorization"), query)
    if path.startswith("/_emulator/") or path == "/_emulator":
        return Route("emulator", region, signing)
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and RPC_V2_PATH.match(path):
        return Route("rpcv2-cbor", region, signing)
    if headers.get("x-amz-target"):
        return Route("json", region, signing)
    if method == "POST" and RUNTIME_PATH.match(path):
        return Route("sagemaker-runtime", region, signing)
    if path in METRICS_PATHS and signing != "s3":
        return Route("sagemaker-metrics", region, signing)
    if path == "/" and signing != "s3":
        content_type = headers.get("content-type", "")
        if "Action" in query or (method == "POST" and content_type.startswith("application/x-www-form-urlencoded")):
            return Route("query", region, signing)
    return Route("s3", region, signing)
