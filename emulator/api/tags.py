"""AddTags / ListTags / DeleteTags, addressed by ARN, for every SageMaker resource we store."""

from __future__ import annotations

from emulator.aws.errors import ResourceNotFound, ValidationException
from emulator.aws.handlers import RequestContext, handler
from emulator.core.arns import parse_arn
from emulator.core.listing import decode_token, encode_token

MAX_TAGS = 50  # AWS: "Tags per resource: 50"


def _require(ctx: RequestContext, arn: str) -> None:
    if not ctx.services.records.arn_exists(arn):
        parsed = parse_arn(arn)
        if parsed is not None and parsed.resource_type == "pipeline":
            raise ResourceNotFound(f"Resource {arn} does not exist.")
        raise ValidationException(f"Resource {arn} does not exist.")


@handler("sagemaker", "AddTags")
def add_tags(ctx: RequestContext, req: dict) -> dict:
    arn = req["ResourceArn"]
    _require(ctx, arn)
    existing = {t["Key"] for t in ctx.services.records.list_tags(arn)}
    if len(existing | {t["Key"] for t in req["Tags"]}) > MAX_TAGS:
        raise ValidationException(f"Resource {arn} would exceed the limit of {MAX_TAGS} tags.")
    ctx.services.records.add_tags(arn, req["Tags"])
    return {"Tags": req["Tags"]}


@handler("sagemaker", "ListTags")
def list_tags(ctx: RequestContext, req: dict) -> dict:
    arn = req["ResourceArn"]
    _require(ctx, arn)
    tags = ctx.services.records.list_tags(arn)
    start = decode_token(req.get("NextToken"))
    limit = req.get("MaxResults") or 50
    out = {"Tags": tags[start:start + limit]}
    if start + limit < len(tags):
        out["NextToken"] = encode_token(start + limit)
    return out


@handler("sagemaker", "DeleteTags")
def delete_tags(ctx: RequestContext, req: dict) -> dict:
    arn = req["ResourceArn"]
    _require(ctx, arn)
    ctx.services.records.delete_tags(arn, req["TagKeys"])
    return {}
