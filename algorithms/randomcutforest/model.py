"""The Random Cut Forest model on `rrcf` (the maintained Python implementation of Guha et al. 2016,
the algorithm behind AWS's RCF): `num_trees` trees, each built from its own sample of
`num_samples_per_tree` training points. A record's anomaly score is its collusive displacement
(CoDisp) in each tree once inserted there, averaged over the trees: low for normal points, high
for anomalies, as AWS's scores are. The artifact keeps each tree's sample and seed; trees are
rebuilt from them (rrcf builds a tree deterministically from its points and random state).

Outputs follow rcf-inference formats: {"score": 1.42} per record, under "scores" in JSON.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rrcf
from scipy import sparse

ALGORITHM = "randomcutforest"
_PROBE = "query"  # the index a scored record takes in a tree while it is scored


@dataclass
class RandomCutForestModel:
    feature_dim: int
    samples: np.ndarray  # (num_trees, points per tree, feature_dim) float64
    seeds: np.ndarray  # (num_trees,) int64
    threshold: float = float("inf")  # scores above it are anomalies (mean + 3 std of training scores)
    response_key: str = "scores"
    _trees: list[rrcf.RCTree] | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, features: Any, num_trees: int, num_samples_per_tree: int, seed: int = 0) -> RandomCutForestModel:
        points = _dense(features)
        rng = np.random.default_rng(seed)
        size = min(num_samples_per_tree, points.shape[0])
        samples = np.stack([points[rng.choice(points.shape[0], size, replace=False)] for _ in range(num_trees)])
        model = cls(points.shape[1], samples, rng.integers(0, 2**31 - 1, num_trees))
        probe = points[rng.choice(points.shape[0], min(256, points.shape[0]), replace=False)]
        scores = model.score(probe)
        model.threshold = float(scores.mean() + 3 * scores.std())
        return model

    @property
    def trees(self) -> list[rrcf.RCTree]:
        if self._trees is None:
            self._trees = [rrcf.RCTree(sample, random_state=int(seed)) for sample, seed in zip(self.samples, self.seeds)]
        return self._trees

    def score(self, features: Any) -> np.ndarray:
        points = _dense(features)
        # Where a record is cut into a tree is random: seeding that draw from the tree and the record
        # makes a record's score the same in every request and after a reload.
        keys = [zlib.crc32(point.tobytes()) for point in points]
        totals = np.zeros(points.shape[0])
        for tree, seed in zip(self.trees, self.seeds):
            for row, point in enumerate(points):
                tree.rng = np.random.RandomState((int(seed) ^ keys[row]) & 0x7FFFFFFF)
                leaf = tree.insert_point(point, index=_PROBE)
                totals[row] += tree.codisp(leaf)
                tree.forget_point(_PROBE)
        return totals / len(self.trees)

    def predict(self, features: Any, options: dict[str, str]) -> list[dict[str, Any]]:
        return [{"score": float(s)} for s in self.score(features)]

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"feature_dim": self.feature_dim, "threshold": self.threshold},
                {"samples": self.samples, "seeds": self.seeds})

    @classmethod
    def from_artifact(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RandomCutForestModel:
        return cls(int(meta["feature_dim"]), arrays["samples"], arrays["seeds"], float(meta["threshold"]))


def _dense(features: Any) -> np.ndarray:
    return np.asarray(features.toarray() if sparse.issparse(features) else features, dtype=np.float64)
