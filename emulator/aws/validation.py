"""Server-side validation of a whole request against its botocore input shape.

botocore's client checks only required members, types and `min`; AWS checks every constraint of the
model on the server and words the errors in Coral's style, e.g.

  1 validation error detected: Value 'bad name' at 'trainingJobName' failed to satisfy constraint:
  Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

Paths use lower-camel-case member names, `.N.member` for list items (1-based) and `.<key>` for maps.
Type mismatches are not constraint violations on AWS: JSON services answer SerializationException.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from emulator.aws.errors import SerializationException, ValidationException
from emulator.aws.serialize import to_epoch

try:  # `regex` understands Java's \p{..} classes that some SageMaker patterns use.
    import regex as _regex
except ImportError:  # pragma: no cover
    _regex = None

MAX_REPORTED = 10  # AWS lists at most this many violations in one message
NON_FINITE = ("NaN", "Infinity", "-Infinity")
MAX_EPOCH = 253402300800  # 10000-01-01: the range of a datetime
# Values are quoted in messages, whole when they are merely over their limit (a 2,501-character
# hyperparameter value); a multi-megabyte value is quoted by its start only, so an error about a huge
# request is not itself huge.
MAX_SHOWN = 4096


@lru_cache(maxsize=4096)
def _compile(pattern: str):
    # Java's String.matches() semantics: the pattern must match the whole value.
    for engine in (re, _regex):
        if engine is None:
            continue
        try:
            return engine.compile(pattern, engine.DOTALL)
        except Exception:
            continue
    return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"'{_clip(value)}'"


# Stands for the value of a member the model marks `sensitive` (an InvokeEndpoint body, a secret): AWS
# names where the violation is but never echoes the value.
_SENSITIVE = object()


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, value: Any, path: str, constraint: str) -> None:
        shown = "Value" if value is _SENSITIVE else f"Value {_show(value)}"
        self.errors.append(f"{shown} at '{path}' failed to satisfy constraint: {constraint}")


def validate_input(shape: Shape | None, params: dict[str, Any]) -> None:
    """Raise ValidationException (all violations) or SerializationException (wrong JSON types)."""
    if shape is None:
        return
    collector = _Collector()
    try:
        _check_structure(shape, params, "", collector)
    except RecursionError:
        # Only recursive shapes (SearchExpression.SubExpressions) nest this deep: far past any limit AWS has.
        raise SerializationException("The request nests structures too deeply.") from None
    if collector.errors:
        n = len(collector.errors)
        shown = collector.errors[:MAX_REPORTED]
        noun = "error" if n == 1 else "errors"
        raise ValidationException(f"{n} validation {noun} detected: " + "; ".join(shown))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_structure(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, dict):
        raise SerializationException(f"Expected a structure at '{path or 'request'}'")
    for name in shape.required_members:
        if value.get(name) is None:
            out.add(None, _join(path, _camel(name)), "Member must not be null")
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is None or member_value is None:
            # Unknown members are ignored by AWS's JSON deserialiser.
            continue
        _check(member, member_value, _join(path, _camel(name)), out)


def _check(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, out)
    elif kind == "list":
        if not isinstance(value, list):
            raise SerializationException(f"Expected a list at '{path}'")
        _check_size(shape, value, len(value), path, out)
        for i, item in enumerate(value, start=1):
            if item is None:
                _null_item(shape, f"{path}.{i}.member")
            else:
                _check(shape.member, item, f"{path}.{i}.member", out)
    elif kind == "map":
        if not isinstance(value, dict):
            raise SerializationException(f"Expected a map at '{path}'")
        _check_size(shape, value, len(value), path, out)
        for key, item in value.items():
            _check(shape.key, key, path, out)
            if item is None:
                _null_item(shape, f"{path}.{key}")
            else:
                _check(shape.value, item, f"{path}.{key}", out)
    elif kind == "string":
        if not isinstance(value, str):
            raise SerializationException(f"Expected a string at '{path}', got {type(value).__name__}")
        shown = _SENSITIVE if shape.metadata.get("sensitive") else value
        _check_size(shape, shown, len(value), path, out)
        enum = shape.enum
        if enum and value not in enum:
            out.add(shown, path, "Member must satisfy enum value set: [" + ", ".join(enum) + "]")
        pattern = shape.metadata.get("pattern")
        if pattern and shape.name == "S3Uri" and value.startswith("file://"):
            pattern = None  # emulator extension: local folders as job inputs, as SDK local mode allows
        if pattern:
            compiled = _compile(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                out.add(shown, path, f"Member must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise SerializationException(f"Expected an integer at '{path}'")
        bits = 31 if kind == "integer" else 63  # Java's int and long: a larger number cannot be deserialised
        if not -(1 << bits) <= value < (1 << bits):
            raise SerializationException(f"Number at '{path}' is out of range for a {kind}")
        _check_range(shape, value, path, out)
    elif kind in ("float", "double"):
        if isinstance(value, str) and value in NON_FINITE:
            return  # JSON protocols carry non-finite floats as these strings (botocore sends them so)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializationException(f"Expected a number at '{path}'")
        _check_range(shape, value, path, out)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise SerializationException(f"Expected a boolean at '{path}'")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SerializationException(f"Expected a timestamp at '{path}'")
        try:
            epoch = to_epoch(value)
        except (ValueError, OverflowError, OSError):
            raise SerializationException(f"Could not parse '{_clip(value)}' at '{path}' as a timestamp") from None
        if not -MAX_EPOCH < epoch < MAX_EPOCH:  # also NaN and infinities
            raise SerializationException(f"Timestamp at '{path}' is out of range")
    elif kind == "blob":
        if not isinstance(value, (str, bytes)):
            raise SerializationException(f"Expected a blob at '{path}'")
        _check_size(shape, _SENSITIVE if shape.metadata.get("sensitive") else value, len(value), path, out)


def _null_item(shape: Shape, path: str) -> None:
    """A null in a list or map the model does not mark `sparse` (Smithy's protocol tests:
    "When a dense list contains null, the response should be a 400 SerializationException")."""
    if not shape.metadata.get("sparse"):
        raise SerializationException(f"Null value at '{path}': the collection cannot hold nulls")


def _check_size(shape: Shape, value: Any, size: int, path: str, out: _Collector) -> None:
    meta = shape.metadata
    if "min" in meta and size < meta["min"]:
        out.add(value, path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        out.add(value, path, f"Member must have length less than or equal to {meta['max']}")


def _check_range(shape: Shape, value: float, path: str, out: _Collector) -> None:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        out.add(value, path, f"Member must have value greater than or equal to {meta['min']}")
    if "max" in meta and value > meta["max"]:
        out.add(value, path, f"Member must have value less than or equal to {meta['max']}")
