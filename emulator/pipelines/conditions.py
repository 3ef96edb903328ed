"""Condition evaluation (pipeline_definitions.md §3): a Condition step's Conditions are ANDed."""

from __future__ import annotations

from typing import Any

from emulator.pipelines.expressions import ExpressionError, Scope, evaluate

COMPARISONS = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


def evaluate_all(conditions: list[dict[str, Any]], scope: Scope) -> bool:
    return all(evaluate_condition(c, scope) for c in conditions)


def evaluate_condition(condition: dict[str, Any], scope: Scope) -> bool:
    kind = condition.get("Type")
    if kind in COMPARISONS:
        left = evaluate(condition.get("LeftValue"), scope)
        right = evaluate(condition.get("RightValue"), scope)
        _same_type(left, right)
        try:
            return bool(COMPARISONS[kind](left, right))
        except TypeError:
            raise ExpressionError(f"Cannot compare {left!r} with {right!r} in a {kind} condition.") from None
    if kind == "In":
        query = evaluate(condition.get("QueryValue", condition.get("Value")), scope)
        values = evaluate(condition.get("Values", condition.get("In", [])), scope)
        return any(_equal(query, v) for v in values)
    if kind == "Not":
        return not evaluate_condition(condition["Condition"], scope)
    if kind == "Or":
        return any(evaluate_condition(c, scope) for c in condition.get("Conditions", []))
    if kind == "And":
        return all(evaluate_condition(c, scope) for c in condition.get("Conditions", []))
    if kind == "NotEquals":
        return not evaluate_condition({**condition, "Type": "Equals"}, scope)
    if kind == "NotIn":
        return not evaluate_condition({**condition, "Type": "In"}, scope)
    raise ExpressionError(f"Unknown condition type {kind!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_type(left: Any, right: Any) -> None:
    if _is_number(left) and _is_number(right):
        return  # int and float compare numerically
    if type(left) is not type(right):
        raise ExpressionError(f"LeftValue [{left}] of type [{type(left).__name__}] and RightValue [{right}] of type "
                              f"[{type(right).__name__}] are not of the same type.")


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b
