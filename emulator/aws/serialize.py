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
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
            return stamp.timestamp()
    return float(value)


def to_iso(value: Any) -> str:
    stamp = dt.datetime.fromtimestamp(to_epoch(value), tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def json_value(shape: Shape | None, value: Any) -> Any:
    """Turn a handler's result into the JSON the client's parser expects for `shape`."""
    return shaped(shape, value, _json_leaf)


def cbor_value(shape: Shape | None, value: Any) -> Any:
    """A handler's result as the CBOR data items an RPC v2 CBOR client expects for `shape`: timestamps
    as datetimes (encoded as tag 1), blobs as byte strings, doubles as floats."""
    return shaped(shape, value, _cbor_leaf)


def shaped(shape: Shape | None, value: Any, leaf) -> Any:
    """Walk `value` along `shape`, keeping only modelled members; `leaf(shape, value)` encodes scalars."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        return {name: shaped(member, value[name], leaf) for name, member in shape.members.items()
                if value.get(name) is not None}
    if kind == "list":
        return [shaped(shape.member, v, leaf) for v in value]
    if kind == "map":
        return {k: shaped(shape.value, v, leaf) for k, v in value.items()}
    return leaf(shape, value)


def _json_leaf(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        return to_epoch(value)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _cbor_leaf(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        return dt.datetime.fromtimestamp(to_epoch(value), tz=dt.UTC)
    if kind == "blob":
        return value.encode() if isinstance(value, str) else bytes(value)
    if kind in ("float", "double"):
        return float(value)  # CBOR carries NaN and the infinities natively ("NaN" -> nan)
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def xml_members(shape: Shape | None, value: Any, name: str) -> str:
    """Query-protocol (STS, IAM, CloudWatch) XML for one member."""
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
    if kind == "map":  # non-flattened: <entry><key/><value/></entry>, as botocore's query parser reads it
        inner = "".join(f"<entry>{xml_members(shape.key, k, 'key')}{xml_members(shape.value, v, 'value')}</entry>"
                        for k, v in value.items())
        return f"<{name}>{inner}</{name}>"
    if kind == "timestamp":
        text = to_iso(value)
    elif kind == "boolean":
        text = "true" if value else "false"
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"
