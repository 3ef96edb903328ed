"""AWS event stream framing (application/vnd.amazon.eventstream), the body of
InvokeEndpointWithResponseStream: each message is a prelude (total length, headers length, CRC32 of
the two), string headers (`:message-type`, `:event-type` or `:exception-type`, `:content-type`), the
payload and a CRC32 of everything before it -- what botocore's EventStream parser reads."""

from __future__ import annotations

import json
import struct
from binascii import crc32

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return out


def message(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack("!I", crc32(body))


def event(event_type: str, payload: bytes, content_type: str = "application/octet-stream") -> bytes:
    return message({":event-type": event_type, ":content-type": content_type, ":message-type": "event"}, payload)


def exception(exception_type: str, fields: dict[str, str]) -> bytes:
    return message({":exception-type": exception_type, ":content-type": "application/json",
                    ":message-type": "exception"}, json.dumps(fields).encode())
