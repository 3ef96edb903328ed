"""The analyzer job: read the dataset, write the reports, say how it went.

Outputs, all under `output_path` (uploaded by the platform to the job's output S3 URI):
statistics.json and constraints.json always; constraint_violations.json when baseline constraints
were given. /opt/ml/output/message (the processing job's ExitMessage, from which a monitoring
execution's status is derived) reads `Completed: Job completed successfully with no violations.`
or `CompletedWithViolations: Job completed successfully with N violations.` (the real analyzer's
words, introduction notebook), or the error for a failed job. The post-analytics processor's
`postprocess_handler()` runs after a successful analysis, as in the real container.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from algorithms.model_monitor import cloudwatch, data_quality, records, violations
from algorithms.model_monitor.contract import (
    ML_ROOT,
    MODEL_QUALITY,
    AnalyzerConfig,
    AnalyzerError,
    write_json,
    write_message,
)

log = logging.getLogger("model_monitor")

STATISTICS, CONSTRAINTS, VIOLATIONS = "statistics.json", "constraints.json", "constraint_violations.json"


def completion_message(violation_count: int) -> str:
    if violation_count:
        return f"CompletedWithViolations: Job completed successfully with {violation_count} violations."
    return "Completed: Job completed successfully with no violations."


def _read_json(path: Path | None, what: str) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalyzerError(f"The {what} file {path} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise AnalyzerError(f"The {what} file {path} is not valid JSON: {exc}") from None


def _baseline_names(constraints: dict | None, statistics: dict | None) -> list[str]:
    for document in (constraints, statistics):
        names = [f.get("name") for f in (document or {}).get("features") or []]
        if names:
            return names
    return []


def analyze_data_quality(config: AnalyzerConfig, preprocess: records.Preprocessor | None) -> int:
    baseline_constraints = _read_json(config.baseline_constraints, "baseline constraints")
    baseline_statistics = _read_json(config.baseline_statistics, "baseline statistics")
    table = records.read_table(config.dataset_source, config.dataset_format, preprocess,
                               config.start_time, config.end_time)
    frame = table.frame
    if frame.shape[0] == 0:
        raise AnalyzerError(f"No records to analyze under {config.dataset_source}.")
    names = _baseline_names(baseline_constraints, baseline_statistics)
    if table.positional and names:
        # Unnamed columns (CSV without header, captured CSV payloads) take the baseline's names in
        # order; any beyond the baseline keep their placeholders and show up as extra columns.
        frame.columns = names[:frame.shape[1]] + list(frame.columns[len(names):])
    features = data_quality.profiles(frame)
    write_json(config.output_path / STATISTICS, data_quality.statistics(frame.shape[0], features))
    write_json(config.output_path / CONSTRAINTS,
               data_quality.suggest_constraints(features, config.categorical_drift_method))
    result = violations.CheckResult()
    if baseline_constraints is not None:
        result = violations.check({p.name: p for p in features}, baseline_constraints, baseline_statistics)
        write_json(config.output_path / VIOLATIONS, {"violations": result.violations})
    emit = (baseline_constraints or {}).get("monitoring_config", {}).get("emit_metrics", "Enabled")
    if config.publish_cloudwatch_metrics and str(emit).lower() != "disabled":
        cloudwatch.write(config, cloudwatch.data_quality_metrics(config, features, result.drift))
    return len(result.violations)


def analyze_model_quality(config: AnalyzerConfig, preprocess: records.Preprocessor | None) -> int:
    # Imported here: scikit-learn takes seconds to import, which data quality runs need not pay.
    from algorithms.model_monitor import model_quality

    baseline_constraints = _read_json(config.baseline_constraints, "baseline constraints")
    observations = model_quality.observations(model_quality.read_observations(config, preprocess), config)
    stats = model_quality.statistics(observations, config)
    problem = config.problem_type or ""
    write_json(config.output_path / STATISTICS, stats)
    write_json(config.output_path / CONSTRAINTS, model_quality.suggest_constraints(stats, problem))
    found: list[dict] = []
    if baseline_constraints is not None:
        found = model_quality.check(stats, baseline_constraints, problem)
        write_json(config.output_path / VIOLATIONS, {"violations": found})
    if config.publish_cloudwatch_metrics:
        section = stats[f"{model_quality.SECTION[problem]}_metrics"]
        cloudwatch.write(config, cloudwatch.model_quality_metrics(config, model_quality.scalar_values(section)))
    return len(found)


def run(config: AnalyzerConfig) -> str:
    """Analyse, write the reports and the message; returns the message. Raises AnalyzerError."""
    preprocess = (records.load_preprocessor(config.record_preprocessor_script, config.dataset_format)
                  if config.record_preprocessor_script else None)
    postprocess = (records.load_postprocessor(config.post_analytics_processor_script)
                   if config.post_analytics_processor_script else None)
    config.output_path.mkdir(parents=True, exist_ok=True)
    analyze = analyze_model_quality if config.analysis_type == MODEL_QUALITY else analyze_data_quality
    message = completion_message(analyze(config, preprocess))
    if postprocess is not None:
        log.info("Invoking customer's post-processing script...")
        postprocess()
    write_message(config.ml_root, message)
    return message


def _leader(ml_root: Path) -> bool:
    """On a multi-instance job only the first host analyses (the real container runs its Spark job
    from the first host; the others only serve it), so reports are written once."""
    try:
        resources = json.loads((ml_root / "config" / "resourceconfig.json").read_text())
    except (OSError, json.JSONDecodeError):
        return True
    hosts = resources.get("hosts") or []
    return not hosts or resources.get("current_host") == hosts[0]


def main(env: Mapping[str, str], ml_root: Path | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    started = time.monotonic()
    ml_root = ml_root or ML_ROOT
    if not _leader(ml_root):
        log.info("Not the first host of the job: nothing to do here.")
        return 0
    try:
        config = AnalyzerConfig.from_environment(env, ml_root)
        log.info("Analysis type %s, dataset %s (%s)", config.analysis_type, config.dataset_source,
                 config.dataset_format.kind)
        message = run(config)
    except Exception as exc:
        message = f"Error: {exc}" if isinstance(exc, AnalyzerError) else f"Error: {type(exc).__name__}: {exc}"
        log.error(message, exc_info=not isinstance(exc, AnalyzerError))
        write_message(ml_root, message)
        return 1
    log.info("%s (analysis took %.2f s)", message, time.monotonic() - started)
    return 0
