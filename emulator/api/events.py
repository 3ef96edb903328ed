"""EventBridge (the `events` service, JSON 1.1): rules, targets, PutEvents on the default bus."""

from __future__ import annotations

import json

from emulator.aws.handlers import RequestContext, handler
from emulator.core import arns
from emulator.core.events import bus, patterns, rules


@handler("events", "PutRule")
def put_rule(ctx: RequestContext, req: dict) -> dict:
    return {"RuleArn": rules.put_rule(ctx.services, ctx.region, req)["Arn"]}


@handler("events", "DescribeRule")
def describe_rule(ctx: RequestContext, req: dict) -> dict:
    return rules.public(rules.get(ctx.services, req["Name"], req.get("EventBusName")))


@handler("events", "ListRules")
def list_rules(ctx: RequestContext, req: dict) -> dict:
    return rules.list_rules(ctx.services, req)


@handler("events", "ListRuleNamesByTarget")
def list_rule_names_by_target(ctx: RequestContext, req: dict) -> dict:
    rules.bus_name(req.get("EventBusName"))
    return {"RuleNames": rules.rules_for_target(ctx.services, req["TargetArn"])}


@handler("events", "DeleteRule")
def delete_rule(ctx: RequestContext, req: dict) -> dict:
    rules.delete_rule(ctx.services, req)
    return {}


@handler("events", "EnableRule")
def enable_rule(ctx: RequestContext, req: dict) -> dict:
    rules.set_state(ctx.services, req, "ENABLED")
    return {}


@handler("events", "DisableRule")
def disable_rule(ctx: RequestContext, req: dict) -> dict:
    rules.set_state(ctx.services, req, "DISABLED")
    return {}


@handler("events", "PutTargets")
def put_targets(ctx: RequestContext, req: dict) -> dict:
    return rules.put_targets(ctx.services, req)


@handler("events", "ListTargetsByRule")
def list_targets_by_rule(ctx: RequestContext, req: dict) -> dict:
    return rules.list_targets(ctx.services, req)


@handler("events", "RemoveTargets")
def remove_targets(ctx: RequestContext, req: dict) -> dict:
    return rules.remove_targets(ctx.services, req)


@handler("events", "PutEvents")
def put_events(ctx: RequestContext, req: dict) -> dict:
    return bus.put_events(ctx.services, ctx.region, req["Entries"])


@handler("events", "TestEventPattern")
def test_event_pattern(ctx: RequestContext, req: dict) -> dict:
    pattern = patterns.parse(req["EventPattern"])
    try:
        event = json.loads(req["Event"])
    except ValueError:
        raise patterns.InvalidEventPatternException("Event is not valid JSON.") from None
    return {"Result": isinstance(event, dict) and patterns.matches(pattern, event)}


@handler("events", "DescribeEventBus")
def describe_event_bus(ctx: RequestContext, req: dict) -> dict:
    name = rules.bus_name(req.get("Name"))
    return {"Name": name, "Arn": arns.event_bus_arn(name, ctx.region, ctx.account_id)}
