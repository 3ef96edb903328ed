"""Amazon RecordIO-protobuf: the `application/x-recordio-protobuf` format of the first-party algorithms.

Framing (MXNet RecordIO, as the SDK's serializer_utils writes it): per record a little-endian uint32
magic 0xCED7230A, a uint32 length (low 29 bits; the top 3 bits are MXNet's continuation flag), the
payload, zero padding to a multiple of 4. The payload is `aialgs.data.Record` (the SDK's record.proto):

    Record        { map<string, Value> features = 1; map<string, Value> label = 2;
                    string uid = 3; string metadata = 4; string configuration = 5; }
    Value         { oneof { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                            Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    *Tensor       { repeated <type> values = 1 [packed]; repeated uint64 keys = 2 [packed];
                    repeated uint64 shape = 3 [packed]; }      keys + shape = a sparse vector

The message is small enough to decode by hand, which keeps protobuf out of the images. The SDK's
`record_set()` shards are uniform (every record a dense float vector of the same length plus a scalar
label), so those are decoded as one strided numpy view instead of record by record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_MASK = (1 << 29) - 1

# Value oneof field number -> numpy dtype of the tensor's values
_TENSOR_DTYPES = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype("<i4")}
_WIRE_VARINT, _WIRE_64BIT, _WIRE_LEN, _WIRE_32BIT = 0, 1, 2, 5


class RecordIOError(ValueError):
    """The bytes are not valid RecordIO-protobuf."""


@dataclass
class Tensor:
    values: np.ndarray
    keys: np.ndarray | None = None  # sparse when set
    shape: list[int] | None = None


@dataclass
class Record:
    features: dict[str, Tensor]
    label: dict[str, Tensor]


# --- framing ------------------------------------------------------------------------------------


def split_records(data: bytes | memoryview) -> Iterator[memoryview]:
    """The payloads of the RecordIO records in `data`."""
    view = memoryview(data)
    offset, end = 0, len(view)
    while offset < end:
        if end - offset < 8:
            raise RecordIOError(f"truncated RecordIO header at byte {offset}")
        magic, length = struct.unpack_from("<II", view, offset)
        if magic != MAGIC:
            raise RecordIOError(f"invalid RecordIO magic number at byte {offset}")
        length &= _LENGTH_MASK
        start = offset + 8
        if start + length > end:
            raise RecordIOError(f"truncated RecordIO record at byte {offset}")
        yield view[start : start + length]
        offset = start + ((length + 3) & ~3)


def frame(payload: bytes) -> bytes:
    pad = (-len(payload)) % 4
    return _MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + b"\0" * pad


# --- protobuf decoding --------------------------------------------------------------------------


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise RecordIOError("malformed varint")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) for each field; LEN values are memoryviews."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _WIRE_VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _WIRE_LEN:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif wire == _WIRE_32BIT:
            value = buf[pos : pos + 4]
            pos += 4
        elif wire == _WIRE_64BIT:
            value = buf[pos : pos + 8]
            pos += 8
        else:
            raise RecordIOError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise RecordIOError("truncated protobuf message")
        yield number, wire, value


def _packed_varints(buf: memoryview) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        out.append(value)
    return out


def _tensor(buf: memoryview, dtype: np.dtype) -> Tensor:
    chunks: list[np.ndarray] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            if dtype.kind == "i":  # int32 values are varints (negatives in 64-bit two's complement)
                raw = _packed_varints(value) if wire == _WIRE_LEN else [value]
                chunks.append(np.array([v - (1 << 64) if v >= 1 << 63 else v for v in raw], dtype=dtype))
            else:  # float/double: fixed width, packed or one per field
                chunks.append(np.frombuffer(value, dtype=dtype))
        elif number == 2:
            keys.extend(_packed_varints(value) if wire == _WIRE_LEN else [value])
        elif number == 3:
            shape.extend(_packed_varints(value) if wire == _WIRE_LEN else [value])
    values = np.concatenate(chunks) if len(chunks) > 1 else (chunks[0] if chunks else np.empty(0, dtype))
    return Tensor(values, np.asarray(keys, dtype=np.int64) if keys else None, shape or None)


def _value(buf: memoryview) -> Tensor | None:
    for number, _wire, value in _fields(buf):
        dtype = _TENSOR_DTYPES.get(number)
        if dtype is not None:
            return _tensor(value, dtype)
    return None  # Bytes values are not used by these algorithms


def _map_entry(buf: memoryview) -> tuple[str, Tensor | None]:
    key, tensor = "", None
    for number, _wire, value in _fields(buf):
        if number == 1:
            key = bytes(value).decode("utf-8")
        elif number == 2:
            tensor = _value(value)
    return key, tensor


def decode_record(payload: memoryview | bytes) -> Record:
    features: dict[str, Tensor] = {}
    label: dict[str, Tensor] = {}
    for number, _wire, value in _fields(memoryview(payload)):
        if number in (1, 2):
            key, tensor = _map_entry(value)
            if tensor is not None:
                (features if number == 1 else label)[key] = tensor
    return Record(features, label)


def read_records(data: bytes | memoryview) -> list[Record]:
    return [decode_record(payload) for payload in split_records(data)]


# --- protobuf encoding --------------------------------------------------------------------------


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _WIRE_LEN) + _encode_varint(len(payload)) + payload


def encode_float32_value(values: Iterable[float] | np.ndarray) -> bytes:
    """A Value{float32_tensor{values}} message."""
    packed = np.asarray(values, dtype="<f4").tobytes()
    return _len_field(2, _len_field(1, packed) if packed else b"")


def encode_record(features: dict[str, bytes] | None = None, label: dict[str, bytes] | None = None) -> bytes:
    """A Record payload from already encoded Value messages."""
    out = bytearray()
    for number, entries in ((1, features or {}), (2, label or {})):
        for key, value in entries.items():
            out += _len_field(number, _len_field(1, key.encode()) + _len_field(2, value))
    return bytes(out)


def write_label_records(rows: Iterable[dict[str, Iterable[float] | float]]) -> bytes:
    """RecordIO bytes with one record per row, each output in `label` as a float32 tensor (the
    response shape of LinearLearner, k-NN and Factorization Machines)."""
    out = bytearray()
    for row in rows:
        label = {
            key: encode_float32_value(np.atleast_1d(np.asarray(value, dtype="<f4")))
            for key, value in row.items()
        }
        out += frame(encode_record(label=label))
    return bytes(out)


def write_dense(features: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """Dense float32 records, as the SDK's write_numpy_to_dense_tensor (used by tests and clients)."""
    out = bytearray()
    features = np.asarray(features, dtype="<f4")
    for i, row in enumerate(features):
        label = None if labels is None else {"values": encode_float32_value([labels[i]])}
        out += frame(encode_record({"values": encode_float32_value(row)}, label))
    return bytes(out)


# --- matrices -----------------------------------------------------------------------------------


@dataclass
class Batch:
    """Features (dense float32 array or scipy CSR matrix) and the 'values' label, if any."""

    features: object
    labels: np.ndarray | None


def read_matrix(data: bytes | memoryview, feature_key: str = "values", label_key: str = "values") -> Batch:
    """All records of `data` as one matrix; uniform dense shards take a vectorised path."""
    fast = _read_uniform_dense(data)
    if fast is not None:
        return fast
    return records_to_matrix(read_records(data), feature_key, label_key)


def records_to_matrix(records: list[Record], feature_key: str = "values", label_key: str = "values") -> Batch:
    rows = []
    for i, record in enumerate(records):
        tensor = record.features.get(feature_key)
        if tensor is None:
            raise RecordIOError(f"record {i} has no feature named '{feature_key}'")
        rows.append(tensor)
    labels = None
    if records and all(label_key in r.label for r in records):
        labels = np.array(
            [r.label[label_key].values[0] if r.label[label_key].values.size else np.nan for r in records],
            dtype=np.float32,
        )
    elif any(r.label for r in records):
        raise RecordIOError(f"some records have no label named '{label_key}'")
    if any(t.keys is not None for t in rows):
        return Batch(_sparse(rows), labels)
    widths = {t.values.size for t in rows}
    if len(widths) > 1:
        raise RecordIOError(f"dense records have different lengths: {sorted(widths)[:5]}")
    width = widths.pop() if widths else 0
    matrix = np.empty((len(rows), width), dtype=np.float32)
    for i, t in enumerate(rows):
        matrix[i] = t.values
    return Batch(matrix, labels)


def _sparse(rows: list[Tensor]):
    from scipy import sparse

    width = 0
    for t in rows:
        if t.keys is not None and t.shape:
            width = max(width, int(t.shape[0]))
        elif t.keys is None:
            width = max(width, t.values.size)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indices, data = [], []
    for i, t in enumerate(rows):
        keys = t.keys if t.keys is not None else np.arange(t.values.size, dtype=np.int64)
        if keys.size != t.values.size:
            raise RecordIOError(f"sparse record {i} has {keys.size} keys but {t.values.size} values")
        if keys.size:
            width = max(width, int(keys.max()) + 1)
        indices.append(keys)
        data.append(t.values.astype(np.float32, copy=False))
        indptr[i + 1] = indptr[i] + keys.size
    matrix = sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.empty(0, np.float32),
            np.concatenate(indices) if indices else np.empty(0, np.int64),
            indptr,
        ),
        shape=(len(rows), width),
    )
    matrix.sum_duplicates()
    return matrix


def _read_uniform_dense(data: bytes | memoryview) -> Batch | None:
    """Decode a file of identically laid-out records (dense float32 features, optional float32
    scalar label) as a strided view; None when the file is not like that."""
    view = memoryview(data)
    if len(view) < 8:
        return None
    magic, length = struct.unpack_from("<II", view, 0)
    if magic != MAGIC or length & ~_LENGTH_MASK:
        return None
    stride = 8 + ((length + 3) & ~3)
    if len(view) % stride:
        return None
    layout = _dense_layout(view[8 : 8 + length])
    if layout is None:
        return None
    (f_start, f_count), label = layout
    n = len(view) // stride
    table = np.frombuffer(view, dtype=np.uint8).reshape(n, stride)
    # Every byte that is not a value (header, tags, lengths, padding) must equal the first record's.
    structure = np.ones(stride, dtype=bool)
    structure[8 + f_start : 8 + f_start + 4 * f_count] = False
    if label is not None:
        structure[8 + label : 8 + label + 4] = False
    if not (table[:, structure] == table[0, structure]).all():
        return None
    features = np.ascontiguousarray(table[:, 8 + f_start : 8 + f_start + 4 * f_count]).view("<f4")
    labels = None
    if label is not None:
        labels = np.ascontiguousarray(table[:, 8 + label : 8 + label + 4]).view("<f4").reshape(n)
    return Batch(features.astype(np.float32, copy=False), labels)


def _dense_layout(payload: memoryview) -> tuple[tuple[int, int], int | None] | None:
    """((offset, count) of the feature floats, offset of the label float or None) inside a record
    payload holding only features['values'] (packed float32) and optionally label['values'] (one
    packed float32)."""
    features = label = None
    pos = 0
    try:
        while pos < len(payload):
            tag, pos = _varint(payload, pos)
            if tag & 7 != _WIRE_LEN or tag >> 3 not in (1, 2):
                return None
            length, pos = _varint(payload, pos)
            found = _float32_values_span(payload[pos : pos + length])
            if found is None:
                return None
            start, count = found
            if tag >> 3 == 1 and features is None:
                features = (pos + start, count)
            elif tag >> 3 == 2 and label is None and count == 1:
                label = pos + start
            else:
                return None
            pos += length
    except (IndexError, RecordIOError):
        return None
    return (features, label) if features is not None else None


def _float32_values_span(entry: memoryview) -> tuple[int, int] | None:
    """(offset, count) of the packed floats in a map entry {key: 'values', value: float32_tensor}."""
    pos = 0
    tag, pos = _varint(entry, pos)
    if tag != (1 << 3 | _WIRE_LEN):
        return None
    length, pos = _varint(entry, pos)
    if bytes(entry[pos : pos + length]) != b"values":
        return None
    pos += length
    # value: Value{float32_tensor(2): Float32Tensor{values(1) packed}}
    for expected in (2 << 3 | _WIRE_LEN, 2 << 3 | _WIRE_LEN, 1 << 3 | _WIRE_LEN):
        tag, pos = _varint(entry, pos)
        if tag != expected:
            return None
        length, pos = _varint(entry, pos)
    if pos + length != len(entry) or length % 4:
        return None
    return pos, length // 4
