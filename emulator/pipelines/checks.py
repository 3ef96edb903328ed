"""The QualityCheck step's baseline rules (developer guide, "Baseline calculation, drift detection and
lifecycle with ClarifyCheck and QualityCheck steps"; pipeline_definitions.md §1.4).

The step's `Arguments` are the Model Monitor analyzer's processing job as the SDK builds it; the check
fields beside them decide what that job compares against and what the step reports:

- the baseline used for the drift check is the supplied one (SuppliedBaselineStatistics/Constraints),
  else the DriftCheckBaselines of the latest approved model package in ModelPackageGroupName
  (ModelDataQuality for DATA_QUALITY, ModelQuality for MODEL_QUALITY);
- SkipCheck runs the job only to calculate a new baseline; otherwise the job gets that baseline as
  `baseline_constraints` / `baseline_statistics` and writes constraint_violations.json; unless both
  SkipCheck and RegisterNewBaseline are set, that baseline must exist;
- the step always reports the new baseline as CalculatedBaseline*, and as BaselineUsedForDriftCheck*
  when RegisterNewBaseline is true (otherwise the baseline it checked against, or would have);
- FailOnViolation fails the step when the job found violations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.core import model_registry
from emulator.core.services import Services
from emulator.pipelines.definition import CHECK_FIELDS
from emulator.pipelines.expressions import Scope, evaluate

# Where the job finds the drift-check baseline: the layout a monitoring schedule's execution gets.
BASELINE_DIR = "/opt/ml/processing/baseline"
STATISTICS_INPUT, CONSTRAINTS_INPUT = "baseline_statistics", "baseline_constraints"
REGISTRY_BASELINE = {"DATA_QUALITY": "ModelDataQuality", "MODEL_QUALITY": "ModelQuality"}


class CheckError(Exception):
    """The check cannot run as configured; the message becomes the step's FailureReason."""


@dataclass
class CheckSettings:
    check_type: str
    skip_check: bool
    register_new_baseline: bool
    fail_on_violation: bool
    group: str | None
    supplied_statistics: str | None
    supplied_constraints: str | None


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):  # a String parameter, or a Join
        return value.strip().lower() == "true"
    return bool(value)


def _text(value: Any) -> str | None:
    """A group name or a supplied baseline: a string, where "" (a parameter left at its default) means none."""
    return value if isinstance(value, str) and value and value != "None" else None


def settings(raw_step: dict[str, Any], scope: Scope) -> CheckSettings:
    """The step's check fields, evaluated (any of them may be a parameter or a step property)."""
    fields = evaluate({k: raw_step.get(k) for k in CHECK_FIELDS}, scope)
    return CheckSettings(
        check_type=str(fields.get("CheckType") or "DATA_QUALITY"),
        skip_check=_flag(fields.get("SkipCheck"), False),
        register_new_baseline=_flag(fields.get("RegisterNewBaseline"), False),
        fail_on_violation=_flag(fields.get("FailOnViolation"), True),
        group=_text(fields.get("ModelPackageGroupName")),
        supplied_statistics=_text(fields.get("SuppliedBaselineStatistics")),
        supplied_constraints=_text(fields.get("SuppliedBaselineConstraints")))


def drift_baseline(services: Services, region: str, check: CheckSettings) -> tuple[str | None, str | None]:
    """(statistics, constraints) S3 URIs of the baseline the drift check uses."""
    if check.supplied_statistics or check.supplied_constraints:
        return check.supplied_statistics, check.supplied_constraints
    group = model_registry.find_group(services, check.group, region) if check.group else None
    if group is None:
        return None, None
    approved = [p for p in model_registry.packages_in(services, group["ModelPackageGroupName"])
                if p.get("ModelApprovalStatus") == "Approved"]
    if not approved:
        return None, None
    latest = max(approved, key=lambda p: p["ModelPackageVersion"])
    baseline = ((latest.get("DriftCheckBaselines") or {}).get(REGISTRY_BASELINE.get(check.check_type, "")) or {})
    return ((baseline.get("Statistics") or {}).get("S3Uri"), (baseline.get("Constraints") or {}).get("S3Uri"))


def with_baseline(request: dict[str, Any], statistics: str | None, constraints: str) -> None:
    """Give the analyzer job the baseline to check against: each file as an input, its path in the
    environment variable the analyzer reads."""
    inputs = request.setdefault("ProcessingInputs", [])
    environment = request.setdefault("Environment", {})
    for input_name, uri, folder in ((CONSTRAINTS_INPUT, constraints, "constraints"),
                                    (STATISTICS_INPUT, statistics, "stats")):
        if not uri:
            continue
        local = f"{BASELINE_DIR}/{folder}"
        inputs.append({"InputName": input_name, "AppManaged": False, "S3Input": {
            "S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}})
        environment[input_name] = f"{local}/{uri.rstrip('/').rsplit('/', 1)[-1]}"


def start_metadata(services: Services, region: str, check: CheckSettings, request: dict[str, Any],
                   job_arn: str) -> dict[str, Any]:
    """QualityCheckStepMetadata before the job runs; with the check on, the baseline joins `request`."""
    statistics, constraints = drift_baseline(services, region, check)
    # "If it is set to False, the previous baseline of the configured check type must be available"
    # (QualityCheckStepMetadata, SkipCheck and RegisterNewBaseline).
    if not constraints and not (check.skip_check and check.register_new_baseline):
        raise CheckError(
            f"ClientError: No previous baseline of check type {check.check_type} is available: supply "
            "SuppliedBaselineConstraints, or register an approved model package with DriftCheckBaselines in "
            "the model package group; a first run sets SkipCheck and RegisterNewBaseline.")
    if not check.skip_check:
        with_baseline(request, statistics, constraints)
    metadata = {"CheckType": check.check_type, "SkipCheck": check.skip_check,
                "RegisterNewBaseline": check.register_new_baseline, "CheckJobArn": job_arn,
                "BaselineUsedForDriftCheckStatistics": statistics,
                "BaselineUsedForDriftCheckConstraints": constraints,
                "ModelPackageGroupName": check.group}
    return {k: v for k, v in metadata.items() if v is not None}


def output_uri(job: dict[str, Any]) -> str:
    """Where the analyzer's reports went: the output whose LocalPath is its `output_path`."""
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    local = (job.get("Environment") or {}).get("output_path")
    chosen = next((o for o in outputs if (o.get("S3Output") or {}).get("LocalPath") == local),
                  outputs[0] if outputs else {})
    return ((chosen.get("S3Output") or {}).get("S3Uri") or "").rstrip("/")


def found_violations(job: dict[str, Any]) -> bool:
    """The analyzer's exit message (`CompletedWithViolations: ...`) says whether the check found any."""
    return (job.get("ExitMessage") or "").startswith("CompletedWithViolations")


def finished(metadata: dict[str, Any], job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(metadata, properties, violated) once the job completed."""
    metadata = dict(metadata)
    output = output_uri(job)
    metadata["CalculatedBaselineStatistics"] = f"{output}/statistics.json"
    metadata["CalculatedBaselineConstraints"] = f"{output}/constraints.json"
    if metadata.get("RegisterNewBaseline"):
        metadata["BaselineUsedForDriftCheckStatistics"] = metadata["CalculatedBaselineStatistics"]
        metadata["BaselineUsedForDriftCheckConstraints"] = metadata["CalculatedBaselineConstraints"]
    violated = not metadata.get("SkipCheck") and found_violations(job)
    if violated:
        metadata["ViolationReport"] = f"{output}/constraint_violations.json"
    properties = {k: metadata[k] for k in ("CalculatedBaselineStatistics", "CalculatedBaselineConstraints",
                                           "BaselineUsedForDriftCheckStatistics",
                                           "BaselineUsedForDriftCheckConstraints") if k in metadata}
    return metadata, properties, violated
