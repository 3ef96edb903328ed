"""KLL quantile sketches (Apache DataSketches) in statistics.json's `distribution.kll` layout.

Why KLL and this library: the statistics schema names KLL as "the recognized sketch"
(model-monitor-byoc-statistics, linking the DataSketches KLL page), and Apache DataSketches is the
reference implementation, with manylinux wheels for CPython 3.11 (`datasketches` on PyPI). With
k=2048, as AWS's files show, the normalized rank error is about 0.14% for a single quantile query
(`normalized_rank_error(False)`); below about k items the sketch is exact.

`sketch.data` lists the retained items per compactor level, lowest level first; an item at level h
stands for 2**h original values (KLL's compaction doubles weights), which is how a baseline sketch
read back from JSON yields the same rank function as the live one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from datasketches import kll_doubles_sketch

K = 2048
C = 2.0 / 3.0  # DataSketches' KLL capacity decay between levels
BUCKETS = 10  # "By default, the distribution is materialized in 10 buckets. You can't change this."


def build(values: np.ndarray) -> kll_doubles_sketch:
    sketch = kll_doubles_sketch(K)
    if len(values):
        sketch.update(np.array(values, dtype=np.float64))  # a writable copy: nanobind refuses read-only views
    return sketch


def to_json(sketch: kll_doubles_sketch) -> dict:
    levels: dict[int, list[float]] = {}
    for item, weight in sketch:
        levels.setdefault(int(math.log2(weight)), []).append(float(item))
    data = [levels.get(h, []) for h in range(max(levels) + 1)] if levels else []
    return {"parameters": {"c": C, "k": float(K)}, "data": data}


@dataclass(frozen=True)
class RankFunction:
    """The empirical CDF a sketch describes: sorted items and their cumulative weights."""

    items: np.ndarray
    cumulative: np.ndarray

    @property
    def total(self) -> float:
        return float(self.cumulative[-1]) if len(self.cumulative) else 0.0

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Share of the weight at or below each point."""
        if not self.total:
            return np.zeros(len(points))
        index = np.searchsorted(self.items, points, side="right")
        ranks = np.concatenate(([0.0], self.cumulative))[index]
        return ranks / self.total


def rank_function(sketch_json: dict) -> RankFunction:
    items, weights = [], []
    for level, values in enumerate(sketch_json.get("data") or []):
        items.extend(values)
        weights.extend([float(2 ** level)] * len(values))
    order = np.argsort(np.asarray(items, dtype=np.float64), kind="stable")
    sorted_items = np.asarray(items, dtype=np.float64)[order]
    return RankFunction(sorted_items, np.cumsum(np.asarray(weights, dtype=np.float64)[order]))


def buckets(values: np.ndarray, low: float, high: float) -> list[dict]:
    """Ten equal-width buckets from min to max with exact counts (the last bucket includes max).

    The real analyzer estimates these counts from its sketch; counting the values themselves is
    exact and cheap at the sizes a monitoring window holds.
    """
    if not len(values):
        return []
    if low == high:
        return [{"lower_bound": low, "upper_bound": high, "count": float(len(values))}]
    counts, edges = np.histogram(values, bins=BUCKETS, range=(low, high))
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
            for i in range(BUCKETS)]
