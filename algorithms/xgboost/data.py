"""Training data -> xgboost.DMatrix, for each content type the built-in algorithm accepts.

Every format carries the label first: CSV column 0 (no header; with csv_weights=1 column 1 is the
instance weight), LibSVM `<label>[:<weight>] [qid:<q>] <index>:<value> ...`, Parquet column 0, and
RecordIO-protobuf the `values` label. A channel may hold many files, in sub-folders too; names
starting with `.` or `_` are skipped (AWS's rule). Parsing is vectorised (pyarrow, numpy) so a
million-row channel loads in seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xgboost as xgb
from scipy import sparse

from algorithms.xgboost.channels import CSV, LIBSVM, PARQUET, RECORDIO
from algorithms.xgboost.errors import UserError


def data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))


def load(path: Path, fmt: str, csv_weights: int = 0) -> xgb.DMatrix | None:
    """The channel's data as one DMatrix, or None when the channel holds no data."""
    files = [f for f in data_files(path) if f.stat().st_size > 0]
    if not files:
        return None
    if fmt == CSV:
        features, label, weight = _split_label(read_csv(files), csv_weights)
        return xgb.DMatrix(features, label=label, weight=weight, nthread=-1)
    if fmt == LIBSVM:
        features, label, weight, qid = read_libsvm(files)
        return xgb.DMatrix(features, label=label, weight=weight, qid=qid, nthread=-1)
    if fmt == PARQUET:
        features, label, _ = _split_label(read_parquet(path), 0)
        return xgb.DMatrix(features, label=label, nthread=-1)
    if fmt == RECORDIO:
        features, label = read_recordio(files)
        return xgb.DMatrix(features, label=label, nthread=-1)
    raise UserError(f"Unsupported data format {fmt}")


def _split_label(table: np.ndarray, csv_weights: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    first_feature = 2 if csv_weights == 1 else 1
    if table.shape[1] < first_feature + 1:
        raise UserError(f"Data has {table.shape[1]} column(s): expected the label"
                        f"{' and the instance weight' if csv_weights == 1 else ''} followed by features.")
    weight = table[:, 1] if csv_weights == 1 else None
    return table[:, first_feature:], table[:, 0], weight


# --- CSV ------------------------------------------------------------------------------------------

def csv_delimiter(line: str) -> str:
    """AWS's container sniffs the delimiter from the first line of the first file."""
    try:
        return csv.Sniffer().sniff(line).delimiter
    except csv.Error as exc:
        raise UserError(f"Could not determine delimiter on line {line[:50]}:\n{exc}") from exc


def read_csv(files: list[Path]) -> np.ndarray:
    import pyarrow as pa
    from pyarrow import csv as pacsv
    with open(files[0], errors="replace") as f:
        first = f.readline()
    delimiter = csv_delimiter(first)
    # Columns typed up front (float32, what DMatrix holds): half the time of pyarrow's type inference.
    names = [f"c{i}" for i in range(len(first.rstrip("\r\n").split(delimiter)))]
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 24)
    convert = pacsv.ConvertOptions(column_types={name: pa.float32() for name in names})
    parse = pacsv.ParseOptions(delimiter=delimiter)
    try:
        tables = [_float_matrix(pacsv.read_csv(f, read_options=read, parse_options=parse, convert_options=convert))
                  for f in files]
        return tables[0] if len(tables) == 1 else np.vstack(tables)
    except Exception as exc:  # pyarrow's errors name the file, row and column
        raise UserError(f"Failed to load csv data with exception:\n{exc}") from exc


def parse_csv_payload(text: str) -> np.ndarray:
    """An inference request body: rows of features, no label, no header; empty fields are missing."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("no CSV rows")
    delimiter = csv_delimiter(lines[0])
    rows = [line.strip().split(delimiter) for line in lines]
    if len({len(row) for row in rows}) > 1:
        raise ValueError("CSV rows have different numbers of columns")
    cells = np.array(rows)
    return np.where(np.char.strip(cells) == "", "nan", cells).astype(np.float32)


def _float_matrix(table) -> np.ndarray:
    """A pyarrow table as a float32 matrix; empty fields are missing values (NaN)."""
    import pyarrow as pa
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float32)
    for i, column in enumerate(table.columns):
        out[:, i] = column.cast(pa.float32()).to_numpy(zero_copy_only=False)
    return out


# --- LibSVM ---------------------------------------------------------------------------------------

def read_libsvm(files: list[Path]) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray | None, np.ndarray | None]:
    lines: list[str] = []
    for path in files:
        with open(path, errors="replace") as f:
            lines.extend(line for line in f.read().splitlines() if line.strip() and not line.startswith("#"))
    return parse_libsvm_lines(lines, files[0].name)


def parse_libsvm_lines(lines: list[str], source: str = "payload") -> tuple[sparse.csr_matrix, np.ndarray,
                                                                           np.ndarray | None, np.ndarray | None]:
    """(features, labels, weights or None, qids or None). Column = index as written (XGBoost's rule)."""
    heads: list[str] = []
    qids: list[str] = []
    pairs: list[str] = []
    indptr = np.zeros(len(lines) + 1, dtype=np.int64)
    for row, line in enumerate(lines):
        tokens = line.split("#", 1)[0].split()
        heads.append(tokens[0])
        start = 1
        if len(tokens) > 1 and tokens[1].startswith("qid:"):
            qids.append(tokens[1][4:])
            start = 2
        pairs.extend(tokens[start:])
        indptr[row + 1] = indptr[row] + len(tokens) - start
    try:
        label_weight = [head.split(":", 1) for head in heads]
        labels = np.array([lw[0] for lw in label_weight], dtype=np.float32)
        weights = (np.array([lw[1] if len(lw) > 1 else "1" for lw in label_weight], dtype=np.float32)
                   if any(len(lw) > 1 for lw in label_weight) else None)
        flat = np.array(" ".join(pairs).replace(":", " ").split(), dtype=np.float64)
        if flat.size != 2 * len(pairs):
            raise ValueError("every feature must be <index>:<value>")
        indices, values = flat[0::2].astype(np.int64), flat[1::2].astype(np.float32)
    except ValueError as exc:
        bad = next((ln for ln in lines if not _valid_libsvm_line(ln)), lines[0] if lines else "")
        raise UserError(f"First line '{bad[:50]}...' of file '{source}' is not 'LIBSVM' format. Please ensure "
                        "the file is in 'LIBSVM' format.", caused_by=exc) from exc
    width = int(indices.max()) + 1 if indices.size else 0
    matrix = sparse.csr_matrix((values, indices, indptr), shape=(len(lines), width))
    qid = np.array(qids, dtype=np.uint32) if len(qids) == len(lines) and qids else None
    return matrix, labels, weights, qid


def _valid_libsvm_line(line: str) -> bool:
    tokens = line.split()
    try:
        [float(part) for part in tokens[0].split(":", 1)]
        for token in tokens[1:]:
            index, value = token.split(":")
            if index != "qid":
                int(index), float(value)
        return True
    except (ValueError, IndexError):
        return False


# --- Parquet and RecordIO-protobuf -----------------------------------------------------------------

def read_parquet(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq
    try:
        return _float_matrix(pq.read_table(str(path)))
    except Exception as exc:
        raise UserError(f"Failed to load parquet data with exception:\n{exc}") from exc


def read_recordio(files: list[Path]) -> tuple[np.ndarray | sparse.csr_matrix, np.ndarray]:
    from algorithms.common.recordio import read_matrix
    try:
        batches = [read_matrix(f.read_bytes()) for f in files]
    except ValueError as exc:
        raise UserError(f"Failed to load recordio-protobuf data with exception:\n{exc}") from exc
    if any(b.labels is None for b in batches):
        raise UserError("recordio-protobuf training data must carry a label ('values') in every record")
    labels = np.concatenate([b.labels for b in batches])
    if all(isinstance(b.features, np.ndarray) for b in batches):
        return np.vstack([b.features for b in batches]), labels
    width = max(b.features.shape[1] for b in batches)
    parts = [sparse.csr_matrix(b.features) for b in batches]
    parts = [p if p.shape[1] == width else sparse.csr_matrix((p.data, p.indices, p.indptr), shape=(p.shape[0], width))
             for p in parts]
    return sparse.vstack(parts, format="csr"), labels
