"""Batch transform's DataProcessing (developer guide, batch-transform-data-processing.md): InputFilter on
each input record, JoinSource=Input, OutputFilter on each joined record, and batch capture's inference ids.

A CSV record is a row read as a JSON array (RFC 4180); a JSON record is the parsed document. The JSONPath
subset SageMaker supports: `$`, `.name`, `*`, `['a','b']`, `[i,j]` (negative indexes from the end) and
`[start:end]`, where the DG says twice that the end is *inclusive* (`$[1:4]` is the second through fifth
columns; `[:5]` the first through sixth), which this follows. An index or name that is not there is an
error for the record's object.

Joining (DG "Example: Output Input Data and Inferences"): CSV appends the output's columns to the input
row; a JSON object gains `SageMakerOutput`; any other JSON input becomes
{"SageMakerInput": input, "SageMakerOutput": output}.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

CSV_TYPES = ("text/csv",)


class FilterError(ValueError):
    pass


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_csv(content_type: str | None) -> bool:
    return base_type(content_type) in CSV_TYPES


# --- JSONPath subset ------------------------------------------------------------------------------------

_STEP = re.compile(r"\.(\*|[A-Za-z_][\w-]*)|\[(.*?)\]")


def _steps(path: str) -> list[tuple[str, Any]]:
    if not path.startswith("$"):
        raise FilterError(f"JSONPath {path!r} must start with $")
    steps, rest = [], path[1:]
    while rest:
        match = _STEP.match(rest)
        if match is None:
            raise FilterError(f"JSONPath {path!r}: cannot read {rest!r}")
        rest = rest[match.end():]
        if match.group(1) is not None:
            steps.append(("all", None) if match.group(1) == "*" else ("names", [match.group(1)]))
            continue
        inner = match.group(2).strip()
        if inner == "*":
            steps.append(("all", None))
        elif inner.startswith(("'", '"')):
            steps.append(("names", [p.strip().strip("'\"") for p in inner.split(",")]))
        elif ":" in inner:
            start, _, end = inner.partition(":")
            steps.append(("slice", (int(start) if start.strip() else None, int(end) if end.strip() else None)))
        else:
            try:
                steps.append(("indexes", [int(p) for p in inner.split(",")]))
            except ValueError:
                raise FilterError(f"JSONPath {path!r}: bad index [{inner}]") from None
    return steps


def _index(value: list, i: int) -> Any:
    if not -len(value) <= i < len(value):
        raise FilterError(f"index {i} is out of range for a record of {len(value)} columns")
    return value[i]


def select(path: str | None, value: Any) -> Any:
    """`value` filtered by `path` ($ or empty: unchanged)."""
    if not path or path == "$":
        return value
    for kind, arg in _steps(path):
        if kind == "names":
            if not isinstance(value, dict):
                raise FilterError(f"cannot select {arg} from a {type(value).__name__}")
            missing = [n for n in arg if n not in value]
            if missing and len(arg) == 1:
                raise FilterError(f"the record has no attribute {missing[0]!r}")
            value = value[arg[0]] if len(arg) == 1 else {n: value[n] for n in arg if n in value}
        elif kind == "indexes":
            if not isinstance(value, list):
                raise FilterError(f"cannot index a {type(value).__name__}")
            value = _index(value, arg[0]) if len(arg) == 1 else [_index(value, i) for i in arg]
        elif kind == "slice":
            if not isinstance(value, list):
                raise FilterError(f"cannot slice a {type(value).__name__}")
            start = 0 if arg[0] is None else arg[0] + (len(value) if arg[0] < 0 else 0)
            end = len(value) - 1 if arg[1] is None else arg[1] + (len(value) if arg[1] < 0 else 0)
            if start < 0 or start >= len(value) or end < 0:
                raise FilterError(f"slice [{arg[0]}:{arg[1]}] is out of range for a record of {len(value)} columns")
            value = value[start:end + 1]  # end-inclusive, as the developer guide defines it
        else:
            value = list(value.values()) if isinstance(value, dict) else list(value)
    return value


# --- records ----------------------------------------------------------------------------------------------------

def parse(record: bytes, content_type: str) -> Any:
    text = record.decode("utf-8").rstrip("\r\n")
    if is_csv(content_type):
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) != 1:
            raise FilterError("a CSV record must be one line (embedded newlines are not supported)")
        return rows[0]
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FilterError(f"the record is not JSON: {exc}") from None


def render(value: Any, content_type: str) -> bytes:
    if is_csv(content_type):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="")
        writer.writerow(value if isinstance(value, list) else [value])
        return buffer.getvalue().encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def filter_input(record: bytes, content_type: str, path: str | None) -> bytes:
    """A record as the model gets it after InputFilter (its line ending kept)."""
    if not path or path == "$":
        return record
    ending = record[len(record.rstrip(b"\r\n")):]
    return render(select(path, parse(record, content_type)), content_type) + ending


def join_and_filter(record: bytes, input_type: str, output: bytes, output_type: str, join: bool,
                    path: str | None, inference: tuple[str, str] | None = None) -> bytes:
    """One output record: joined with its input when asked, OutputFilter applied, and with batch capture's
    inference id and time appended (CSV: two more columns; JSON: SageMakerInferenceId/Time)."""
    csv_output = is_csv(output_type) or (join and is_csv(input_type))
    result = parse(output, output_type)
    if join:
        source = parse(record, input_type)
        if is_csv(input_type):
            result = source + (result if isinstance(result, list) else [result])
        elif isinstance(source, dict):
            result = {**source, "SageMakerOutput": result}
        else:
            result = {"SageMakerInput": source, "SageMakerOutput": result}
    result = select(path, result)
    if inference is not None:
        if csv_output:
            result = (result if isinstance(result, list) else [result]) + list(inference)
        elif isinstance(result, dict):
            result = {**result, "SageMakerInferenceId": inference[0], "SageMakerInferenceTime": inference[1]}
    return render(result, "text/csv" if csv_output else "application/json")
