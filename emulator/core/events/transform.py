"""What a target receives: Input, InputPath or InputTransformer (EventBridge User Guide, "Transforming
target input"), and a SageMaker pipeline target's parameters.

- no input setting: the whole event, as JSON;
- `Input`: that JSON text as is;
- `InputPath`: the part of the event a JSONPath selects (`$.detail.state`);
- `InputTransformer`: `InputPathsMap` names values taken from the event by JSONPath, and
  `InputTemplate` places them at `<name>`. In a JSON template a placeholder inside quotes is replaced
  by the value's text (escaped for a JSON string), outside quotes by the value as JSON; in a plain
  text template by the value's text. A path that selects nothing gives `null` (an empty string
  inside quotes). Predefined names: `<aws.events.event>` / `<aws.events.event.json>` (the event),
  `<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`.

A SageMaker pipeline target (`SageMakerPipelineParameters`) starts an execution with
`PipelineParameterList`; StartPipelineExecution takes no body, so the transformed input itself goes
nowhere. The console lets each parameter value be static or a JSONPath into the event; through the
API a value that is a JSONPath (`$.detail.alarmName`) is resolved against the event, and a value
holding `<name>` placeholders is filled from the target's InputPathsMap, the way InputTemplate is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from emulator.aws.errors import ValidationException

_MISSING = object()
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_\-$@]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_\-.]+)>")


def check_path(path: str, where: str) -> None:
    if _steps(path) is None:
        raise ValidationException(f"{where} {path} is not a valid JSONPath.")


def _steps(path: str) -> list[str | int] | None:
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if not match:
            return None
        name, index, quoted, double = match.groups()
        steps.append(int(index) if index is not None else name or quoted or double or "")
        position = match.end()
    return steps


def select(event: Any, path: str) -> Any:
    """The value at a JSONPath, or _MISSING."""
    steps = _steps(path)
    if steps is None:
        return _MISSING
    value = event
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and step < len(value) or isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def target_input(target: dict[str, Any], event: dict[str, Any], rule: dict[str, Any]) -> str:
    """The text the target is invoked with."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        value = select(event, target["InputPath"])
        return json.dumps(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer:
        return render(transformer["InputTemplate"], _variables(transformer, event, rule))
    return json.dumps(event)


def _variables(transformer: dict[str, Any], event: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "aws.events.event": event, "aws.events.event.json": event,
        "aws.events.rule-arn": rule.get("Arn"), "aws.events.rule-name": rule.get("Name"),
        "aws.events.event.ingestion-time": event.get("time"),
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = select(event, path)
    return values


def render(template: str, values: dict[str, Any]) -> str:
    as_json = template.lstrip().startswith(("{", "["))
    out, in_string, i = [], False, 0
    while i < len(template):
        char = template[i]
        if as_json and char == "\\" and in_string:
            out.append(template[i:i + 2])
            i += 2
            continue
        if as_json and char == '"':
            in_string = not in_string
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match.group(1) in values:
            out.append(_fill(values[match.group(1)], quoted=in_string, as_json=as_json))
            i = match.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _fill(value: Any, *, quoted: bool, as_json: bool) -> str:
    if value is _MISSING:
        return "" if quoted or not as_json else "null"
    text = value if isinstance(value, str) else json.dumps(value)
    if quoted:
        return json.dumps(text)[1:-1]
    if as_json:
        return json.dumps(value)
    return text


def pipeline_parameters(target: dict[str, Any], event: dict[str, Any], rule: dict[str, Any]) -> list[dict[str, str]]:
    """The PipelineParameterList a SageMaker pipeline target starts its execution with."""
    params = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
    transformer = target.get("InputTransformer")
    values = _variables(transformer, event, rule) if transformer else {}
    out = []
    for param in params:
        value = param["Value"]
        if value.startswith("$"):
            found = select(event, value)
            if found is not _MISSING:
                value = found if isinstance(found, str) else json.dumps(found)
        elif values:
            value = render(value, values)
        out.append({"Name": param["Name"], "Value": value})
    return out
