"""Data helpers of AWS's XGBoost image, for script-mode training scripts.

- get_content_type("text/csv; label_size=1") -> "csv" (None -> "libsvm"; other label sizes and
  unknown types raise UserError).
- get_dmatrix(data_path, content_type, csv_weights=0, is_pipe=False) -> xgboost.DMatrix or None:
  data_path is a file, a folder (sub-folders too; names starting with "." or "_" skipped) or a list
  of those; the label is the first column (CSV, Parquet) or the LibSVM label; with csv_weights=1 the
  second CSV column is the instance weight. None when there is no data; UserError when the data has
  no labels. Pipe mode reads the FIFO `<data_path>_0` the platform creates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import xgboost as xgb

from algorithms.xgboost import channels, data
from algorithms.xgboost.errors import UserError

CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF = channels.CSV, channels.LIBSVM, channels.PARQUET, channels.RECORDIO
VALID_CONTENT_TYPES = list(channels.FORMATS)
VALID_PIPED_CONTENT_TYPES = [t for t, fmt in channels.FORMATS.items() if fmt != LIBSVM]

__all__ = [
    "CSV",
    "LIBSVM",
    "PARQUET",
    "RECORDIO_PROTOBUF",
    "UserError",
    "get_content_type",
    "get_csv_dmatrix",
    "get_dmatrix",
    "get_libsvm_dmatrix",
    "get_parquet_dmatrix",
    "get_recordio_protobuf_dmatrix",
    "get_size",
]


def get_content_type(content_type_cfg_val: str | None) -> str:
    return channels.data_format(content_type_cfg_val)


def get_dmatrix(data_path, content_type: str, csv_weights: int = 0, is_pipe: bool = False) -> xgb.DMatrix | None:
    fmt = content_type.lower()
    if fmt not in (CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF):
        fmt = get_content_type(content_type)
    paths = [Path(p) for p in (data_path if isinstance(data_path, list) else [data_path])]
    if is_pipe:
        paths = [Path(f"{p}_0") for p in paths]
    paths = [p for p in paths if p.exists()]
    if not paths:
        return None
    if len(paths) == 1:
        matrix = data.load(paths[0], fmt, csv_weights)
    else:
        with tempfile.TemporaryDirectory(prefix="sagemaker_xgboost_input_data") as merged:
            # One folder of links, so the files of every path are read as one data set (as AWS does).
            for index, path in enumerate(paths):
                for file in data.data_files(path):
                    (Path(merged) / f"{index}-{file.name}").symlink_to(file.resolve())
            matrix = data.load(Path(merged), fmt, csv_weights)
    if matrix is not None and matrix.get_label().size == 0:
        raise UserError("Got input data without labels. Please check the input data set. If training job is "
                        "running on multiple instances, please switch to using single instance if number of "
                        "records in the data set is less than number of workers (16 * number of instance) in "
                        "the cluster.")
    return matrix


def get_csv_dmatrix(path, csv_weights: int = 0, is_pipe: bool = False) -> xgb.DMatrix | None:
    return get_dmatrix(path, CSV, csv_weights, is_pipe)


def get_libsvm_dmatrix(files_path, is_pipe: bool = False) -> xgb.DMatrix | None:
    if is_pipe:
        raise UserError("Pipe mode not supported for LibSVM.")
    return get_dmatrix(files_path, LIBSVM)


def get_parquet_dmatrix(path, is_pipe: bool = False) -> xgb.DMatrix | None:
    return get_dmatrix(path, PARQUET, is_pipe=is_pipe)


def get_recordio_protobuf_dmatrix(path, is_pipe: bool = False) -> xgb.DMatrix | None:
    return get_dmatrix(path, RECORDIO_PROTOBUF, is_pipe=is_pipe)


def get_size(data_path, is_pipe: bool = False) -> int:
    """Bytes of data under data_path (1 for an existing pipe, 0 for a missing path)."""
    path = Path(data_path)
    if is_pipe and Path(f"{data_path}_0").exists():
        return 1
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    for hidden in path.rglob(".*"):
        if hidden.is_file():
            raise UserError("Hidden file found in the data path! Remove that before training.")
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

