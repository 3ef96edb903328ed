"""CloudWatch Logs API over the log store (the slice SageMaker users and the SDK touch)."""

from __future__ import annotations

import re

from emulator.aws.errors import AwsError
from emulator.aws.handlers import RequestContext, handler
from emulator.core.arns import log_group_arn, parse_arn
from emulator.core.logstore import FilterPatternError, now_ms


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(AwsError):
    code = "ResourceAlreadyExistsException"


class InvalidParameterException(AwsError):
    code = "InvalidParameterException"


_NUMBER = re.compile(r"^[0-9]{1,18}$")  # ASCII digits that fit SQLite's 64-bit integers


def _offset(token: str | None) -> int:
    """DescribeLogGroups/Streams tokens: the offset of the next page."""
    if not token:
        return 0
    if not _NUMBER.match(token):
        raise InvalidParameterException("The specified nextToken is invalid.")
    return int(token)


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
    limit = req.get("limit") or 50
    start = _offset(req.get("nextToken"))
    groups = ctx.services.logs.groups(req.get("logGroupNamePrefix") or "", contains=req.get("logGroupNamePattern"),
                                      offset=start, limit=limit + 1)
    page = groups[:limit]
    out = {"logGroups": [{
        "logGroupName": g["name"], "creationTime": g["created"], "metricFilterCount": 0,
        "arn": log_group_arn(g["name"], ctx.region, ctx.account_id),
        "logGroupArn": log_group_arn(g["name"], ctx.region, ctx.account_id)[:-2],
        "storedBytes": ctx.services.logs.stored_bytes(g["name"]),
        **({"retentionInDays": g["retention"]} if g["retention"] else {}),
    } for g in page]}
    if len(groups) > limit:
        out["nextToken"] = str(start + limit)
    return out


@handler("logs", "DescribeLogStreams")
def describe_log_streams(ctx: RequestContext, req: dict) -> dict:
    group = req.get("logGroupName") or _group_from_identifier(req.get("logGroupIdentifier"))
    group = _group(ctx, group)
    by_time = req.get("orderBy") == "LastEventTime"
    if by_time and req.get("logStreamNamePrefix"):
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit = req.get("limit") or 50
    start = _offset(req.get("nextToken"))
    streams = ctx.services.logs.streams(group, req.get("logStreamNamePrefix") or "", by_time,
                                        bool(req.get("descending")), offset=start, limit=limit + 1)
    page = streams[:limit]
    out = {"logStreams": [_stream_view(ctx, group, s) for s in page]}
    # The SageMaker SDK v2's log loop re-calls DescribeLogStreams *without* the token it got, so a
    # nextToken would make it loop forever (sdk_and_local_mode.md §3.3). Only hand one out when
    # the caller is itself paginating.
    if len(streams) > limit and req.get("nextToken"):
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
    if kind not in ("f", "b") or not _NUMBER.match(number.lstrip("0") or "0"):
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
    try:
        events, cursor = ctx.services.logs.filter_events(
            group, streams=req.get("logStreamNames"), prefix=req.get("logStreamNamePrefix"),
            start=req.get("startTime"), end=req.get("endTime"), pattern=req.get("filterPattern"),
            after=_filter_cursor(req.get("nextToken")), limit=req.get("limit") or 10000)
    except FilterPatternError as err:
        raise InvalidParameterException(str(err)) from None
    out = {"events": events, "searchedLogStreams": []}
    if cursor is not None:
        out["nextToken"] = f"{cursor[0]}_{cursor[1]}"
    return out


def _filter_cursor(token: str | None) -> tuple[int, int] | None:
    """FilterLogEvents tokens: `<timestamp>_<event id>` of the last event examined."""
    if not token:
        return None
    stamp, sep, event_id = token.partition("_")
    if not sep or not _NUMBER.match(event_id) or not _NUMBER.match(stamp.removeprefix("-")):
        raise InvalidParameterException("The specified nextToken is invalid.")
    return int(stamp), int(event_id)
