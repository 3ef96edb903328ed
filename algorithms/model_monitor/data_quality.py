"""Data quality: per-feature profiles, statistics.json and suggested constraints.json.

Schemas: developer guide model-monitor-byoc-statistics / -byoc-constraints. Behaviour that the
schema leaves open follows what the real analyzer's files show (its profiler is Amazon Deequ):
- a value is Integral when it reads as an integer, Fractional when it reads as a decimal or
  exponent number, otherwise String ("true"/"false" included; AWS's inferred_type enumeration has
  no Boolean); a column's type is String if any value is, else Fractional if any value is, else
  Integral; a column with no values is Unknown;
- std_dev is the population standard deviation (the introduction notebook's baseline: Churn mean
  0.139306, std_dev 0.346265 = sqrt(p(1-p)), not the sample estimate 0.346340);
- numeric statistics are exactly pandas' (`Series.mean/sum/std(ddof=0)/min/max` on the column
  with missing values as NaN, which is what pandas itself would compute from the file);
- a categorical distribution and `domains` are kept for low-cardinality string features, as
  Deequ's profiler (histograms up to 120 distinct values) and its CategoricalRangeRule (at most
  10% of the categories seen only once) decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from algorithms.model_monitor import sketch

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
LOW_CARDINALITY = 120
DOMAIN_UNIQUE_RATIO = 0.1

_INTEGRAL = r"[-+]?\d+"
_FRACTIONAL = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_BOOLEAN = r"(?i:true|false)"

DEFAULT_MONITORING_CONFIG = {
    # The real analyzer's defaults (its DataQualityMonitoringConfig / DistributionConstraints).
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


@dataclass
class FeatureProfile:
    """One column: its values as text, their kinds, and (for numbers) the values themselves."""

    name: str
    column: pd.Series  # object: str or None
    integral: int
    fractional: int
    boolean: int
    string: int  # non-numeric values, booleans included
    numbers: pd.Series  # float64, NaN where missing or not a number

    @property
    def num_present(self) -> int:
        return self.integral + self.fractional + self.string

    @property
    def num_missing(self) -> int:
        return len(self.column) - self.num_present

    @property
    def completeness(self) -> float:
        return self.num_present / len(self.column) if len(self.column) else 0.0

    @property
    def inferred_type(self) -> str:
        if self.num_present == 0:
            return UNKNOWN
        if self.string:
            return STRING
        return FRACTIONAL if self.fractional else INTEGRAL

    def share_of_type(self, expected: str) -> float:
        """Share of present values readable as `expected` (every value reads as a String; an
        integer is also a valid Fractional)."""
        if not self.num_present:
            return 1.0
        matching = {INTEGRAL: self.integral, FRACTIONAL: self.integral + self.fractional}.get(
            expected, self.num_present)
        return matching / self.num_present

    @cached_property
    def value_counts(self) -> pd.Series:
        return self.column.dropna().value_counts(sort=True)

    @cached_property
    def numeric_values(self) -> np.ndarray:
        return self.numbers.dropna().to_numpy(dtype=np.float64)

    @cached_property
    def kll(self) -> dict:
        return sketch.to_json(sketch.build(self.numeric_values))


def profile(name: str, column: pd.Series) -> FeatureProfile:
    present = column.notna()
    texts = column[present].astype(str).str.strip()
    is_integral = texts.str.fullmatch(_INTEGRAL)
    is_number = is_integral | texts.str.fullmatch(_FRACTIONAL)
    integral = int(is_integral.sum())
    numeric = int(is_number.sum())
    numbers = pd.Series(np.nan, index=column.index, dtype=np.float64)
    if numeric:
        numbers[texts.index[is_number.to_numpy()]] = texts[is_number].astype(np.float64)
    return FeatureProfile(
        name=name, column=column, integral=integral, fractional=numeric - integral,
        boolean=int(texts.str.fullmatch(_BOOLEAN).sum()), string=len(texts) - numeric, numbers=numbers)


def profiles(frame: pd.DataFrame) -> list[FeatureProfile]:
    return [profile(str(name), frame[name]) for name in frame.columns]


# --- statistics.json -------------------------------------------------------------------------------


def feature_statistics(p: FeatureProfile) -> dict:
    common = {"num_present": p.num_present, "num_missing": p.num_missing}
    kind = p.inferred_type
    if kind in (INTEGRAL, FRACTIONAL):
        values, numbers = p.numeric_values, p.numbers
        low, high = float(numbers.min()), float(numbers.max())
        return {"name": p.name, "inferred_type": kind, "numerical_statistics": {
            "common": common,
            "mean": float(numbers.mean()),
            "sum": float(numbers.sum()),
            "std_dev": float(numbers.std(ddof=0)),
            "min": low,
            "max": high,
            "distribution": {"kll": {"buckets": sketch.buckets(values, low, high), "sketch": p.kll}},
        }}
    stats: dict = {"common": common, "distinct_count": float(len(p.value_counts))}
    if 0 < len(p.value_counts) <= LOW_CARDINALITY:
        stats["distribution"] = {"categorical": {"buckets": [
            {"value": str(value), "count": int(count)} for value, count in p.value_counts.items()]}}
    return {"name": p.name, "inferred_type": kind, "string_statistics": stats}


def statistics(item_count: int, features: list[FeatureProfile]) -> dict:
    return {"version": 0.0, "dataset": {"item_count": item_count},
            "features": [feature_statistics(p) for p in features]}


# --- constraints.json ------------------------------------------------------------------------------


def _domains(p: FeatureProfile) -> list[str] | None:
    counts = p.value_counts
    if p.inferred_type != STRING or not 0 < len(counts) <= LOW_CARDINALITY:
        return None
    if (counts == 1).sum() / len(counts) > DOMAIN_UNIQUE_RATIO:
        return None
    return sorted(str(v) for v in counts.index)


def suggest_constraints(features: list[FeatureProfile], categorical_drift_method: str | None = None) -> dict:
    entries = []
    for p in features:
        entry: dict = {"name": p.name, "inferred_type": p.inferred_type, "completeness": p.completeness}
        if p.inferred_type in (INTEGRAL, FRACTIONAL):
            entry["num_constraints"] = {"is_non_negative": bool(p.numbers.min() >= 0)}
        domains = _domains(p)
        if domains is not None:
            entry["string_constraints"] = {"domains": domains}
        entries.append(entry)
    config = {**DEFAULT_MONITORING_CONFIG,
              "distribution_constraints": dict(DEFAULT_MONITORING_CONFIG["distribution_constraints"])}
    if categorical_drift_method:
        config["distribution_constraints"]["categorical_drift_method"] = categorical_drift_method
    return {"version": 0.0, "features": entries, "monitoring_config": config}
