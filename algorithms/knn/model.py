"""The k-NN model: a sample of the training points (optionally projected to fewer dimensions), their
labels, and an exact search over them.

AWS builds a faiss index; every index_type is answered here by exact search (faiss.Flat's results;
the IVF/PQ types only approximate those). Distances are what faiss reports: squared L2 distances
in ascending order for L2, similarities in descending order for INNER_PRODUCT and COSINE.
Outputs follow kNN-inference-formats.md: {"predicted_label": 0.0}, and with `verbose=true` also
"distances" and "labels" of the k neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ALGORITHM = "knn"


@dataclass
class KNNModel:
    k: int
    predictor_type: str
    metric: str  # L2 | INNER_PRODUCT | COSINE
    points: Any  # (n, dims) float32 array or CSR matrix
    labels: np.ndarray  # (n,)
    feature_dim: int
    projection: np.ndarray | None = None  # (feature_dim, target) for dimension reduction
    batch_size: int = 5000

    def __post_init__(self) -> None:
        self._index = None

    # --- search ---------------------------------------------------------------------------------
    def project(self, features: Any) -> Any:
        if self.projection is None:
            return features
        return np.asarray(features @ self.projection, dtype=np.float32)

    def neighbors(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices), each (rows, k'), k' = min(k, sample size), best first."""
        queries = self.project(features)
        k = min(self.k, self.points.shape[0])
        out_d, out_i = [], []
        for start in range(0, queries.shape[0], self.batch_size):
            chunk = queries[start : start + self.batch_size]
            d, i = self._search(chunk, k)
            out_d.append(d)
            out_i.append(i)
        if not out_d:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        return np.vstack(out_d), np.vstack(out_i)

    def _search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.metric == "L2":
            if self._index is None:
                from sklearn.neighbors import NearestNeighbors

                self._index = NearestNeighbors(n_neighbors=k).fit(self.points)
            distances, indices = self._index.kneighbors(queries, n_neighbors=k)
            return (distances**2).astype(np.float32), indices
        points = self.points
        if self.metric == "COSINE":
            points, queries = _normalise(points), _normalise(queries)
        product = queries @ points.T
        similarity = np.asarray(
            product.toarray() if hasattr(product, "toarray") else product, dtype=np.float32
        )
        part = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        rows = np.arange(similarity.shape[0])[:, None]
        order = np.argsort(-similarity[rows, part], axis=1, kind="stable")
        indices = part[rows, order]
        return similarity[rows, indices], indices

    # --- prediction ------------------------------------------------------------------------------
    def predicted_labels(self, indices: np.ndarray) -> np.ndarray:
        neighbour_labels = self.labels[indices]
        if self.predictor_type == "regressor":
            return neighbour_labels.mean(axis=1)
        # The most frequent label; ties go to the smallest label (as scikit-learn's KNeighborsClassifier).
        classes, codes = np.unique(neighbour_labels, return_inverse=True)
        codes = codes.reshape(neighbour_labels.shape)
        counts = np.zeros((codes.shape[0], classes.size), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(codes.shape[0]), codes.shape[1]), codes.ravel()), 1)
        return classes[np.argmax(counts, axis=1)].astype(np.float64)

    def predict(self, features: Any, options: dict[str, str] | None = None) -> list[dict[str, Any]]:
        distances, indices = self.neighbors(features)
        predicted = self.predicted_labels(indices).astype(np.float32)
        verbose = str((options or {}).get("verbose", "false")).lower() in ("true", "1", "yes")
        if not verbose:
            return [{"predicted_label": float(p)} for p in predicted]
        labels = self.labels[indices].astype(np.float32)
        return [
            {
                "predicted_label": float(p),
                "distances": [float(x) for x in d],
                "labels": [float(x) for x in lab],
            }
            for p, d, lab in zip(predicted, distances.astype(np.float32), labels)
        ]

    # --- artifact --------------------------------------------------------------------------------
    def to_artifact(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from scipy import sparse

        meta = {
            "k": self.k,
            "predictor_type": self.predictor_type,
            "index_metric": self.metric,
            "feature_dim": self.feature_dim,
            "batch_size": self.batch_size,
        }
        arrays: dict[str, np.ndarray] = {"labels": self.labels}
        if sparse.issparse(self.points):
            csr = sparse.csr_matrix(self.points)
            arrays.update(
                points_data=csr.data,
                points_indices=csr.indices,
                points_indptr=csr.indptr,
                points_shape=np.array(csr.shape),
            )
        else:
            arrays["points"] = np.asarray(self.points, dtype=np.float32)
        if self.projection is not None:
            arrays["projection"] = self.projection
        return meta, arrays

    @classmethod
    def from_artifact(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> KNNModel:
        if "points" in arrays:
            points = arrays["points"]
        else:
            from scipy import sparse

            points = sparse.csr_matrix(
                (arrays["points_data"], arrays["points_indices"], arrays["points_indptr"]),
                shape=tuple(arrays["points_shape"]),
            )
        return cls(
            meta["k"],
            meta["predictor_type"],
            meta["index_metric"],
            points,
            arrays["labels"],
            meta["feature_dim"],
            arrays.get("projection"),
            meta.get("batch_size", 5000),
        )


def _normalise(matrix: Any) -> Any:
    from scipy import sparse

    if sparse.issparse(matrix):
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sparse.csr_matrix(matrix.multiply(1 / norms[:, None]))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return matrix / norms


def projection_matrix(kind: str, feature_dim: int, target: int, seed: int = 0) -> np.ndarray:
    """AWS's dimension_reduction_type: `sign` is a random ±1 projection, `fjlt` the fast
    Johnson-Lindenstrauss transform (random signs, an orthonormal DCT, a random subset of
    coordinates), both scaled to preserve distances in expectation."""
    rng = np.random.default_rng(seed)
    if kind == "sign":
        return (rng.choice((-1.0, 1.0), size=(feature_dim, target)) / np.sqrt(target)).astype(np.float32)
    from scipy.fft import dct

    signs = rng.choice((-1.0, 1.0), size=feature_dim)
    transform = dct(np.diag(signs), norm="ortho", axis=0)  # column j = DCT(sign_j · e_j)
    keep = np.sort(rng.choice(feature_dim, size=target, replace=False))
    return (transform[keep].T * np.sqrt(feature_dim / target)).astype(np.float32)
