"""The pipeline expression language (pipeline_definitions.md §2): one function per form.

Values keep their native types: a Get of an Integer parameter inserts an int, a FinalMetricDataList
value a float. Std:Join stringifies (lowercase booleans), Std:JsonGet reads JSON from S3 through
the object store and applies a JsonPath without the leading `$`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ExpressionError(Exception):
    """Evaluation failed; the message becomes the step's FailureReason."""


# Lists addressed as X['key'] are keyed by these fields (§2.4).
LIST_KEYS = ("OutputName", "InputName", "MetricName", "ChannelName", "Name", "StepName")


@dataclass
class Scope:
    parameters: dict[str, Any]
    execution: dict[str, Any]
    experiment: dict[str, Any] = field(default_factory=dict)
    step_properties: Callable[[str], dict[str, Any]] = lambda name: {}
    read_json: Callable[[str], Any] = lambda uri: None
    property_file_uri: Callable[[str, str], str] = lambda step, name: ""
    current_job_name: str | None = None


def evaluate(node: Any, scope: Scope) -> Any:
    if isinstance(node, dict):
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Get" and isinstance(value, str):
                return get(value, scope)
            if key == "Std:Join":
                return join(value, scope)
            if key == "Std:JsonGet":
                return json_get(value, scope)
        return {k: evaluate(v, scope) for k, v in node.items()}
    if isinstance(node, list):
        return [evaluate(v, scope) for v in node]
    return node


def get(path: str, scope: Scope) -> Any:
    head, _, rest = path.partition(".")
    if head == "Parameters":
        if rest not in scope.parameters:
            raise ExpressionError(f"Parameter '{rest}' is undefined.")
        return scope.parameters[rest]
    if head == "Execution":
        if rest == "CurrentDateTime":
            return _iso(dt.datetime.now(dt.UTC))
        if rest in ("TrainingJobName", "ProcessingJobName"):
            if scope.current_job_name is None:
                raise ExpressionError(f"{path} is only defined inside the step that creates the job.")
            return scope.current_job_name
        if rest not in scope.execution:
            raise ExpressionError(f"{path} is undefined.")
        return scope.execution[rest]
    if head == "PipelineExperimentConfig":
        if rest not in scope.experiment:
            raise ExpressionError(f"{path} is undefined.")
        return scope.experiment[rest]
    if head == "Steps":
        match = re.match(r"^([^.\[]+)(.*)$", rest)
        if not match:
            raise ExpressionError(f"{path} is undefined.")
        step, tail = match.groups()
        return walk(scope.step_properties(step), tail, path)
    raise ExpressionError(f"{path} is undefined.")


_TOKEN = re.compile(r"\.([A-Za-z0-9_\-:]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def walk(value: Any, tail: str, expr: str) -> Any:
    """Follow `.Member`, `[n]` and `['key']` steps through a Describe*-shaped value."""
    pos = 0
    while pos < len(tail):
        match = _TOKEN.match(tail, pos)
        if not match:
            raise ExpressionError(f"{expr} is undefined.")
        member, index, key1, key2 = match.groups()
        key = key1 if key1 is not None else key2
        try:
            if member is not None:
                value = value[member]
            elif index is not None:
                value = value[int(index)]
            elif isinstance(value, dict):
                value = value[key]
            elif isinstance(value, list):
                value = next(item for item in value
                             if isinstance(item, dict) and any(item.get(f) == key for f in LIST_KEYS))
            else:
                raise KeyError(key)
        except (KeyError, IndexError, TypeError, StopIteration):
            raise ExpressionError(f"{expr} is undefined.") from None
        pos = match.end()
    return value


def stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def join(spec: Any, scope: Scope) -> str:
    if not isinstance(spec, dict):
        raise ExpressionError("Std:Join needs On and Values.")
    values = evaluate(spec.get("Values") or [], scope)
    return str(spec.get("On", "")).join(stringify(v) for v in values)


def json_get(spec: Any, scope: Scope) -> Any:
    if not isinstance(spec, dict) or "Path" not in spec:
        raise ExpressionError("Std:JsonGet needs a Path and a PropertyFile or S3Uri.")
    if "PropertyFile" in spec:
        ref = spec["PropertyFile"]
        ref_path = ref.get("Get", "") if isinstance(ref, dict) else ""
        match = re.match(r"^Steps\.([^.]+)\.PropertyFiles\.(.+)$", ref_path)
        if not match:
            raise ExpressionError(f"Invalid PropertyFile reference {ref!r}.")
        uri = scope.property_file_uri(match.group(1), match.group(2))
    elif "S3Uri" in spec:
        uri = stringify(evaluate(spec["S3Uri"], scope))
    else:
        raise ExpressionError("Std:JsonGet needs a PropertyFile or S3Uri.")
    document = scope.read_json(uri)
    return json_path(document, str(spec["Path"]), uri)


def json_path(document: Any, path: str, uri: str) -> Any:
    """The Jayway-style JsonPath subset the SDK emits: a.b[0].c, a['k'], optional leading $."""
    text = path.strip()
    text = text.removeprefix("$")
    if text and not text.startswith((".", "[")):
        text = "." + text
    try:
        return walk(document, text, path)
    except ExpressionError:
        raise ExpressionError(f"Invalid json path '{path}' for the contents of {uri}.") from None


def _iso(stamp: dt.datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def iso_time(epoch: float) -> str:
    return _iso(dt.datetime.fromtimestamp(epoch, tz=dt.UTC))
