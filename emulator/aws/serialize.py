"""Shape-driven output serialisation: walk the botocore output shape, keep only modelled members,
and encode timestamps and blobs the way each protocol expects (epoch seconds for JSON protocols,
ISO 8601 for query/XML)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import Shape


def to_epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.timezone.utc)
            return stamp.timestamp()
    return float(value)


def to_iso(value: Any) -> str:
    stamp = dt.datetime.fromtimestamp(to_epoch(value), tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def json_value(shape: Shape | None, value: Any) -> Any:
    """Turn a handler's result into the JSON the client's parser expects for `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = json_value(member, value[name])
        return out
    if kind == "list":
        return [json_value(shape.member, v) for v in value]
    if kind == "map":
        return {k: json_value(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return to_epoch(value)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def xml_members(shape: Shape | None, value: Any, name: str) -> str:
    """Query-protocol (STS/IAM) XML for one member."""
    if value is None or shape is None:
        return ""
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(xml_members(m, value.get(n), n) for n, m in shape.members.items()
                        if value.get(n) is not None)
        return f"<{name}>{inner}</{name}>"
    if kind == "list":
        inner = "".join(xml_members(shape.member, v, "member") for v in value)
        return f"<{name}>{inner}</{name}>"
    if kind == "timestamp":
        text = to_iso(value)
    elif kind == "boolean":
        text = "true" if value else "false"
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"
