"""Batch transform's record handling, pure functions (inference_and_monitoring.md §3, container_contracts.md
§4.2): an input object split into records by SplitType, records packed into mini-batches by BatchStrategy
up to MaxPayloadInMB, and responses assembled into the `.out` object by AssembleWith.

- SplitType None: the object is one record. Line: one record per line (its newline kept, empty lines
  dropped). RecordIO: MXNet RecordIO frames (magic 0xced7230a, length word, data padded to 4 bytes).
  TFRecord: length (8 bytes), its CRC, data, data CRC.
- SingleRecord: one record per request (a RecordIO record without its padding, as the DG says padding is
  removed for SingleRecord). MultiRecord: as many whole records as fit in MaxPayloadInMB (0: no limit).
- AssembleWith Line: every response ends with a newline (added when it has none); None: concatenated.
"""

from __future__ import annotations

import gzip
import struct

RECORDIO_MAGIC = 0xCED7230A
MB = 1024 * 1024


class RecordError(ValueError):
    """The input cannot be split or batched as asked (the object fails)."""


def decompress(data: bytes, compression: str) -> bytes:
    if compression == "Gzip":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise RecordError(f"cannot decompress the object as Gzip: {exc}") from None
    return data


def split(data: bytes, split_type: str) -> list[bytes]:
    if split_type == "None" or not split_type:
        return [data] if data else []
    if split_type == "Line":
        return [line for line in data.splitlines(keepends=True) if line.strip(b"\r\n")]
    if split_type == "RecordIO":
        return _recordio(data)
    if split_type == "TFRecord":
        return _tfrecord(data)
    raise RecordError(f"SplitType {split_type} is not supported")


def _recordio(data: bytes) -> list[bytes]:
    out, offset = [], 0
    while offset < len(data):
        if len(data) - offset < 8:
            raise RecordError(f"truncated RecordIO header at byte {offset}")
        magic, word = struct.unpack_from("<II", data, offset)
        if magic != RECORDIO_MAGIC:
            raise RecordError(f"bad RecordIO magic at byte {offset}")
        length = word & ((1 << 29) - 1)
        end = offset + 8 + length + (-length % 4)
        if end > len(data):
            raise RecordError(f"truncated RecordIO record at byte {offset}")
        out.append(data[offset:end])
        offset = end
    return out


def _tfrecord(data: bytes) -> list[bytes]:
    out, offset = [], 0
    while offset < len(data):
        if len(data) - offset < 12:
            raise RecordError(f"truncated TFRecord header at byte {offset}")
        (length,) = struct.unpack_from("<Q", data, offset)
        end = offset + 12 + length + 4
        if end > len(data):
            raise RecordError(f"truncated TFRecord record at byte {offset}")
        out.append(data[offset:end])
        offset = end
    return out


def unpadded(record: bytes, split_type: str) -> bytes:
    """A SingleRecord request's body: a RecordIO record without its trailing padding."""
    if split_type != "RecordIO" or len(record) < 8:
        return record
    length = struct.unpack_from("<I", record, 4)[0] & ((1 << 29) - 1)
    return record[:8 + length]


def line_chunks(data: bytes, max_payload_mb: int) -> list[bytes] | None:
    """MultiRecord over Line-split data with nothing to filter: the object cut at line ends into requests of
    at most MaxPayloadInMB, without splitting it into records first (what `batches(split(...))` would send).
    None when the data has empty lines (they are dropped record by record) or a line is over the limit."""
    if not data or b"\n\n" in data or data.startswith((b"\n", b"\r\n")) or b"\n\r\n" in data:
        return None
    if not max_payload_mb:
        return [data]
    limit, out, start = max_payload_mb * MB, [], 0
    while len(data) - start > limit:
        cut = data.rfind(b"\n", start, start + limit)
        if cut < 0:
            return None
        out.append(data[start:cut + 1])
        start = cut + 1
    out.append(data[start:])
    return out


def batches(records: list[bytes], strategy: str, max_payload_mb: int, split_type: str) -> list[list[bytes]]:
    """Mini-batches: lists of records, each batch's bytes within the payload limit."""
    if strategy == "SingleRecord" or strategy == "SINGLE_RECORD":
        out = []
        for record in records:
            body = unpadded(record, split_type)
            if max_payload_mb and len(body) > max_payload_mb * MB:
                raise RecordError(f"a record of {len(body)} bytes exceeds MaxPayloadInMB ({max_payload_mb})")
            out.append([body])
        return out
    limit = max_payload_mb * MB if max_payload_mb else None
    out, current, size = [], [], 0
    for record in records:
        if limit is not None and len(record) > limit:
            raise RecordError(f"a record of {len(record)} bytes exceeds MaxPayloadInMB ({max_payload_mb})")
        if current and limit is not None and size + len(record) > limit:
            out.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        out.append(current)
    return out


def assemble(responses: list[bytes], assemble_with: str) -> bytes:
    if assemble_with == "Line":
        return b"".join(r if r.endswith(b"\n") else r + b"\n" for r in responses)
    return b"".join(responses)


def lines(payload: bytes) -> list[bytes]:
    """A response's records, one per line (for joining outputs with their inputs)."""
    return [line for line in payload.splitlines() if line.strip()]
