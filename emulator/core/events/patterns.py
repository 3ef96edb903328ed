"""EventBridge event patterns: validation and matching (pure), as the EventBridge User Guide's
"Event patterns" and "Content filtering" pages define them.

A pattern is a JSON object mirroring the event. Each leaf is an array of alternatives; an event field
matches when its value (or, for an array, any of its elements) matches any alternative:

  "x"  1  true  null          exact value (numbers compare numerically)
  {"prefix": "a"}             also {"prefix": {"equals-ignore-case": "a"}}
  {"suffix": ".png"}          also {"suffix": {"equals-ignore-case": ".png"}}
  {"equals-ignore-case": "a"}
  {"wildcard": "dir/*.png"}   `*` matches any run of characters, `\\*` a star
  {"anything-but": v | [v...] | {"prefix": ..} | {"suffix": ..} | {"equals-ignore-case": ..} | {"wildcard": ..}}
  {"numeric": [">", 0, "<=", 5]}
  {"exists": true | false}    on leaf fields; false matches a field that is absent
  {"cidr": "10.0.0.0/24"}

and `"$or": [pattern, ...]` at any level matches when any of its patterns does. Every field of a
pattern must match (fields the pattern does not name are ignored).
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from typing import Any

from emulator.aws.errors import AwsError

_MISSING = object()
_NUMERIC_OPS = {"<", "<=", "=", ">", ">="}
_FILTERS = {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"}
NUMBER_LIMIT = 5e9  # EventBridge numeric matching works on values between -5e9 and 5e9


class InvalidEventPatternException(AwsError):
    code = "InvalidEventPatternException"


def _invalid(reason: str) -> InvalidEventPatternException:
    return InvalidEventPatternException(f"Event pattern is not valid. Reason: {reason}")


def parse(text: str) -> dict[str, Any]:
    """Parse and validate a pattern (PutRule, TestEventPattern)."""
    try:
        pattern = json.loads(text)
    except ValueError as exc:
        raise _invalid(f"Filter is not valid JSON: {exc.msg}") from None
    if not isinstance(pattern, dict):
        raise _invalid("Filter is not an object")
    if not pattern:
        raise _invalid("Empty event pattern is not allowed")
    _check_object(pattern, "")
    return pattern


def _check_object(pattern: dict, path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, dict) and v for v in value):
                raise _invalid(f"\"$or\" must be an array of at least two non-empty objects at {where}")
            for option in value:
                _check_object(option, path)
        elif isinstance(value, dict):
            if not value:
                raise _invalid(f"Empty objects are not allowed at {where}")
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise _invalid(f"Empty arrays are not allowed at {where}")
            for item in value:
                _check_alternative(item, where)
        else:
            raise _invalid(f"\"{key}\" must be an object or an array")


def _check_alternative(item: Any, where: str) -> None:
    if item is None or isinstance(item, (str, bool, int, float)):
        return
    if not isinstance(item, dict) or len(item) != 1:
        raise _invalid(f"Match expressions must be values or objects with one key at {where}")
    (kind, arg), = item.items()
    if kind not in _FILTERS:
        raise _invalid(f"Unrecognized match type {kind}")
    if kind in ("prefix", "suffix"):
        if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"} and isinstance(arg["equals-ignore-case"], str):
            return
        if not isinstance(arg, str):
            raise _invalid(f"{kind} match pattern must be a string, optionally with equals-ignore-case")
    elif kind in ("equals-ignore-case", "wildcard"):
        if not isinstance(arg, str):
            raise _invalid(f"{kind} match pattern must be a string")
    elif kind == "exists":
        if not isinstance(arg, bool):
            raise _invalid("exists match pattern must be either true or false.")
    elif kind == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except (TypeError, ValueError):
            raise _invalid(f"Malformed CIDR, one '/' required: {arg}") from None
    elif kind == "numeric":
        _numeric_terms(arg)
    elif kind == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
                raise _invalid("Unsupported anything-but pattern")
            inner, value = next(iter(arg.items()))
            ok = isinstance(value, str) or (inner in ("equals-ignore-case", "wildcard") and isinstance(value, list)
                                            and all(isinstance(v, str) for v in value))
            if not ok:
                raise _invalid(f"anything-but {inner} match pattern must be a string")
        elif isinstance(arg, list):
            if not arg or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in arg):
                raise _invalid("Inside anything but list, start|null|boolean is not supported.")
        elif not isinstance(arg, (str, int, float)) or isinstance(arg, bool):
            raise _invalid("Inside anything but list, start|null|boolean is not supported.")


def _numeric_terms(arg: Any) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise _invalid("Value of numeric must be an array.")
    terms = []
    for op, value in zip(arg[::2], arg[1::2]):
        if op not in _NUMERIC_OPS:
            raise _invalid(f"Unrecognized numeric range operator: {op}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(f"Value of {op} must be numeric")
        if abs(value) > NUMBER_LIMIT:
            raise _invalid(f"Value of {op} must be between -{NUMBER_LIMIT:.0e} and {NUMBER_LIMIT:.0e}")
        terms.append((op, float(value)))
    return terms


# --- matching --------------------------------------------------------------------------------------

def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return _match_object(pattern, event)


def _match_object(pattern: dict, event: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(option, event) for option in expected):
                return False
            continue
        actual = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            candidates = actual if isinstance(actual, list) else [actual]
            if not any(isinstance(c, dict) and _match_object(expected, c) for c in candidates):
                # A nested pattern whose every field is {"exists": false} matches an absent object.
                if not (actual is _MISSING and _only_absence(expected)):
                    return False
        elif not _match_leaf(expected, actual):
            return False
    return True


def _only_absence(pattern: dict) -> bool:
    return all(k != "$or" and isinstance(v, list) and {"exists": False} in v for k, v in pattern.items())


def _match_leaf(alternatives: list, actual: Any) -> bool:
    if actual is _MISSING:
        return any(isinstance(a, dict) and a.get("exists") is False for a in alternatives)
    values = actual if isinstance(actual, list) else [actual]
    for alternative in alternatives:
        if isinstance(alternative, dict):
            kind, arg = next(iter(alternative.items()))
            if kind == "exists":
                if arg:
                    return True
                continue
            if kind == "anything-but":
                if values and all(_anything_but(arg, v) for v in values):
                    return True
                continue
            if any(_filter(kind, arg, v) for v in values):
                return True
        elif any(_equal(alternative, v) for v in values):
            return True
    return False


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool) or expected is None or value is None:
        return expected is value or (expected == value and type(expected) is type(value))
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return float(expected) == float(value)
    return isinstance(expected, str) and isinstance(value, str) and expected == value


def _filter(kind: str, arg: Any, value: Any) -> bool:
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return all(_compare(op, float(value), bound) for op, bound in _numeric_terms(arg))
    if not isinstance(value, str):
        return False
    if kind in ("prefix", "suffix"):
        text, folded = (arg["equals-ignore-case"], True) if isinstance(arg, dict) else (arg, False)
        subject = value.casefold() if folded else value
        text = text.casefold() if folded else text
        return subject.startswith(text) if kind == "prefix" else subject.endswith(text)
    if kind == "equals-ignore-case":
        return value.casefold() == arg.casefold()
    if kind == "wildcard":
        return _wildcard(arg).fullmatch(value) is not None
    if kind == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    return False


def _anything_but(arg: Any, value: Any) -> bool:
    """True when `value` is none of what anything-but names."""
    if isinstance(arg, dict):
        kind, inner = next(iter(arg.items()))
        options = inner if isinstance(inner, list) else [inner]
        return not any(_filter(kind, option, value) for option in options)
    options = arg if isinstance(arg, list) else [arg]
    return not any(_equal(option, value) for option in options)


def _compare(op: str, value: float, bound: float) -> bool:
    return {"<": value < bound, "<=": value <= bound, "=": value == bound, ">": value > bound,
            ">=": value >= bound}[op]


@lru_cache(maxsize=1024)
def _wildcard(text: str) -> re.Pattern:
    parts, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "*\\":
            parts.append(re.escape(text[i + 1]))
            i += 2
        elif text[i] == "*":
            parts.append(".*")
            i += 1
        else:
            parts.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(parts), re.DOTALL)
