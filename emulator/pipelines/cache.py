"""Step caching as SageMaker Pipelines keys it (pipeline_definitions.md §4.6): per step type, a hash
of the resolved key attributes; candidates are successful earlier runs of the same step name in the
same pipeline, younger than ExpireAfter; the most recent wins."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

KEY_ATTRIBUTES = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
                 "Environment", "HyperParameters", "InputDataConfig"),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
    "AutoML": ("AutoMLJobConfig", "AutoMLJobObjective", "InputDataConfig", "ProblemType"),
    "EMR": ("ClusterId", "StepConfig"),
    # the analyzer job's request and the evaluated check fields (QualityCheckStep.cache_material)
    "QualityCheck": ("AppSpecification", "Environment", "ProcessingInputs", "Check"),
    "Callback": None,  # the whole resolved payload
    "Lambda": None,
}

_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400}
_TIME_UNITS = {"H": 3600, "M": 60, "S": 1}


def parse_duration(text: str) -> float:
    """Lenient ISO 8601 durations as seen in the wild: P30D, p30d, PT1H, P4DT12H, T12H, 30d, 30dT5h."""
    value = (text or "").strip().upper()
    value = value.removeprefix("P")
    date_part, _, time_part = value.partition("T")
    seconds = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)([YMWD])", date_part):
        seconds += float(amount) * _UNITS[unit]
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)([HMS])", time_part):
        seconds += float(amount) * _TIME_UNITS[unit]
    return seconds


def cache_key(step_type: str, resolved: dict[str, Any]) -> str | None:
    if step_type not in KEY_ATTRIBUTES:
        return None
    attributes = KEY_ATTRIBUTES[step_type]
    material = resolved if attributes is None else {k: resolved.get(k) for k in attributes}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def enabled(raw_step: dict[str, Any]) -> tuple[bool, float]:
    config = raw_step.get("CacheConfig") or {}
    if not config.get("Enabled"):
        return False, 0.0
    return True, parse_duration(config.get("ExpireAfter") or "") or float("inf")


def find_hit(executions: list[dict[str, Any]], current_arn: str, step_name: str, key: str,
             max_age: float) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(source execution, its step state) of the most recent usable run, if any."""
    best = None
    now = time.time()
    for execution in executions:
        if execution["PipelineExecutionArn"] == current_arn:
            continue
        state = (execution.get("_steps") or {}).get(step_name)
        if not state or state.get("StepStatus") != "Succeeded" or state.get("_cache_key") != key:
            continue
        ended = state.get("EndTime") or 0
        if now - ended > max_age:
            continue
        if best is None or ended > best[1].get("EndTime", 0):
            best = (execution, state)
    return best
