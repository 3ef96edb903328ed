"""The ground-truth merger job (image `sagemaker-model-monitor-groundtruth-merger`).

A model quality monitoring execution is two processing jobs (the model quality notebook:
"executions consist of two Processing jobs"): `groundtruth-merge-<time>-<id>` on this image, then
`model-quality-monitoring-<time>-<id>` on the analyzer with
`dataset_format={"sagemakerMergeJson": {"captureIndexNames": ["endpointOutput"]}}` reading what this
job wrote. Its environment, as seen in a real run's request: `dataset_source`
(/opt/ml/processing/input_data, capture hour folders `<endpoint>/<variant>/yyyy/mm/dd/hh`),
`ground_truth_source` (/opt/ml/processing/groundtruth, the uploaded label hours) and `output_path`.

Join rule (developer guide model-monitor-model-quality-merge): a ground-truth record's
`eventMetadata.eventId` is matched with the captured record's `inferenceId` when the capture has
one, else with its `eventId`. Each capture file's matched records are written, with the label added
as a top-level `groundTruthData` (the member the pre-processor's record class reads ground truth
from), to the same relative path under `output_path`, so the analyzer sees the same hour folders.
A label uploaded twice for one id: the last file (in path order) wins.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from algorithms.model_monitor import records
from algorithms.model_monitor.contract import DEFAULT_OUTPUT_PATH, AnalyzerError

log = logging.getLogger("model_monitor")


def ground_truth(source: Path) -> dict[str, dict]:
    labels: dict[str, dict] = {}
    for path in records.data_files(source):
        for record in records.json_lines(path):
            event_id = (record.get("eventMetadata") or {}).get("eventId")
            if event_id is not None and "groundTruthData" in record:
                labels[str(event_id)] = record["groundTruthData"]
    return labels


def merge(dataset_source: Path, ground_truth_source: Path, output_path: Path) -> tuple[int, int]:
    """Write the joined records; returns (captured records read, records merged)."""
    labels = ground_truth(ground_truth_source)
    seen = merged = 0
    for path in records.data_files(dataset_source):
        out: list[str] = []
        for event in records.json_lines(path):
            seen += 1
            metadata = event.get("eventMetadata") or {}
            key = metadata.get("inferenceId") or metadata.get("eventId")
            if key is not None and str(key) in labels:
                out.append(json.dumps({**event, "groundTruthData": labels[str(key)]}, separators=(",", ":")))
        if out:
            target = output_path / (path.relative_to(dataset_source) if dataset_source.is_dir() else path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(out) + "\n", encoding="utf-8")
            merged += len(out)
    return seen, merged


def main(env: Mapping[str, str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    try:
        source, truth = env.get("dataset_source"), env.get("ground_truth_source")
        if not source or not truth:
            raise AnalyzerError("Environment variables dataset_source and ground_truth_source are required.")
        seen, merged = merge(Path(source), Path(truth), Path(env.get("output_path") or DEFAULT_OUTPUT_PATH))
    except AnalyzerError as exc:
        log.error("Error: %s", exc)
        return 1
    log.info("Merged %d of %d captured records with ground truth.", merged, seen)
    return 0
