"""Data quality checks of the current dataset against a baseline: constraint_violations.json.

Check types and their meaning: developer guide model-monitor-interpreting-violations. Thresholds
come from constraints.json's `monitoring_config`, overridden per feature by
`monitoring_config_overrides` (the SageMaker SDK's spelling; the schema page's
`monitoringConfigOverrides` is read too). The data_type_check description is the real
analyzer's wording (introduction notebook: "Data type match requirement is not met. Expected
data type: Integral, Expected match: 100.0%. Observed: Only 99.64592817400101% of data is
Integral."); the other descriptions follow the same pattern (their exact AWS wording is not
published).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from algorithms.model_monitor import drift
from algorithms.model_monitor.data_quality import DEFAULT_MONITORING_CONFIG, FRACTIONAL, INTEGRAL, FeatureProfile
from algorithms.model_monitor.sketch import rank_function


@dataclass
class CheckResult:
    violations: list[dict] = field(default_factory=list)
    drift: dict[str, float] = field(default_factory=dict)  # feature -> distance (or p-value)

    def add(self, feature: str, check: str, description: str) -> None:
        self.violations.append({"feature_name": feature, "constraint_check_type": check, "description": description})


def _percent(share: float) -> str:
    return repr(share * 100.0)


def _config(global_config: dict, feature: dict) -> dict:
    overrides = feature.get("monitoring_config_overrides") or feature.get("monitoringConfigOverrides") or {}
    merged = {**DEFAULT_MONITORING_CONFIG, **global_config, **overrides}
    merged["distribution_constraints"] = {**DEFAULT_MONITORING_CONFIG["distribution_constraints"],
                                          **(global_config.get("distribution_constraints") or {}),
                                          **(overrides.get("distribution_constraints") or {})}
    return merged


def _enabled(value: object) -> bool:
    return str(value).lower() not in ("disabled", "false")


def check(current: dict[str, FeatureProfile], constraints: dict, statistics: dict | None) -> CheckResult:
    result = CheckResult()
    global_config = constraints.get("monitoring_config") or {}
    baseline_features = constraints.get("features") or []
    baseline_stats = {f.get("name"): f for f in (statistics or {}).get("features") or []}
    if not _enabled(global_config.get("evaluate_constraints", "Enabled")):
        return result
    known = {f.get("name") for f in baseline_features}
    for feature in baseline_features:
        name = feature.get("name")
        config = _config(global_config, feature)
        if not _enabled(config.get("evaluate_constraints", "Enabled")):
            continue
        p = current.get(name)
        if p is None:
            result.add(name, "missing_column_check",
                       f"There are missing columns in current dataset. Number of columns in current dataset: "
                       f"{len(current)}, Number of columns in baseline constraints: {len(baseline_features)}")
            continue
        _check_type(result, p, feature, config)
        _check_completeness(result, p, feature)
        _check_domain(result, p, feature, config)
        if name in baseline_stats:
            _check_drift(result, p, baseline_stats[name], config)
    for name in current:
        if name not in known:
            result.add(name, "extra_column_check",
                       f"There are extra columns in current dataset. Number of columns in current dataset: "
                       f"{len(current)}, Number of columns in baseline constraints: {len(baseline_features)}")
    return result


def _check_type(result: CheckResult, p: FeatureProfile, feature: dict, config: dict) -> None:
    expected = feature.get("inferred_type")
    if expected not in (INTEGRAL, FRACTIONAL) or not p.num_present:
        return  # any value is a valid String; Unknown expects nothing
    threshold = float(config.get("datatype_check_threshold", 1.0))
    share = p.share_of_type(expected)
    if share < threshold:
        result.add(p.name, "data_type_check",
                   f"Data type match requirement is not met. Expected data type: {expected}, Expected match: "
                   f"{_percent(threshold)}%. Observed: Only {_percent(share)}% of data is {expected}.")


def _check_completeness(result: CheckResult, p: FeatureProfile, feature: dict) -> None:
    expected = feature.get("completeness")
    if expected is None or not len(p.column):
        return
    if p.completeness < float(expected):
        result.add(p.name, "completeness_check",
                   f"Data completeness requirement is not met. Expected completeness: {_percent(float(expected))}%. "
                   f"Observed: Only {_percent(p.completeness)}% of data is present.")


def _check_domain(result: CheckResult, p: FeatureProfile, feature: dict, config: dict) -> None:
    domains = (feature.get("string_constraints") or {}).get("domains")
    if not domains or not p.num_present:
        return
    allowed = set(map(str, domains))
    in_domain = sum(int(count) for value, count in p.value_counts.items() if str(value) in allowed)
    share = in_domain / p.num_present
    threshold = float(config.get("domain_content_threshold", 1.0))
    if share < threshold:
        result.add(p.name, "categorical_values_check",
                   f"Data content requirement is not met. Expected: {_percent(threshold)}% of values within the "
                   f"baseline domain. Observed: Only {_percent(share)}% of data is within the domain.")


def _check_drift(result: CheckResult, p: FeatureProfile, baseline: dict, config: dict) -> None:
    constraints = config["distribution_constraints"]
    if not _enabled(constraints.get("perform_comparison", "Enabled")):
        return
    method = constraints.get("comparison_method", "Robust")
    threshold = float(constraints.get("comparison_threshold", 0.1))
    numeric = baseline.get("numerical_statistics")
    if numeric is not None:
        kll = ((numeric.get("distribution") or {}).get("kll") or {}).get("sketch")
        if kll is None or p.inferred_type not in (INTEGRAL, FRACTIONAL):
            return  # a type change is reported by data_type_check
        distance = drift.numerical_distance(rank_function(kll), rank_function(p.kll), method)
        result.drift[p.name] = distance
        if distance > threshold:
            result.add(p.name, "baseline_drift_check",
                       f"Baseline drift distance: {distance!r} exceeds threshold: {threshold!r}")
        return
    buckets = (((baseline.get("string_statistics") or {}).get("distribution") or {}).get("categorical")
               or {}).get("buckets")
    if not buckets or not p.num_present:
        return
    expected = {str(b["value"]): float(b["count"]) for b in buckets}
    observed = {str(k): float(v) for k, v in p.value_counts.items()}
    threshold = float(constraints.get("categorical_comparison_threshold", threshold))
    if str(constraints.get("categorical_drift_method", "LInfinity")).lower() == "chisquared":
        p_value = drift.chi_squared_p_value(expected, observed)
        if math.isnan(p_value):
            return
        result.drift[p.name] = p_value
        if p_value < threshold:
            result.add(p.name, "baseline_drift_check",
                       f"Baseline drift p-value: {p_value!r} is below threshold: {threshold!r}")
        return
    distance = drift.categorical_linf(expected, observed, method)
    result.drift[p.name] = distance
    if distance > threshold:
        result.add(p.name, "baseline_drift_check",
                   f"Baseline drift distance: {distance!r} exceeds threshold: {threshold!r}")
