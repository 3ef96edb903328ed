"""EventBridge rules and their targets on the default event bus.

A rule record is its DescribeRule response (kind `EventRule`, named `<bus>/<rule>`), with its targets
under `_targets` in PutTargets order. Only the `default` bus exists (its name or ARN is accepted); a
rule's ScheduleExpression is stored and described but no scheduled event is sent.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from emulator.aws.errors import AwsError, ValidationException
from emulator.core import arns
from emulator.core.events import patterns, transform

KIND = "EventRule"
DEFAULT_BUS = "default"
MAX_TARGETS = 5          # per rule (EventBridge quotas)
MAX_RULES = 300          # per event bus (EventBridge quotas)
LIST_PAGE = 100
PUBLIC = ("Name", "Arn", "EventPattern", "ScheduleExpression", "State", "Description", "RoleArn", "ManagedBy",
          "EventBusName", "CreatedBy")


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class LimitExceededException(AwsError):
    code = "LimitExceededException"


def bus_name(value: str | None) -> str:
    name = (value or DEFAULT_BUS).rsplit("event-bus/", 1)[-1]
    if name != DEFAULT_BUS:
        raise ResourceNotFoundException(f"Event bus {name} does not exist.")
    return name


def _key(bus: str, name: str) -> str:
    return f"{bus}/{name}"


def get(services, name: str, bus: str | None = None) -> dict[str, Any]:
    bus = bus_name(bus)
    rule = services.records.get(KIND, _key(bus, name))
    if rule is None or rule["Name"] != name:
        raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")
    return rule


def public(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: rule[k] for k in PUBLIC if rule.get(k) is not None}


def put_rule(services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    bus = bus_name(req.get("EventBusName"))
    name = req["Name"]
    if not req.get("EventPattern") and not req.get("ScheduleExpression"):
        raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if req.get("EventPattern"):
        patterns.parse(req["EventPattern"])
    if req.get("ScheduleExpression") and bus != DEFAULT_BUS:
        raise ValidationException("ScheduleExpression is supported only on the default event bus.")
    arn = arns.event_rule_arn(name, bus, region, services.account_id)
    existing = services.records.get(KIND, _key(bus, name))
    if existing is None and len(services.records.names(KIND)) >= MAX_RULES:
        raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
    body = {"Name": name, "Arn": arn, "EventBusName": bus, "State": req.get("State") or "ENABLED",
            "CreatedBy": services.account_id, "_targets": (existing or {}).get("_targets", [])}
    for key in ("EventPattern", "ScheduleExpression", "Description", "RoleArn"):
        if req.get(key) is not None:
            body[key] = req[key]
    services.records.put(KIND, _key(bus, name), arn, body)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def list_rules(services, req: dict[str, Any]) -> dict[str, Any]:
    bus = bus_name(req.get("EventBusName"))
    prefix = req.get("NamePrefix") or ""
    rules = sorted((r for r in services.records.list(KIND)
                    if r["EventBusName"] == bus and r["Name"].startswith(prefix)), key=lambda r: r["Name"])
    return _page(rules, req, "Rules", public)


def rules_for_target(services, target_arn: str) -> list[str]:
    return sorted(r["Name"] for r in services.records.list(KIND)
                  if any(t["Arn"] == target_arn for t in r.get("_targets", [])))


def _page(items: list, req: dict[str, Any], field: str, view) -> dict[str, Any]:
    token = req.get("NextToken") or "0"
    if not token.isdigit():
        raise ValidationException("The NextToken provided is invalid.")
    start = int(token)
    size = int(req.get("Limit") or LIST_PAGE)
    page = items[start:start + size]
    out: dict[str, Any] = {field: [view(i) for i in page]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def delete_rule(services, req: dict[str, Any]) -> None:
    bus = bus_name(req.get("EventBusName"))
    rule = services.records.get(KIND, _key(bus, req["Name"]))
    if rule is None or rule["Name"] != req["Name"]:
        return  # deleting a rule that does not exist succeeds
    if rule.get("_targets") and not req.get("Force"):
        raise ValidationException("Rule can't be deleted since it has targets.")
    services.records.delete(KIND, _key(bus, req["Name"]))


def set_state(services, req: dict[str, Any], state: str) -> None:
    rule = get(services, req["Name"], req.get("EventBusName"))
    services.records.update(KIND, _key(rule["EventBusName"], rule["Name"]), lambda b: b.update(State=state))


# --- targets ---------------------------------------------------------------------------------------

def put_targets(services, req: dict[str, Any]) -> dict[str, Any]:
    rule = get(services, req["Rule"], req.get("EventBusName"))
    for target in req["Targets"]:
        _check_target(target)
    merged = {t["Id"]: t for t in rule.get("_targets", [])}
    for target in req["Targets"]:
        merged[target["Id"]] = copy.deepcopy(target)
    if len(merged) > MAX_TARGETS:
        raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
    services.records.update(KIND, _key(rule["EventBusName"], rule["Name"]),
                            lambda b: b.update(_targets=list(merged.values())))
    return {"FailedEntryCount": 0, "FailedEntries": []}


def _check_target(target: dict[str, Any]) -> None:
    given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
    if len(given) > 1:
        raise ValidationException(f"Target {target['Id']}: only one of Input, InputPath or InputTransformer may be "
                                  "provided.")
    if target.get("InputPath"):
        transform.check_path(target["InputPath"], "InputPath")
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except ValueError:
            raise ValidationException(f"Target {target['Id']}: Input is not valid JSON text.") from None
    for name, path in ((target.get("InputTransformer") or {}).get("InputPathsMap") or {}).items():
        if name.startswith("aws."):
            raise ValidationException(f"InputPathsMap key {name} is reserved: keys may not start with 'aws.'.")
        transform.check_path(path, f"InputPathsMap value for {name}")


def list_targets(services, req: dict[str, Any]) -> dict[str, Any]:
    rule = get(services, req["Rule"], req.get("EventBusName"))
    return _page(rule.get("_targets", []), req, "Targets", lambda t: t)


def remove_targets(services, req: dict[str, Any]) -> dict[str, Any]:
    rule = get(services, req["Rule"], req.get("EventBusName"))
    ids = set(req["Ids"])
    services.records.update(KIND, _key(rule["EventBusName"], rule["Name"]),
                            lambda b: b.update(_targets=[t for t in b.get("_targets", []) if t["Id"] not in ids]))
    return {"FailedEntryCount": 0, "FailedEntries": []}


def enabled_rules(services, bus: str) -> list[dict[str, Any]]:
    return [r for r in services.records.list(KIND)
            if r["EventBusName"] == bus and r["State"].startswith("ENABLED") and r.get("EventPattern")]
