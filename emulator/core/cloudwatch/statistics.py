"""CloudWatch's statistics over one period's samples (pure functions).

The five standard statistics come straight from SQL aggregates (metrics.py). The extended ones
("CloudWatch statistics definitions", Amazon CloudWatch User Guide) need the samples themselves:

  pNN.NN           percentile (nearest rank)
  tmNN / TM(a:b)   trimmed mean        wmNN / WM(a:b)  winsorized mean
  tcNN / TC(a:b)   trimmed count       tsNN / TS(a:b)  trimmed sum
  PR(n:m)          percentile rank: the percentage of samples with n < value <= m

Bounds written with `%` are percentiles of the samples, bounds without it are values; either may be
left out (`TM(:95%)`, `PR(:300)`); the short form `tm90` is `TM(0%:90%)`. A sample is a value with a
weight (Values/Counts publish many samples in one row). CloudWatch computes these only from raw
values: a statistic set counts as raw only when all its samples are equal (SampleCount 1, or
Minimum = Maximum and Sum = Minimum x SampleCount); a period holding another statistic set has no
extended statistics.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

STANDARD = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

_SHORT = re.compile(r"^(p|tm|wm|tc|ts)(\d{1,2}(?:\.\d{1,10})?|100)$", re.IGNORECASE)
_RANGE = re.compile(r"^(tm|wm|tc|ts|pr)\(([^:()]*):([^:()]*)\)$", re.IGNORECASE)
_BOUND = re.compile(r"^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(%?)$")


@dataclass(frozen=True)
class Extended:
    kind: str                 # p | tm | wm | tc | ts | pr
    low: float | None         # None: unbounded
    high: float | None
    percent: bool             # bounds are percentiles (else values)


def parse(text: str) -> Extended | None:
    """The statistic an ExtendedStatistic string names, or None if CloudWatch would not accept it."""
    match = _SHORT.match(text)
    if match:
        kind, number = match.group(1).lower(), float(match.group(2))
        if not 0 <= number <= 100:
            return None
        return Extended("p", None, number, True) if kind == "p" else Extended(kind, 0.0, number, True)
    match = _RANGE.match(text)
    if not match:
        return None
    kind = match.group(1).lower()
    bounds, kinds = [], set()
    for raw in (match.group(2).strip(), match.group(3).strip()):
        if not raw:
            bounds.append(None)
            continue
        found = _BOUND.match(raw)
        if not found:
            return None
        bounds.append(float(found.group(1)))
        kinds.add(bool(found.group(2)))
    if len(kinds) > 1 or (bounds[0] is None and bounds[1] is None):
        return None
    percent = kinds == {True}
    if kind == "pr" and percent:
        return None  # PR takes values, never percentages
    if percent and any(b is not None and not 0 <= b <= 100 for b in bounds):
        return None
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        return None
    return Extended(kind, bounds[0], bounds[1], percent)


def is_standard(text: str) -> bool:
    return text in STANDARD


def compute(stat: Extended, samples: list[tuple[float, float]]) -> float | None:
    """`samples` are (value, weight), sorted by value. None when the statistic has no value."""
    total = sum(w for _, w in samples)
    if total <= 0:
        return None
    if stat.kind == "p":
        return percentile(samples, total, stat.high or 0.0)
    if stat.kind == "pr":
        low = -math.inf if stat.low is None else stat.low
        high = math.inf if stat.high is None else stat.high
        return 100.0 * sum(w for v, w in samples if low < v <= high) / total
    if stat.kind == "wm":
        lo = samples[0][0] if not stat.low else _bound_value(stat, stat.low, samples, total)
        hi = samples[-1][0] if stat.high is None else _bound_value(stat, stat.high, samples, total)
        return sum(min(max(v, lo), hi) * w for v, w in samples) / total
    count, value_sum = _trimmed(stat, samples, total)
    if stat.kind == "tc":
        return count
    if stat.kind == "ts":
        return value_sum if count > 0 else None
    return value_sum / count if count > 0 else None  # tm


def percentile(samples: list[tuple[float, float]], total: float, p: float) -> float:
    """Nearest rank: the smallest value whose cumulative weight reaches p% of all samples."""
    target = p / 100.0 * total
    seen = 0.0
    for value, weight in samples:
        seen += weight
        if seen >= target - 1e-9 * total:
            return value
    return samples[-1][0]


def _bound_value(stat: Extended, bound: float, samples: list[tuple[float, float]], total: float) -> float:
    return percentile(samples, total, bound) if stat.percent else bound


def _trimmed(stat: Extended, samples: list[tuple[float, float]], total: float) -> tuple[float, float]:
    """(count, sum) of the samples inside the statistic's bounds."""
    if not stat.percent:
        low = -math.inf if stat.low is None else stat.low
        high = math.inf if stat.high is None else stat.high
        inside = [(v, w) for v, w in samples if low < v <= high]
        return sum(w for _, w in inside), sum(v * w for v, w in inside)
    # By rank: each sample occupies (before, before + weight] of the cumulative weight; keep the part
    # of it that falls inside (low%, high%] of the total.
    lo = (stat.low or 0.0) / 100.0 * total
    hi = (100.0 if stat.high is None else stat.high) / 100.0 * total
    count = value_sum = before = 0.0
    for value, weight in samples:
        share = max(0.0, min(before + weight, hi) - max(before, lo))
        count += share
        value_sum += value * share
        before += weight
    return count, value_sum
