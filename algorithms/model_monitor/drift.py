"""Distribution distances for baseline_drift_check.

As the developer guide defines them (model-monitor-byoc-constraints, comparison_method): the
distance is "the maximum absolute difference between the cumulative distribution functions of two
distributions" (`Simple`, L-infinity); `Robust` corrects it for small samples with the two-sample
Kolmogorov-Smirnov bound, max(0, linf - c(alpha) * sqrt((n + m) / (n * m))) with c(alpha) = 1.8, the
constant Deequ (the real analyzer's profiling library) uses. Numerical CDFs come from the two KLL
sketches; categorical ones from the category frequencies. `ChiSquared` (categorical_drift_method)
is Pearson's goodness-of-fit test of the current counts against the baseline's proportions,
regrouping the rarest categories until the expected counts are large enough, as Deequ does; it
yields a p-value, so there drift means a p-value *below* the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from algorithms.model_monitor.sketch import RankFunction

C_ALPHA = 1.8


def _robust(linf: float, n: float, m: float) -> float:
    if not n or not m:
        return linf
    return max(0.0, linf - C_ALPHA * math.sqrt((n + m) / (n * m)))


def numerical_distance(baseline: RankFunction, current: RankFunction, method: str = "Robust") -> float:
    points = np.union1d(baseline.items, current.items)
    if not len(points):
        return 0.0
    linf = float(np.max(np.abs(baseline.cdf(points) - current.cdf(points))))
    return _robust(linf, baseline.total, current.total) if method == "Robust" else linf


def categorical_linf(baseline: Mapping[str, float], current: Mapping[str, float], method: str = "Robust") -> float:
    n, m = float(sum(baseline.values())), float(sum(current.values()))
    if not n or not m:
        return 0.0
    linf = max(abs(baseline.get(k, 0) / n - current.get(k, 0) / m) for k in set(baseline) | set(current))
    return _robust(linf, n, m) if method == "Robust" else linf


def chi_squared_p_value(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """p-value of the current counts under the baseline's proportions (NaN when untestable)."""
    expected_total = float(sum(baseline.values()))
    observed_total = float(sum(v for k, v in current.items() if k in baseline))
    if not expected_total or not observed_total:
        return float("nan")
    expected = {k: v / expected_total * observed_total for k, v in baseline.items()}
    observed = {k: float(current.get(k, 0)) for k in baseline}
    while len(expected) >= 2:
        # Cochran for 2 categories (all expected >= 10); Yates/Moore/McCabe beyond (at most 20%
        # below 5): merge the smallest category into the next smallest until that holds.
        limit, allowed = (10, 0) if len(expected) == 2 else (5, int(0.2 * len(expected)))
        if sum(1 for v in expected.values() if v < limit) <= allowed:
            break
        smallest = min(expected, key=expected.__getitem__)
        low_e, low_o = expected.pop(smallest), observed.pop(smallest)
        second = min(expected, key=expected.__getitem__)
        expected[second] += low_e
        observed[second] += low_o
    if len(expected) < 2:
        return float("nan")
    from scipy import stats  # only this method needs it, and it is slow to import
    keys = list(expected)
    return float(stats.chisquare([observed[k] for k in keys], [expected[k] for k in keys]).pvalue)
