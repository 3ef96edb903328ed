"""Reading a training channel (CSV or RecordIO-protobuf files) into one feature matrix + labels.

CSV follows the first-party algorithms' convention: no header, the label in the first column
(`label_size` columns for `text/csv;label_size=n`). RecordIO-protobuf is what `record_set()` uploads
(and `write_spmatrix_to_sparse_tensor` for sparse data); a channel without ContentType is protobuf,
as the SDK sends RecordSet channels without one.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from algorithms.common import recordio
from algorithms.common.environment import Channel
from algorithms.common.errors import DataError
from algorithms.common.recordio import Batch

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """('text/csv', {'label_size': '1'}) from 'text/csv; label_size=1'."""
    if not value:
        return RECORDIO, {}
    base, *params = [part.strip() for part in value.split(";")]
    options = {}
    for param in params:
        key, _, val = param.partition("=")
        if key:
            options[key.strip().lower()] = val.strip()
    return base.lower(), options


def read_channel(channel: Channel, accepted: tuple[str, ...] = (RECORDIO, CSV), label_size: int = 1) -> Batch:
    content_type, options = parse_content_type(channel.content_type)
    if content_type == "application/x-recordio":
        content_type = RECORDIO
    if content_type not in accepted:
        raise DataError(
            f"Content-type {channel.content_type} is not supported for channel '{channel.name}'. "
            f"Supported content-types: {', '.join(accepted)}"
        )
    if channel.input_mode == "Pipe":
        raise DataError(f"Pipe mode is not supported by this emulator (channel '{channel.name}')")
    files = data_files(channel.path)
    if not files:
        raise DataError(f"No data files found in channel '{channel.name}' ({channel.path})")
    batches = []
    for path in files:
        data = path.read_bytes()
        if not data.strip():
            continue
        try:
            if content_type == CSV:
                size = int(options.get("label_size", label_size))
                batches.append(read_csv(data, size))
            else:
                batches.append(recordio.read_matrix(data))
        except (ValueError, recordio.RecordIOError) as exc:
            kind = "CSV" if content_type == CSV else "RecordIO-protobuf"
            raise DataError(
                f"Unable to read {kind} data file {path.name} of channel '{channel.name}': {exc}"
            ) from exc
    if not batches:
        raise DataError(f"Channel '{channel.name}' contains no records")
    return concatenate(batches)


def data_files(directory: Path) -> list[Path]:
    """Every data file in a channel, in order; dot files (e.g. .amazon.manifest) are not data."""
    if not directory.exists():
        return []
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def read_csv(data: bytes, label_size: int = 1) -> Batch:
    text = data.decode("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no rows")
    columns = lines[0].count(",") + 1
    # One C-level parse of the whole file; on anything irregular, loadtxt parses again and names
    # the offending row.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = np.fromstring(",".join(lines), dtype=np.float64, sep=",")
    if flat.size != len(lines) * columns:
        table = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=",", dtype=np.float64, ndmin=2)
    else:
        table = flat.reshape(len(lines), columns)
    if label_size == 0:
        return Batch(table.astype(np.float32), None)
    if table.shape[1] <= label_size:
        raise ValueError(
            f"rows have {table.shape[1]} columns; expected {label_size} label column(s) and features"
        )
    labels = table[:, 0] if label_size == 1 else table[:, :label_size]
    return Batch(np.ascontiguousarray(table[:, label_size:], dtype=np.float32), labels.astype(np.float32))


def concatenate(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    from scipy import sparse

    has_labels = {b.labels is not None for b in batches}
    if len(has_labels) > 1:
        raise DataError("Some data files have labels and others do not")
    widths = {b.features.shape[1] for b in batches}
    if any(sparse.issparse(b.features) for b in batches):
        width = max(widths)
        parts = [sparse.csr_matrix(b.features, dtype=np.float32) for b in batches]
        parts = [
            p
            if p.shape[1] == width
            else sparse.csr_matrix((p.data, p.indices, p.indptr), shape=(p.shape[0], width))
            for p in parts
        ]
        features = sparse.vstack(parts, format="csr")
    else:
        if len(widths) > 1:
            raise DataError(f"Data files have different numbers of features: {sorted(widths)}")
        features = np.concatenate([b.features for b in batches])
    labels = np.concatenate([b.labels for b in batches]) if batches[0].labels is not None else None
    return Batch(features, labels)


def check_feature_dim(features, feature_dim: int | str | None, channel: str) -> None:
    """The hyperparameter must match the data (sparse data may use fewer columns than declared)."""
    if feature_dim in (None, "auto"):
        return
    from scipy import sparse

    width = features.shape[1]
    if width == feature_dim or (sparse.issparse(features) and width <= feature_dim):
        return
    raise DataError(
        f"The feature_dim hyperparameter ({feature_dim}) does not match the number of features "
        f"({width}) of the data in channel '{channel}'"
    )


def as_width(features, width: int):
    """Sparse matrices padded (or trimmed) to the model's feature_dim."""
    from scipy import sparse

    if sparse.issparse(features) and features.shape[1] != width:
        features = sparse.csr_matrix(features)
        if features.shape[1] < width:
            return sparse.csr_matrix(
                (features.data, features.indices, features.indptr), shape=(features.shape[0], width)
            )
        return features[:, :width]
    return features
