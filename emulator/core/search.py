"""SageMaker Search: one evaluator for SearchExpression (Filters, NestedFilters, SubExpressions with
And/Or), SortBy on any property path and pagination, over documents built per resource.

Each resource is read from the records of its kind and turned into two things: the SearchRecord
member returned to the client (the Describe body plus Tags, and for experiments the computed
Parents, Metrics, TrialComponentSummaries, SourceDetail), and a *view* that filters and sorting
address, where the list-shaped properties AWS lets you address by key become maps:
`Tags.<key>`, `Metrics.<name>` (a training job's final value; a trial component's summary, so
`Metrics.<name>.Max`), `Parameters.<name>` and `HyperParameters.<name>`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from emulator.aws.errors import ValidationException
from emulator.aws.serialize import to_epoch
from emulator.core import experiments, metrics
from emulator.core.listing import decode_token, encode_token
from emulator.core.services import Services

# Search resource -> (record kind, SearchRecord member).
RESOURCES = {
    "ExperimentTrialComponent": ("TrialComponent", "TrialComponent"),
    "Experiment": ("Experiment", "Experiment"),
    "ExperimentTrial": ("Trial", "Trial"),
    "TrainingJob": ("TrainingJob", "TrainingJob"),
    "Pipeline": ("Pipeline", "Pipeline"),
    "PipelineExecution": ("PipelineExecution", "PipelineExecution"),
    "ModelPackage": ("ModelPackage", "ModelPackage"),
    "ModelPackageGroup": ("ModelPackageGroup", "ModelPackageGroup"),
    "Model": ("Model", "Model"),
    "Endpoint": ("Endpoint", "Endpoint"),
}
# Names that may carry Contains any number of times (API_Filter); others at most once per request.
_MULTI_CONTAINS = {"DisplayName", "ExperimentName", "TrialName", "TrialComponentName", "Tags",
                   "InputArtifacts", "OutputArtifacts"}
_SOURCE_KINDS = {"SageMakerTrainingJob": ("TrainingJob", "TrainingJob"),
                 "SageMakerProcessingJob": ("ProcessingJob", "ProcessingJob")}


# --- documents ---------------------------------------------------------------------------------

def _record(services: Services, region: str, kind: str, body: dict[str, Any]) -> dict:
    out = dict(body)
    arn = body.get(f"{kind}Arn")  # every searchable kind names its ARN <Kind>Arn
    if arn:
        out["Tags"] = services.records.list_tags(arn)
    if kind == "TrialComponent":
        name = body["TrialComponentName"]
        source_arn = (body.get("Source") or {}).get("SourceArn")
        summaries = metrics.summaries(services, name, source_arn)
        if summaries:
            out["Metrics"] = summaries
        out["Parents"] = [{"TrialName": t["TrialName"], "ExperimentName": t["ExperimentName"]}
                          for t in experiments.trials_of(services, name, region)]
        source_type = (body.get("Source") or {}).get("SourceType")
        if source_arn and source_type in _SOURCE_KINDS:
            hit = services.records.get_by_arn(source_arn)
            if hit and hit[0] == _SOURCE_KINDS[source_type][0]:
                out["SourceDetail"] = {"SourceArn": source_arn, _SOURCE_KINDS[source_type][1]: hit[2]}
    elif kind == "Trial":
        out["TrialComponentSummaries"] = [
            {"TrialComponentName": c["TrialComponentName"], "TrialComponentArn": c["TrialComponentArn"],
             "TrialComponentSource": c.get("Source"), "CreationTime": c.get("CreationTime"),
             "CreatedBy": c.get("CreatedBy")}
            for c in experiments.components_of(services, body["TrialName"], region)]
    return out


def _view(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    view = dict(record)
    view["Tags"] = {t["Key"]: t["Value"] for t in record.get("Tags") or []}
    if kind == "TrialComponent":
        view["Metrics"] = {m["MetricName"]: m for m in record.get("Metrics") or []}
        view["Parameters"] = {k: v.get("NumberValue", v.get("StringValue"))
                              for k, v in (record.get("Parameters") or {}).items()}
    elif kind == "TrainingJob":
        view["Metrics"] = {m["MetricName"]: m["Value"] for m in record.get("FinalMetricDataList") or []}
    return view


# --- property paths ----------------------------------------------------------------------------

def resolve(node: Any, path: str) -> list[Any]:
    """Every value at `path`. Lists fan out (Parents.TrialName matches any parent); map keys may
    themselves contain dots (`Metrics.train.loss.Max`), so the longest matching key wins."""
    if node is None:
        return []
    if path == "":
        return list(node) if isinstance(node, list) else [node]
    if isinstance(node, list):
        return [v for item in node for v in resolve(item, path)]
    if not isinstance(node, dict):
        return []
    if path in node:
        return resolve(node[path], "")
    best = max((k for k in node if path.startswith(f"{k}.")), key=len, default=None)
    return resolve(node[best], path[len(best) + 1:]) if best is not None else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _timestamp(text: str) -> float | None:
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.replace(tzinfo=stamp.tzinfo or dt.UTC).timestamp()


def _compare(actual: Any, wanted: str) -> int | None:
    """-1/0/1 comparing a property value with a filter Value: as numbers when both are numeric,
    as instants when Value is an ISO 8601 date-time, otherwise not comparable (None)."""
    if isinstance(actual, bool):
        return None
    left, right = _number(actual), _number(wanted)
    if left is None or right is None:
        right = _timestamp(wanted)
        if right is None or actual is None or isinstance(actual, (dict, list)):
            return None
        try:
            left = to_epoch(actual)
        except (TypeError, ValueError):
            return None
    return (left > right) - (left < right)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_leaves(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    return [_text(value)]


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    name, op, wanted = flt["Name"], flt.get("Operator") or "Equals", flt.get("Value")
    values = [v for v in resolve(doc, name) if v is not None]
    if op == "Exists":
        return bool(values)
    if op == "NotExists":
        return not values
    if wanted is None:
        raise ValidationException(f"Filter on '{name}' with operator {op} needs a Value.")
    if op == "Contains":
        return any(wanted.lower() in leaf.lower() for v in values for leaf in _leaves(v))
    if op == "In":
        options = {o.strip() for o in wanted.split(",")}
        return any(_text(v) in options for v in values)
    if op in ("Equals", "NotEquals"):
        equal = any((_compare(v, wanted) == 0) or _text(v) == wanted for v in values)
        return equal if op == "Equals" else not equal
    wanted_sign = {"GreaterThan": (1,), "GreaterThanOrEqualTo": (0, 1), "LessThan": (-1,),
                   "LessThanOrEqualTo": (-1, 0)}[op]
    results = [_compare(v, wanted) for v in values]
    if any(r is None for r in results):
        raise ValidationException(f"Operator {op} is not supported for text property '{name}' "
                                  f"(value '{wanted}').")
    return any(r in wanted_sign for r in results)


def _nested(doc: dict[str, Any], nested: dict[str, Any]) -> bool:
    prefix = nested["NestedPropertyName"]
    for flt in nested["Filters"]:
        if not flt["Name"].startswith(f"{prefix}."):
            raise ValidationException(f"Nested filter name '{flt['Name']}' must start with '{prefix}.'.")
    inner = [{**f, "Name": f["Name"][len(prefix) + 1:]} for f in nested["Filters"]]
    items = [item for item in resolve(doc, prefix) if isinstance(item, dict)]
    return any(all(_matches(item, f) for f in inner) for item in items)


def evaluate(doc: dict[str, Any], expr: dict[str, Any]) -> bool:
    checks = [lambda f=f: _matches(doc, f) for f in expr.get("Filters") or []]
    checks += [lambda n=n: _nested(doc, n) for n in expr.get("NestedFilters") or []]
    checks += [lambda e=e: evaluate(doc, e) for e in expr.get("SubExpressions") or []]
    combine = any if expr.get("Operator") == "Or" else all
    return combine(check() for check in checks)


def _check_expression(expr: dict[str, Any]) -> None:
    contains: list[str] = []

    def walk(e: dict[str, Any]) -> None:
        if not (e.get("Filters") or e.get("NestedFilters") or e.get("SubExpressions")):
            raise ValidationException("A SearchExpression must contain at least one Filter, NestedFilter "
                                      "or SubExpression.")
        filters = list(e.get("Filters") or [])
        filters += [f for n in e.get("NestedFilters") or [] for f in n["Filters"]]
        contains.extend(f["Name"] for f in filters if f.get("Operator") == "Contains"
                        and f["Name"].split(".")[0] not in _MULTI_CONTAINS)
        for sub in e.get("SubExpressions") or []:
            walk(sub)
    walk(expr)
    if len(contains) > 1:
        raise ValidationException("'CONTAINS' operator usage limit of 1 exceeded.")


# --- the operation -----------------------------------------------------------------------------

def _sort_key(value: Any) -> tuple:
    number = _number(value)
    if number is not None:
        return (0, number, "")
    return (1, 0.0, _text(value))


def search(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    resource = req["Resource"]
    expr = req.get("SearchExpression")
    if expr is not None:
        _check_expression(expr)
    if resource not in RESOURCES:
        return {"Results": [], "TotalHits": {"Value": 0, "Relation": "EqualTo"}}
    kind, member = RESOURCES[resource]
    docs = []
    for body in services.records.list(kind):
        record = _record(services, region, kind, body)
        view = _view(kind, record)
        if expr is None or evaluate(view, expr):
            docs.append((record, view))
    sort_by = req.get("SortBy")
    descending = (req.get("SortOrder") or "Descending") == "Descending"

    def key_of(view: dict) -> Any:
        # AWS's default SortBy is LastModifiedTime; kinds without one (ModelPackageGroup) use CreationTime.
        found = resolve(view, sort_by) if sort_by else (resolve(view, "LastModifiedTime")
                                                         or resolve(view, "CreationTime"))
        return found[0] if found and not isinstance(found[0], (dict, list)) else None
    keyed = [(key_of(v), r) for r, v in docs]
    present = sorted([(k, r) for k, r in keyed if k is not None], key=lambda p: _sort_key(p[0]),
                     reverse=descending)
    missing = [r for k, r in keyed if k is None]
    ordered = [r for _, r in present] + missing  # records without the property come last either way
    start = decode_token(req.get("NextToken"))
    limit = req.get("MaxResults") or 10
    out: dict[str, Any] = {"Results": [{member: r} for r in ordered[start:start + limit]],
                           "TotalHits": {"Value": len(ordered), "Relation": "EqualTo"}}
    if start + limit < len(ordered):
        out["NextToken"] = encode_token(start + limit)
    return out
