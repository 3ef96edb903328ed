"""Reading a dataset into a table of raw values, with the user's record pre-processor applied.

Formats (`dataset_format`): csv with or without a header, JSON (lines or a document), the data
capture layout (`sagemakerCaptureJson`, one request per line: captureData.endpointInput /
endpointOutput with encoding CSV | JSON | BASE64) and our ground-truth merger's output
(`sagemakerMergeJson`: a capture line plus a top-level `groundTruthData`).

Every value is kept as text (None when missing) so that type inference sees what the file said:
"1" is Integral, "1.0" Fractional, "a" String, as the real analyzer's Deequ profiler classifies
them. Columns that have no name in the data (CSV without header, CSV capture payloads) are named
positionally `_c0`, `_c1`, ... like Spark's CSV reader; the analyzer then gives them the
baseline's names when it has a baseline.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
import inspect
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from algorithms.model_monitor.contract import AnalyzerError, DatasetFormat

log = logging.getLogger("model_monitor")

PREPROCESSOR_FAILED = ("There is an exception raised in preprocessor script. Please double check the "
                       "preprocessor script.")  # the real analyzer's wording for a failing handler


@dataclass
class Table:
    frame: pd.DataFrame  # object dtype: str values, None for missing
    positional: bool  # column names are `_c<i>` placeholders, not names from the data


# --- files -----------------------------------------------------------------------------------------


def data_files(source: Path) -> list[Path]:
    """Every regular file under dataset_source (hour folders for capture), in path order."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise AnalyzerError(f"dataset_source {source} does not exist.")
    return sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AnalyzerError(f"{path.name} line {number} is not valid JSON: {exc}") from None


# --- the record a pre-processor sees ---------------------------------------------------------------
# Attribute names as the developer guide documents them (model-monitor-pre-and-post-processing:
# inference_record.endpoint_input.data, .event_metadata.event_id, ...); `event_data.endpointInput`
# is the older spelling the SageMaker SDK's own test pre-processor still uses.


class EventData:
    def __init__(self, data: dict[str, Any]):
        self.encoding = data.get("encoding")
        self.data = data.get("data")
        self.observedContentType = data.get("observedContentType")
        self.mode = data.get("mode")

    def as_dict(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "data": self.data, "observedContentType": self.observedContentType}


class EventMetadata:
    def __init__(self, data: dict[str, Any]):
        self.event_id = data.get("eventId")
        self.inference_id = data.get("inferenceId")
        self.event_time = data.get("inferenceTime")
        self.custom_attribute = data.get("customAttributes")


class _CaptureIndexes:
    def __init__(self, record: CapturedRecord):
        self.endpointInput = record.endpoint_input
        self.endpointOutput = record.endpoint_output
        self.batchTransformOutput = record.batch_transform_output


class CapturedRecord:
    def __init__(self, event: dict[str, Any]):
        self.event_dict = event
        capture = event.get("captureData") or {}
        self.event_metadata = EventMetadata(event["eventMetadata"]) if "eventMetadata" in event else None
        self.endpoint_input = EventData(capture["endpointInput"]) if "endpointInput" in capture else None
        self.endpoint_output = EventData(capture["endpointOutput"]) if "endpointOutput" in capture else None
        self.batch_transform_output = (EventData(capture["batchTransformOutput"])
                                       if "batchTransformOutput" in capture else None)
        self.ground_truth = EventData(event["groundTruthData"]) if "groundTruthData" in event else None
        self.event_version = event.get("eventVersion")
        self.event_data = _CaptureIndexes(self)

    def as_dict(self) -> dict[str, Any]:
        return self.event_dict

    def __str__(self) -> str:
        return str(self.event_dict)


# --- user scripts ----------------------------------------------------------------------------------


def _load_module(path: Path, name: str) -> Any:
    if not path.is_file():
        raise AnalyzerError(f"Script {path} does not exist.")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AnalyzerError(f"Cannot load script {path}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Preprocessor = Callable[[Any], Any]


def load_preprocessor(path: Path, dataset_format: DatasetFormat) -> Preprocessor:
    """`preprocess_handler(inference_record)` or `preprocess_handler(inference_record, logger)`."""
    if dataset_format.kind not in ("sagemakerCaptureJson", "sagemakerMergeJson", "csv", "json"):
        raise AnalyzerError(f"Preprocessor script not supported for format {dataset_format.kind}")
    handler = getattr(_load_module(path, "preprocessor"), "preprocess_handler", None)
    if handler is None:
        raise AnalyzerError("Preprocess Handler not implemented correctly in customer script.")
    user_log = logging.getLogger("Preprocessing")
    if "logger" in inspect.signature(handler).parameters:
        return lambda record: handler(record, user_log)
    return handler


def load_postprocessor(path: Path) -> Callable[[], Any]:
    handler = getattr(_load_module(path, "postprocessor"), "postprocess_handler", None)
    if handler is None:
        raise AnalyzerError("PostProcess Handler not implemented correctly in customer analysis script.")
    return handler


def _apply(preprocess: Preprocessor, record: Any) -> list[Any]:
    """The handler's result as rows: a dict is one row, a list several ([] skips the record)."""
    try:
        result = preprocess(record)
    except Exception as exc:
        log.error("Caught exception in preprocessor script: %s", exc)
        raise AnalyzerError(PREPROCESSOR_FAILED) from exc
    if result is None:
        return []
    return result if isinstance(result, list) else [result]


# --- values ----------------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A JSON value as the text type inference reads: numbers keep their JSON spelling."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)  # NaN is missing
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def flatten(obj: Any, prefix: str = "") -> dict[str, str | None]:
    """A JSON object as columns: nested objects joined with '.', other values as text."""
    if not isinstance(obj, dict):
        return {prefix or "_c0": text(obj)}
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = text(value)
    return out


def csv_fields(line: str) -> list[str | None]:
    fields = next(csv.reader([line]), [])
    return [f if f.strip() != "" else None for f in fields]


def decode_event_data(event: dict[str, Any]) -> tuple[str, str]:
    """(kind, text) of one captured payload: kind is 'csv' or 'json'."""
    data = event.get("data") or ""
    encoding = (event.get("encoding") or "").upper()
    content_type = (event.get("observedContentType") or "").split(";")[0].strip().lower()
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8", errors="replace")
        encoding = "JSON" if "json" in content_type else "CSV"
    return ("json" if encoding == "JSON" else "csv"), data


def payload_rows(event: dict[str, Any]) -> list[Any]:
    """One payload as rows: a list of CSV field lists, or a list of JSON values."""
    kind, data = decode_event_data(event)
    if kind == "json":
        try:
            value = json.loads(data)
        except json.JSONDecodeError as exc:
            raise AnalyzerError(f"captured JSON payload is not valid JSON: {exc}") from None
        return [value]
    lines = [line for line in data.splitlines() if line.strip()]
    return [csv_fields(line) for line in lines] or [[]]


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace(" ", ""))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- reading a dataset -----------------------------------------------------------------------------


def capture_events(files: list[Path], start_time: str | None = None,
                   end_time: str | None = None) -> Iterator[dict[str, Any]]:
    """Capture (or merged) lines inside [start_time, end_time); shadow-variant traffic skipped.

    The platform may download more hours than the window ("We sometimes download more than what
    is specified by the start and end times", byoc-contract-inputs), so the window is applied here.
    """
    start, end = _parse_time(start_time), _parse_time(end_time)
    for path in files:
        for event in json_lines(path):
            metadata = event.get("eventMetadata") or {}
            if metadata.get("invocationSource") == "ShadowExperiment":
                continue
            if start or end:
                when = _parse_time(metadata.get("inferenceTime"))
                if when is not None and ((start and when < start) or (end and when >= end)):
                    continue
            yield event


def read_table(source: Path, dataset_format: DatasetFormat, preprocess: Preprocessor | None = None,
               start_time: str | None = None, end_time: str | None = None) -> Table:
    files = data_files(source)
    kind = dataset_format.kind
    if kind == "csv":
        return _read_csv(files, dataset_format.header, preprocess)
    if kind == "json":
        return _read_json(files, dataset_format.lines, preprocess)
    if kind in ("sagemakerCaptureJson", "sagemakerMergeJson"):
        return _read_capture(capture_events(files, start_time, end_time),
                             dataset_format.capture_index_names, preprocess)
    raise AnalyzerError(f"dataset_format {kind} is not supported by the emulator's analyzer.")


def _read_csv(files: list[Path], header: bool, preprocess: Preprocessor | None) -> Table:
    if preprocess is not None:
        rows: list[Any] = []
        for path in files:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    line = line.rstrip("\r\n")
                    if line.strip():
                        rows.extend(_apply(preprocess, line))
        if header and rows and isinstance(rows[0], str):
            names = [f or f"_c{i}" for i, f in enumerate(csv_fields(rows[0]))]
            return _rows_table([_csv_row(r) for r in rows[1:]], names)
        return _rows_table([_csv_row(r) for r in rows])
    frames = []
    for path in files:
        if path.stat().st_size == 0:
            continue
        try:
            frame = pd.read_csv(path, header=0 if header else None, dtype=str, keep_default_na=False,
                                na_values=[""], skip_blank_lines=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise AnalyzerError(f"{path.name} is not a readable CSV file: {exc}") from None
        if not header:
            frame.columns = [f"_c{i}" for i in range(frame.shape[1])]
        frames.append(frame)
    if not frames:
        return Table(pd.DataFrame(), positional=not header)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.astype(object).where(frame.notna(), None)
    return Table(frame, positional=not header)


def _csv_row(row: Any) -> Any:
    return csv_fields(row) if isinstance(row, str) else row


def _read_json(files: list[Path], lines: bool, preprocess: Preprocessor | None) -> Table:
    records: list[Any] = []
    for path in files:
        if lines:
            records.extend(json_lines(path))
        else:
            try:
                document = json.loads(path.read_text(encoding="utf-8") or "[]")
            except json.JSONDecodeError as exc:
                raise AnalyzerError(f"{path.name} is not valid JSON: {exc}") from None
            records.extend(document if isinstance(document, list) else [document])
    if preprocess is not None:
        records = [row for record in records for row in _apply(preprocess, record)]
    return _rows_table(records)


def _read_capture(events: Iterator[dict[str, Any]], index_names: tuple[str, ...],
                  preprocess: Preprocessor | None) -> Table:
    if preprocess is not None:
        return _rows_table([row for event in events for row in _apply(preprocess, CapturedRecord(event))])
    # The model's outputs come first, then its inputs: a baseline file is laid out that way
    # (DatasetFormat.csv output_columns_position="START", the SDK's default), and the real analyzer
    # matched a baseline's first column (the label) against the captured output (the
    # introduction notebook's "Churn ... Only 0.0% of data is Integral" violation).
    order = [name for name in ("endpointOutput", "batchTransformOutput") if name in index_names]
    order += [name for name in index_names if name not in order]
    rows: list[Any] = []
    for event in events:
        capture = event.get("captureData") or {}
        parts = [payload_rows(capture[name]) for name in order if name in capture]
        if not parts:
            continue
        count = max(len(p) for p in parts)
        for i in range(count):
            pieces = [p[i] if i < len(p) else p[0] for p in parts]
            if all(isinstance(piece, list) for piece in pieces):
                rows.append([value for piece in pieces for value in piece])
            else:
                merged: dict[str, Any] = {}
                for piece in pieces:
                    if isinstance(piece, dict):
                        merged.update(flatten(piece))
                    else:  # CSV fields or a bare JSON value beside a JSON object: positional names
                        values = piece if isinstance(piece, list) else [piece]
                        merged.update({f"_c{len(merged) + j}": v for j, v in enumerate(values)})
                rows.append(merged)
    return _rows_table(rows)


def _rows_table(rows: list[Any], names: list[str] | None = None) -> Table:
    """Rows that are all field lists make a positional table; dict rows a named one (sorted keys,
    as Spark's JSON reader orders inferred fields; the developer guide's pre-processor example
    zero-pads its keys for exactly that reason)."""
    if not rows:
        return Table(pd.DataFrame(columns=names or []), positional=names is None)
    if all(isinstance(r, list) for r in rows):
        width = max(len(r) for r in rows)
        columns = names or [f"_c{i}" for i in range(width)]
        if len(columns) < width:
            columns = columns + [f"_c{i}" for i in range(len(columns), width)]
        data = [[text(v) if not isinstance(v, str) else (v if v != "" else None) for v in r]
                + [None] * (len(columns) - len(r)) for r in rows]
        return Table(pd.DataFrame(data, columns=columns, dtype=object), positional=names is None)
    flat = [flatten(r) if isinstance(r, dict) else {"_c0": text(r)} for r in rows]
    keys = sorted({key for row in flat for key in row})
    frame = pd.DataFrame.from_records(flat, columns=keys).astype(object)
    return Table(frame.where(frame.notna(), None), positional=False)

