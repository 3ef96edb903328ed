"""Channels and content types of the built-in XGBoost algorithm (container_contracts.md §5.1).

`train` is required, `validation` optional, `code` tolerated (the script-mode toggle); anything else
fails the job. A channel without ContentType is LibSVM. Content types are matched case-insensitively
with their parameters (`text/csv; label_size=1`) set aside, and the validation channel is read in
the train channel's format, as AWS's container does.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from algorithms.common.environment import Channel
from algorithms.xgboost.errors import UserError

CSV, LIBSVM, PARQUET, RECORDIO = "csv", "libsvm", "parquet", "recordio-protobuf"
FORMATS = {"csv": CSV, "text/csv": CSV,
           "libsvm": LIBSVM, "text/libsvm": LIBSVM, "text/x-libsvm": LIBSVM,
           "parquet": PARQUET, "application/x-parquet": PARQUET,
           "recordio-protobuf": RECORDIO, "application/x-recordio-protobuf": RECORDIO}
DEFAULT_CONTENT_TYPE = "text/libsvm"
CHANNELS = {"train": True, "validation": False, "code": False}  # name -> required
INPUT_MODES = {"File": tuple(set(FORMATS.values())), "FastFile": tuple(set(FORMATS.values())),
               "Pipe": (CSV, PARQUET, RECORDIO)}


@dataclass(frozen=True)
class DataChannel:
    name: str
    path: Path
    format: str


def split_content_type(value: str) -> tuple[str, dict[str, str]]:
    """`text/csv; label_size=1` -> ("text/csv", {"label_size": "1"})."""
    message = Message()
    message["content-type"] = value
    params = dict(message.get_params()[1:]) if message.get_params() else {}
    return value.split(";", 1)[0].strip().lower(), {k.lower(): v for k, v in params.items()}


def data_format(content_type: str | None) -> str:
    """csv | libsvm | parquet | recordio-protobuf, or the UserError AWS's container raises."""
    if content_type is None:
        return LIBSVM
    media_type, params = split_content_type(content_type)
    fmt = FORMATS.get(media_type)
    if fmt is None:
        raise UserError(f"{content_type} is not an accepted ContentType: {', '.join(FORMATS)}.")
    if fmt == CSV and params.get("label_size", "1") != "1":
        raise UserError(f"{content_type} is not an accepted csv ContentType. "
                        "Optional parameter label_size must be equal to 1")
    return fmt


def validate(channels: dict[str, Channel]) -> dict[str, DataChannel]:
    """The data channels (train, validation) checked like AWS's container checks inputdataconfig.json."""
    for name, required in CHANNELS.items():
        if required and name not in channels:
            raise UserError(f"Missing required channel: {name}")
    for name in channels:
        if name not in CHANNELS:
            raise UserError(f"Extraneous channel found: {name}")
    data: dict[str, DataChannel] = {}
    for name in ("train", "validation"):
        channel = channels.get(name)
        if channel is None:
            continue
        fmt = data_format(channel.content_type)
        if fmt not in INPUT_MODES.get(channel.input_mode, ()) or channel.distribution not in (
                "FullyReplicated", "ShardedByS3Key"):
            config = {"ContentType": channel.content_type or DEFAULT_CONTENT_TYPE,
                      "TrainingInputMode": channel.input_mode, "S3DistributionType": channel.distribution}
            raise UserError(f"Channel configuration for '{name}' channel is not supported: {config}")
        data[name] = DataChannel(name, channel.path, fmt)
    if "validation" in data:
        # AWS reads validation data in the train channel's format.
        data["validation"] = DataChannel("validation", data["validation"].path, data["train"].format)
    return data
