"""CloudWatch Logs API over the log store (the slice SageMaker users and the SDK touch)."""

from __future__ import annotations


from emulator.aws.errors import AwsError
from emulator.aws.handlers import RequestContext, handler
from emulator.core.arns import log_group_arn, parse_arn
from emulator.core.logstore import now_ms


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(AwsError):
    code = "ResourceAlreadyExistsException"


class InvalidParameterException(AwsError):
    code = "InvalidParameterException"


def _group(ctx: RequestContext, name: str) -> str:
    if not ctx.services.logs.group_exists(name):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return name


@handler("logs", "CreateLogGroup")
def create_log_group(ctx: RequestContext, req: dict) -> dict:
    if not ctx.services.logs.create_group(req["logGroupName"]):
        raise ResourceAlreadyExistsException("The specified log group already exists")
    return {}


@handler("logs", "CreateLogStream")
def create_log_stream(ctx: RequestContext, req: dict) -> dict:
    group = _group(ctx, req["logGroupName"])
    if not ctx.services.logs.create_stream(group, req["logStreamName"]):
        raise ResourceAlreadyExistsException("The specified log stream already exists")
    return {}


@handler("logs", "DeleteLogGroup")
def delete_log_group(ctx: RequestContext, req: dict) -> dict:
    if not ctx.services.logs.delete_group(req["logGroupName"]):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return {}


@handler("logs", "DeleteLogStream")
def delete_log_stream(ctx: RequestContext, req: dict) -> dict:
    group = _group(ctx, req["logGroupName"])
    if not ctx.services.logs.delete_stream(group, req["logStreamName"]):
        raise ResourceNotFoundException("The specified log stream does not exist.")
    return {}


@handler("logs", "PutLogEvents")
def put_log_events(ctx: RequestContext, req: dict) -> dict:
    group = _group(ctx, req["logGroupName"])
    if not ctx.services.logs.stream_exists(group, req["logStreamName"]):
        raise ResourceNotFoundException("The specified log stream does not exist.")
    events = [(int(e["timestamp"]), e["message"]) for e in req["logEvents"]]
    ctx.services.logs.put_events(group, req["logStreamName"], events)
    return {"nextSequenceToken": f"{now_ms():056d}"}


@handler("logs", "DescribeLogGroups")
def describe_log_groups(ctx: RequestContext, req: dict) -> dict:
    prefix = req.get("logGroupNamePrefix") or ""
    pattern = req.get("logGroupNamePattern")
    groups = ctx.services.logs.groups(prefix)
    if pattern:
        groups = [g for g in groups if pattern.lower() in g["name"].lower()]
    limit = req.get("limit") or 50
    start = int(req.get("nextToken") or 0)
    page = groups[start:start + limit]
    out = {"logGroups": [{
        "logGroupName": g["name"], "creationTime": g["created"], "metricFilterCount": 0,
        "arn": log_group_arn(g["name"], ctx.region, ctx.account_id),
        "logGroupArn": log_group_arn(g["name"], ctx.region, ctx.account_id)[:-2],
        "storedBytes": ctx.services.logs.stored_bytes(g["name"]),
        **({"retentionInDays": g["retention"]} if g["retention"] else {}),
    } for g in page]}
    if start + limit < len(groups):
        out["nextToken"] = str(start + limit)
    return out


@handler("logs", "DescribeLogStreams")
def describe_log_streams(ctx: RequestContext, req: dict) -> dict:
    group = req.get("logGroupName") or _group_from_identifier(req.get("logGroupIdentifier"))
    group = _group(ctx, group)
    by_time = req.get("orderBy") == "LastEventTime"
    if by_time and req.get("logStreamNamePrefix"):
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    streams = ctx.services.logs.streams(group, req.get("logStreamNamePrefix") or "", by_time,
                                        bool(req.get("descending")))
    limit = req.get("limit") or 50
    start = int(req.get("nextToken") or 0)
    page = streams[start:start + limit]
    out = {"logStreams": [_stream_view(ctx, group, s) for s in page]}
    # The SageMaker SDK v2's log loop re-calls DescribeLogStreams *without* the token it got, so a
    # nextToken would make it loop forever (sdk_and_local_mode.md §3.3). Only hand one out when
    # the caller is itself paginating.
    if start + limit < len(streams) and req.get("nextToken"):
        out["nextToken"] = str(start + limit)
    return out


def _group_from_identifier(identifier: str | None) -> str:
    if not identifier:
        raise InvalidParameterException("Either logGroupName or logGroupIdentifier must be specified.")
    arn = parse_arn(identifier)
    if arn is None or arn.service != "logs" or arn.resource_type != "log-group":
        return identifier
    return arn.resource_path.removesuffix(":*")


def _stream_view(ctx: RequestContext, group: str, s: dict) -> dict:
    view = {"logStreamName": s["name"], "creationTime": s["created"],
            "arn": f"{log_group_arn(group, ctx.region, ctx.account_id)[:-1]}log-stream:{s['name']}",
            "storedBytes": 0}
    if s["first_event"] is not None:
        view.update(firstEventTimestamp=s["first_event"], lastEventTimestamp=s["last_event"],
                    lastIngestionTime=s["last_ingestion"])
    return view


def _token_id(token: str | None, expected: str) -> int | None:
    if not token:
        return None
    kind, _, number = token.partition("/")
    if kind not in ("f", "b") or not number.isdigit():
        raise InvalidParameterException("The specified nextToken is invalid.")
    return int(number) if kind == expected else None


@handler("logs", "GetLogEvents")
def get_log_events(ctx: RequestContext, req: dict) -> dict:
    group = req.get("logGroupName") or _group_from_identifier(req.get("logGroupIdentifier"))
    group = _group(ctx, group)
    stream = req["logStreamName"]
    if not ctx.services.logs.stream_exists(group, stream):
        raise ResourceNotFoundException("The specified log stream does not exist.")
    token = req.get("nextToken")
    after = _token_id(token, "f")
    before = _token_id(token, "b")
    page = ctx.services.logs.read_stream(
        group, stream, start=req.get("startTime"), end=req.get("endTime"), after_id=after, before_id=before,
        limit=req.get("limit") or 10000, from_head=bool(req.get("startFromHead")))
    return {"events": page.events, "nextForwardToken": page.forward, "nextBackwardToken": page.backward}


@handler("logs", "FilterLogEvents")
def filter_log_events(ctx: RequestContext, req: dict) -> dict:
    group = req.get("logGroupName") or _group_from_identifier(req.get("logGroupIdentifier"))
    group = _group(ctx, group)
    if req.get("logStreamNames") and req.get("logStreamNamePrefix"):
        raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive.")
    token = req.get("nextToken")
    after = int(token) if token and token.isdigit() else 0
    events, last = ctx.services.logs.filter_events(
        group, streams=req.get("logStreamNames"), prefix=req.get("logStreamNamePrefix"),
        start=req.get("startTime"), end=req.get("endTime"), pattern=req.get("filterPattern"),
        after_id=after, limit=req.get("limit") or 10000)
    out = {"events": events, "searchedLogStreams": []}
    if last is not None:
        out["nextToken"] = str(last)
    return out
