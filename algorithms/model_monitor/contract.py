"""What the analyzer container is given: environment variables and /opt/ml paths.

Names as the SageMaker Python SDK sets them (`sagemaker/model_monitor/model_monitoring.py`,
`_generate_env_map`: dataset_format, dataset_source, output_path, record_preprocessor_script,
post_analytics_processor_script, publish_cloudwatch_metrics, analysis_type, problem_type,
inference_attribute, probability_attribute, ground_truth_attribute,
probability_threshold_attribute, categorical_drift_method) and as the platform adds them for a
scheduled run (developer guide, model-monitor-byoc-contract-inputs: sagemaker_endpoint_name,
sagemaker_monitoring_schedule_name, start_time, end_time, baseline_constraints,
baseline_statistics; metric_time seen in a real model-quality run's request). `positive_label` is
a member of the real analyzer's input object; we read it from the environment too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ML_ROOT = Path("/opt/ml")
DEFAULT_OUTPUT_PATH = "/opt/ml/processing/output"

DATA_QUALITY = "DATA_QUALITY"
MODEL_QUALITY = "MODEL_QUALITY"
PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
DATASET_FORMATS = ("csv", "json", "sagemakerCaptureJson", "sagemakerMergeJson", "parquet")


class AnalyzerError(Exception):
    """A problem with the job's input or configuration; its text becomes the job's exit message."""


@dataclass(frozen=True)
class DatasetFormat:
    kind: str  # one of DATASET_FORMATS
    header: bool = False  # csv
    output_columns_position: str = "START"  # csv: where a baseline file keeps the model's outputs
    lines: bool = True  # json
    capture_index_names: tuple[str, ...] = ("endpointInput", "endpointOutput")  # capture/merge

    @classmethod
    def parse(cls, text: str | None) -> DatasetFormat:
        """`{"csv": {"header": true}}`, `{"json": {"lines": true}}`, `{"sagemakerCaptureJson": {...}}`.

        The SDK's DatasetFormat builds the first forms; the schedule's batch-transform form
        (`{"csv": {"header": ["true","false"]}}`, `{"json": {"line": ...}}`) is accepted too.
        """
        if not text:
            raise AnalyzerError("Environment variable dataset_format is required.")
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnalyzerError(f"dataset_format is not valid JSON: {exc}") from None
        keys = [k for k in spec if k != "compression"] if isinstance(spec, dict) else []
        if len(keys) != 1 or keys[0] not in DATASET_FORMATS:
            raise AnalyzerError(f"Unsupported dataset_format {text}; expected one of {', '.join(DATASET_FORMATS)}.")
        kind, options = keys[0], spec[keys[0]] or {}
        if kind == "parquet":
            return cls(kind)
        if kind == "csv":
            position = str(options.get("output_columns_position", "START")).upper()
            if position not in ("START", "END"):
                raise AnalyzerError("Invalid value for output_columns_position")
            return cls(kind, header=_flag(options.get("header", False)), output_columns_position=position)
        if kind == "json":
            return cls(kind, lines=_flag(options.get("lines", options.get("line", True))))
        names = options.get("captureIndexNames") or ["endpointInput", "endpointOutput"]
        return cls(kind, capture_index_names=tuple(names))


def _flag(value: object) -> bool:
    if isinstance(value, list):  # the BYOC doc's `["true","false"]` placeholder
        value = value[0] if value else False
    return str(value).strip().lower() == "true"


@dataclass(frozen=True)
class AnalyzerConfig:
    dataset_format: DatasetFormat
    dataset_source: Path
    output_path: Path
    analysis_type: str = DATA_QUALITY
    problem_type: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None
    ground_truth_attribute: str | None = None
    positive_label: str | None = None
    record_preprocessor_script: Path | None = None
    post_analytics_processor_script: Path | None = None
    baseline_constraints: Path | None = None
    baseline_statistics: Path | None = None
    categorical_drift_method: str | None = None
    publish_cloudwatch_metrics: bool = False
    endpoint_name: str | None = None
    monitoring_schedule_name: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    metric_time: str | None = None
    ml_root: Path = field(default=ML_ROOT)

    @classmethod
    def from_environment(cls, env: Mapping[str, str], ml_root: Path = ML_ROOT) -> AnalyzerConfig:
        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        analysis_type = (env.get("analysis_type") or DATA_QUALITY).upper()
        if analysis_type not in (DATA_QUALITY, MODEL_QUALITY):
            raise AnalyzerError(f"Unsupported analysis_type {analysis_type}; expected DATA_QUALITY or MODEL_QUALITY.")
        problem_type = env.get("problem_type") or None
        if analysis_type == MODEL_QUALITY and problem_type not in PROBLEM_TYPES:
            raise AnalyzerError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)} for model quality "
                                f"analysis; got {problem_type!r}.")
        threshold = env.get("probability_threshold_attribute")
        try:
            probability_threshold = float(threshold) if threshold not in (None, "") else None
        except ValueError:
            raise AnalyzerError(f"probability_threshold_attribute must be a number; got {threshold!r}.") from None
        source = env.get("dataset_source")
        if not source:
            raise AnalyzerError("Environment variable dataset_source is required.")
        return cls(
            dataset_format=DatasetFormat.parse(env.get("dataset_format")),
            dataset_source=Path(source),
            output_path=Path(env.get("output_path") or DEFAULT_OUTPUT_PATH),
            analysis_type=analysis_type,
            problem_type=problem_type,
            inference_attribute=env.get("inference_attribute") or None,
            probability_attribute=env.get("probability_attribute") or None,
            probability_threshold=probability_threshold,
            ground_truth_attribute=env.get("ground_truth_attribute") or None,
            positive_label=env.get("positive_label") or None,
            record_preprocessor_script=path("record_preprocessor_script"),
            post_analytics_processor_script=path("post_analytics_processor_script"),
            baseline_constraints=path("baseline_constraints"),
            baseline_statistics=path("baseline_statistics"),
            categorical_drift_method=env.get("categorical_drift_method") or None,
            publish_cloudwatch_metrics=(env.get("publish_cloudwatch_metrics") or "").lower() == "enabled",
            endpoint_name=env.get("sagemaker_endpoint_name") or None,
            monitoring_schedule_name=env.get("sagemaker_monitoring_schedule_name") or None,
            start_time=env.get("start_time") or None,
            end_time=env.get("end_time") or None,
            metric_time=env.get("metric_time") or None,
            ml_root=ml_root,
        )

    @property
    def cloudwatch_metrics_dir(self) -> Path:
        return self.ml_root / "output" / "metrics" / "cloudwatch"


def write_json(path: Path, body: object) -> None:
    """Pretty-printed like the real analyzer's reports. Written in place, not via a temporary
    file: with S3UploadMode Continuous the platform would upload the temporary file too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n")


def write_message(ml_root: Path, text: str) -> None:
    """/opt/ml/output/message: its first KB becomes DescribeProcessingJob.ExitMessage."""
    target = ml_root / "output" / "message"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text[:1024])
