"""Wire protocols for the model-driven services: JSON 1.1 (SageMaker, CloudWatch Logs, EventBridge),
JSON 1.0 and Smithy RPC v2 CBOR (CloudWatch), REST-JSON (sagemaker-runtime, sagemaker-metrics) and
query (STS, IAM, CloudWatch). Each turns an HTTP request into
(operation, validated params), calls the registered handler, and serialises the result or error by
the operation's shapes. S3 (REST-XML, streaming) has its own module in emulator/api/s3."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote

import cbor2
from botocore.model import OperationModel, Shape

from emulator.aws import models, signing
from emulator.aws.errors import (
    AwsError,
    InternalFailure,
    NotImplementedOperation,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from emulator.aws.handlers import RequestContext, lookup
from emulator.aws.serialize import cbor_value, json_value, to_epoch, xml_members
from emulator.aws.signing import SignedRequest
from emulator.aws.validation import validate_input

log = logging.getLogger(__name__)


@dataclass
class WireResponse:
    status: int
    body: bytes | AsyncIterator[bytes]   # an iterator for event-stream responses
    headers: dict[str, str] = field(default_factory=dict)


# sagemaker-runtime names its client error ValidationError (not ValidationException) and says so in every
# response (inference_and_monitoring.md §6.1).
_SERVICE_CODES = {"sagemaker-runtime": {"ValidationException": "ValidationError"}}


def _handler_for(ctx: RequestContext, op: OperationModel, params: dict[str, Any]):
    validate_input(op.input_shape, params)
    fn = lookup(ctx.service, op.name)
    if fn is None:
        raise NotImplementedOperation(
            f"The operation {op.name} of {ctx.service} is not supported by the SageMaker Emulator yet.")
    return fn


def _call(ctx: RequestContext, op: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    fn = _handler_for(ctx, op, params)
    try:
        return fn(ctx, params) or {}
    except KeyError as exc:
        # The model leaves some members optional that the operation needs (ListPipelineExecutionSteps
        # without PipelineExecutionArn): a handler reading one that is absent is the client's mistake,
        # worded as AWS words a missing member.
        name = exc.args[0] if exc.args else None
        if isinstance(name, str) and op.input_shape is not None and name in op.input_shape.members \
                and params.get(name) is None:
            raise ValidationException(f"1 validation error detected: Value null at '{name[:1].lower()}{name[1:]}' "
                                      "failed to satisfy constraint: Member must not be null") from None
        raise


def _internal(exc: Exception) -> AwsError:
    log.exception("handler crashed")
    return InternalFailure(f"Internal error in the emulator: {type(exc).__name__}: {exc}")


def _authenticate(services: Any, op: OperationModel | None, auth: SignedRequest | None, family: str) -> None:
    """Every call must be signed, but for the few operations AWS serves unsigned
    (STS AssumeRoleWithWebIdentity / AssumeRoleWithSAML)."""
    if auth is None or (op is not None and op.auth_type == "none"):
        return
    signing.authenticate(auth, family, services.settings.accepted_credentials)


def error_wire(services: Any, route_service: str, err: AwsError, region: str,
               headers: dict[str, str]) -> WireResponse:
    """An error answered before the request reached an operation, in the protocol's shape."""
    ctx = RequestContext(services, route_service, "", region, headers=headers)
    if route_service == "json":
        return _json_error(ctx, err)
    if route_service == "rpcv2-cbor":
        return _cbor_error(ctx, err)
    if route_service == "query":
        return _query_error(ctx, err, "")
    return _rest_error(ctx, err)


def _json_loads(body: bytes) -> Any:
    """JSON as AWS's deserialisers take it: malformed input, nesting deeper than Python's stack and
    strings that are not Unicode (lone surrogates) are the client's SerializationException."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise SerializationException("Start of structure or map found where not expected.") from None
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationException("Invalid UTF-8: the request holds an unpaired surrogate.") from None
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


# --- JSON 1.0 / 1.1 --------------------------------------------------------------------------------

# X-Amz-Target prefix (the model's targetPrefix, which is also the Smithy service name that RPC v2
# CBOR puts in its paths) -> botocore service.
JSON_TARGETS = {"SageMaker": "sagemaker", "Logs_20140328": "logs", "GraniteServiceVersion20100801": "cloudwatch",
                "AWSEvents": "events"}


def dispatch_json(services: Any, target: str, body: bytes, region: str,
                  headers: dict[str, str], auth: SignedRequest | None = None) -> WireResponse:
    prefix, _, operation = target.partition(".")
    service = JSON_TARGETS.get(prefix)
    ctx = RequestContext(services, service or prefix, operation, region, headers=headers)
    try:
        op = models.operation_model(service, operation) if service else None
        _authenticate(services, op, auth, "json")
        if service is None:
            raise UnknownOperationException(f"Unknown target {target}")
        if op is None:
            raise UnknownOperationException(f"Unknown operation {operation}")
        params = _json_loads(body) if body.strip() else {}
        if not isinstance(params, dict):
            raise SerializationException("Start of structure or map found where not expected.")
        result = _call(ctx, op, params)
        payload = json_value(op.output_shape, result) if op.output_shape else {}
        return WireResponse(200, json.dumps(payload).encode(), _json_headers(ctx))
    except AwsError as err:
        return _json_error(ctx, err)
    except Exception as exc:  # noqa: BLE001 - a crash must still be a well-formed AWS error
        return _json_error(ctx, _internal(exc))


def _json_headers(ctx: RequestContext) -> dict[str, str]:
    version = "1.1"
    if ctx.service in JSON_TARGETS.values():
        version = models.service_model(ctx.service).metadata.get("jsonVersion", "1.1")
    return {"Content-Type": f"application/x-amz-json-{version}", "x-amzn-RequestId": ctx.request_id}


def _json_error(ctx: RequestContext, err: AwsError) -> WireResponse:
    code, query_headers = _error_identity(ctx.service, err)
    headers = _json_headers(ctx) | {"X-Amzn-ErrorType": code} | query_headers | err.headers
    body = {"__type": code, "message": err.message, "Message": err.message, **err.extra}
    return WireResponse(err.status, json.dumps(body).encode(), headers)


# --- errors of services that moved from query to JSON/CBOR (awsQueryCompatible) ----------------------

@cache
def _error_codes(service: str) -> tuple[dict[str, str], dict[str, str]]:
    """(shape name -> query code, query code -> shape name) from the model's error shapes."""
    model = models.service_model(service)
    to_query, to_shape = {}, {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        code = (shape.metadata.get("error") or {}).get("code")
        if shape.metadata.get("exception") and code:
            to_query[name] = code
            to_shape.setdefault(code, name)
    return to_query, to_shape


def query_code(service: str, code: str) -> str:
    """The code a query-protocol client reads (CloudWatch's ValidationException shape is `ValidationError`).
    `service` is not known yet for an error answered before the Action was read."""
    if service not in QUERY_SERVICES:
        return code
    return _error_codes(service)[0].get(code, code)


def _error_identity(service: str, err: AwsError) -> tuple[str, dict[str, str]]:
    """The `__type` a JSON or CBOR response carries, and for awsQueryCompatible services the
    `x-amzn-query-error: <query code>;<Sender|Receiver>` header from which botocore takes the error
    code its query clients always saw (botocore parsers `_do_query_compatible_error_parse`)."""
    if service not in JSON_TARGETS.values() or "awsQueryCompatible" not in models.service_model(service).metadata:
        return err.code, {}
    to_query, to_shape = _error_codes(service)
    shape = err.code if err.code in to_query else to_shape.get(err.code, err.code)
    fault = "Sender" if err.sender_fault else "Receiver"
    return shape, {"x-amzn-query-error": f"{to_query.get(shape, err.code)};{fault}"}


# --- REST-JSON -----------------------------------------------------------------------------------

@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern, OperationModel]]:
    model = models.service_model(service)
    routes = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        # re.escape turns {EndpointName} into \{EndpointName\} (and a greedy {Key+} into \{Key\+\}).
        pattern = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
        routes.append((op.http["method"], re.compile(f"^{pattern}$"), op))
    return routes


def find_rest_operation(service: str, method: str, path: str) -> tuple[OperationModel, dict[str, str]] | None:
    for http_method, pattern, op in _rest_routes(service):
        match = pattern.match(path)
        if match and http_method == method:
            return op, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


def _rest_request(ctx: RequestContext, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                  body: bytes) -> tuple[OperationModel, dict[str, Any]]:
    found = find_rest_operation(ctx.service, method, path)
    if found is None:
        raise UnknownOperationException(f"No {ctx.service} operation for {method} {path}")
    op, labels = found
    ctx.operation = op.name
    return op, _parse_rest_input(op.input_shape, labels, query, headers, body)


def dispatch_rest_json(services: Any, service: str, method: str, path: str, query: dict[str, str],
                       headers: dict[str, str], body: bytes, region: str,
                       auth: SignedRequest | None = None) -> WireResponse:
    ctx = RequestContext(services, service, "", region, headers=headers)
    try:
        _authenticate(services, None, auth, "json")
        op, params = _rest_request(ctx, method, path, query, headers, body)
        result = _call(ctx, op, params)
        return _rest_output(ctx, op.output_shape, result, op.http.get("responseCode", 200))
    except AwsError as err:
        return _rest_error(ctx, err)
    except Exception as exc:  # noqa: BLE001
        return _rest_error(ctx, _internal(exc))


async def dispatch_rest_json_async(services: Any, service: str, method: str, path: str, query: dict[str, str],
                                   headers: dict[str, str], body: bytes, region: str,
                                   auth: SignedRequest | None = None) -> WireResponse:
    """REST-JSON on the event loop: a handler that is a coroutine function runs here, with no thread hop
    (the sagemaker-runtime data path); any other runs in a worker thread."""
    ctx = RequestContext(services, service, "", region, headers=headers)
    try:
        _authenticate(services, None, auth, "json")
        op, params = _rest_request(ctx, method, path, query, headers, body)
        fn = _handler_for(ctx, op, params)
        if inspect.iscoroutinefunction(fn):
            result = await fn(ctx, params) or {}
        else:
            result = await asyncio.to_thread(fn, ctx, params) or {}
        return _rest_output(ctx, op.output_shape, result, op.http.get("responseCode", 200))
    except AwsError as err:
        return _rest_error(ctx, err)
    except Exception as exc:  # noqa: BLE001
        return _rest_error(ctx, _internal(exc))


def _parse_rest_input(shape: Shape | None, labels: dict[str, str], query: dict[str, str],
                      headers: dict[str, str], body: bytes) -> dict[str, Any]:
    if shape is None:
        return {}
    lower_headers = {k.lower(): v for k, v in headers.items()}
    params: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = labels[wire_name]
        elif location == "header":
            if wire_name.lower() in lower_headers:
                params[name] = _scalar(member, lower_headers[wire_name.lower()])
        elif location == "querystring":
            if wire_name in query:
                params[name] = _scalar(member, query[wire_name])
        elif location == "headers":
            prefix = wire_name.lower()
            found = {k[len(prefix):]: v for k, v in lower_headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
    if payload_name:
        member = shape.members[payload_name]
        if member.type_name in ("blob", "string"):
            if body:
                params[payload_name] = body if member.type_name == "blob" else body.decode()
        elif body.strip():
            params[payload_name] = _loads(body)
    elif body.strip():
        params.update(_loads(body))
    return params


def _loads(body: bytes) -> dict[str, Any]:
    data = _json_loads(body)
    if not isinstance(data, dict):
        raise SerializationException("Expected a JSON object.")
    return data


def _scalar(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise SerializationException(f"Cannot parse '{text}' as {kind}") from None
    if kind == "boolean":
        return text.lower() == "true"
    return text


def _rest_output(ctx: RequestContext, shape: Shape | None, result: dict[str, Any], status: int = 200) -> WireResponse:
    headers = {"x-amzn-RequestId": ctx.request_id}
    if shape is None:
        return WireResponse(status, b"", headers)
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "header":
            headers[wire_name] = str(value).lower() if isinstance(value, bool) else str(value)
        elif location == "statusCode":
            status = int(value)
        elif location == "headers":
            for k, v in value.items():
                headers[wire_name + k] = v
        elif name != payload_name:
            body_members[name] = value
    if payload_name:
        member = shape.members[payload_name]
        value = result.get(payload_name)
        if member.type_name == "structure" and member.serialization.get("eventstream"):
            headers["Content-Type"] = "application/vnd.amazon.eventstream"
            return WireResponse(status, value, headers)
        if member.type_name == "blob":
            body = value if isinstance(value, bytes) else (value or "").encode()
        else:
            body = json.dumps(json_value(member, value) or {}).encode()
            headers.setdefault("Content-Type", "application/json")
        return WireResponse(status, body, headers)
    headers["Content-Type"] = "application/json"
    return WireResponse(status, json.dumps(json_value(shape, body_members)).encode(), headers)


def _rest_error(ctx: RequestContext, err: AwsError) -> WireResponse:
    code = _SERVICE_CODES.get(ctx.service, {}).get(err.code, err.code)
    headers = {"x-amzn-RequestId": ctx.request_id, "X-Amzn-ErrorType": code,
               "Content-Type": "application/json"} | err.headers
    body = {"message": err.message, "Message": err.message, **err.extra}
    return WireResponse(err.status, json.dumps(body).encode(), headers)


# --- query (STS, IAM, CloudWatch) ----------------------------------------------------------------------

QUERY_SERVICES = ("sts", "iam", "cloudwatch")
# SigV4 scope names that differ from botocore's service name (CloudWatch signs as its endpoint prefix).
SIGNING_NAMES = {"monitoring": "cloudwatch"}


def query_service_for(action: str, signing_service: str | None) -> str | None:
    signing_service = SIGNING_NAMES.get(signing_service or "", signing_service)
    if signing_service in QUERY_SERVICES:
        return signing_service
    for service in QUERY_SERVICES:
        if action in models.service_model(service).operation_names:
            return service
    return None


def dispatch_query(services: Any, service: str, form: dict[str, str], region: str,
                   headers: dict[str, str], auth: SignedRequest | None = None) -> WireResponse:
    action = form.get("Action", "")
    ctx = RequestContext(services, service, action, region, headers=headers)
    model = models.service_model(service)
    namespace = model.metadata.get("xmlNamespace", "")
    try:
        op = models.operation_model(service, action)
        _authenticate(services, op, auth, "query")
        if op is None:
            raise AwsError(f"Could not find operation {action} for version {form.get('Version', '')}",
                           code="InvalidAction")
        params = _parse_query_input(op.input_shape, form, "")
        result = _call(ctx, op, params)
        wrapper = op.output_shape.serialization.get("resultWrapper") if op.output_shape else None
        inner = ""
        if op.output_shape is not None:
            inner = "".join(xml_members(m, result.get(n), n) for n, m in op.output_shape.members.items()
                            if result.get(n) is not None)
        if wrapper:
            inner = f"<{wrapper}>{inner}</{wrapper}>"
        xml = (f'<{action}Response xmlns="{namespace}">{inner}'
               f"<ResponseMetadata><RequestId>{ctx.request_id}</RequestId></ResponseMetadata>"
               f"</{action}Response>")
        return WireResponse(200, xml.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": ctx.request_id})
    except AwsError as err:
        return _query_error(ctx, err, namespace)
    except Exception as exc:  # noqa: BLE001
        return _query_error(ctx, _internal(exc), namespace)


def _parse_query_input(shape: Shape | None, form: dict[str, str], prefix: str) -> dict[str, Any]:
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = f"{prefix}{member.serialization.get('name', name)}"
        kind = member.type_name
        if kind == "structure":
            sub = _parse_query_input(member, form, key + ".")
            if sub:
                params[name] = sub
        elif kind == "list":
            items = []
            for item_key in _list_keys(form, key):
                if member.member.type_name == "structure":
                    items.append(_parse_query_input(member.member, form, item_key + "."))
                elif item_key in form:
                    items.append(_scalar(member.member, form[item_key]))
            if items or f"{key}" in form:
                params[name] = items
        elif key in form:
            params[name] = _scalar(member, form[key])
    return params


MAX_QUERY_LIST_ITEMS = 1000


def _list_keys(form: dict[str, str], key: str) -> list[str]:
    """`key.member.1`, `key.member.2`, ... as far as the numbering runs without a gap."""
    pattern = re.compile(re.escape(key) + r"\.member\.([1-9][0-9]{0,6})(?:\.|$)")
    indices = {int(m.group(1)) for k in form if (m := pattern.match(k))}
    if len(indices) > MAX_QUERY_LIST_ITEMS:
        raise AwsError(f"{key} has more than {MAX_QUERY_LIST_ITEMS} members.", code="ValidationError")
    keys, i = [], 1
    while i in indices:
        keys.append(f"{key}.member.{i}")
        i += 1
    return keys


def _query_error(ctx: RequestContext, err: AwsError, namespace: str) -> WireResponse:
    kind = "Sender" if err.sender_fault else "Receiver"
    code = query_code(ctx.service, err.code)
    xml = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{code}</Code>'
           f"<Message>{_xml_escape(err.message)}</Message></Error><RequestId>{ctx.request_id}</RequestId>"
           f"</ErrorResponse>")
    return WireResponse(err.status, xml.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": ctx.request_id})


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- Smithy RPC v2 CBOR (CloudWatch) -------------------------------------------------------------
# smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2: POST /service/<Service>/operation/<Op>,
# `smithy-protocol: rpc-v2-cbor` on request and response, CBOR bodies (RFC 8949), timestamps as tag 1
# epoch seconds, errors as a map with `__type` and the status code of the error shape.

def dispatch_rpcv2_cbor(services: Any, path: str, body: bytes, region: str,
                        headers: dict[str, str], auth: SignedRequest | None = None) -> WireResponse:
    _, _, smithy_service, _, operation = path.split("/", 4)
    service = JSON_TARGETS.get(smithy_service)
    ctx = RequestContext(services, service or smithy_service, operation, region, headers=headers)
    try:
        _authenticate(services, models.operation_model(service, operation) if service else None, auth, "json")
        if service is None:
            raise UnknownOperationException(f"Unknown service {smithy_service}")
        op = models.operation_model(service, operation)
        if op is None:
            raise UnknownOperationException(f"Unknown operation {operation}")
        params = _cbor_loads(body) if body else {}
        if not isinstance(params, dict):
            raise SerializationException("Expected a CBOR map as the request body.")
        result = _call(ctx, op, params)
        payload = cbor_value(op.output_shape, result) if op.output_shape else {}
        return WireResponse(200, cbor2.dumps(payload, datetime_as_timestamp=True), _cbor_headers(ctx))
    except AwsError as err:
        return _cbor_error(ctx, err)
    except Exception as exc:  # noqa: BLE001
        return _cbor_error(ctx, _internal(exc))


def _cbor_loads(body: bytes) -> Any:
    try:
        data = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, RecursionError):
        raise SerializationException("Could not parse the request body as CBOR.") from None
    return _plain(data)


def _plain(value: Any) -> Any:
    """Decoded CBOR as the JSON protocols would have delivered it: timestamps as epoch seconds."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return to_epoch(value)
    return value


def _cbor_headers(ctx: RequestContext) -> dict[str, str]:
    return {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": ctx.request_id}


def _cbor_error(ctx: RequestContext, err: AwsError) -> WireResponse:
    code, query_headers = _error_identity(ctx.service, err)
    body = {"__type": code, "message": err.message, **err.extra}
    return WireResponse(err.status, cbor2.dumps(body), _cbor_headers(ctx) | query_headers | err.headers)
