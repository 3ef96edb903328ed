"""A trained linear model: raw = X @ coef.T + intercept, with the feature scaler and the label
normaliser folded into coef/intercept so prediction is one matrix product for dense and sparse
rows alike. Outputs follow LL-in-formats.md: binary {"score", "predicted_label"}, multiclass
{"score": [per-class], "predicted_label"}, regressor {"score"}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ALGORITHM = "linear-learner"


@dataclass
class LinearModel:
    predictor_type: str
    loss: str
    coef: np.ndarray  # (outputs, feature_dim)
    intercept: np.ndarray  # (outputs,)
    threshold: float = 0.5  # binary: score >= threshold -> label 1
    feature_dim: int = 0

    def raw(self, features: Any) -> np.ndarray:
        return np.asarray(features @ self.coef.T, dtype=np.float64) + self.intercept

    def scores(self, features: Any) -> np.ndarray:
        """Probability of class 1 (binary), per-class probabilities (multiclass), the value (regressor);
        hinge-loss classifiers score with the raw margin."""
        raw = self.raw(features)
        if self.predictor_type == "regressor":
            return raw[:, 0]
        if self.loss == "hinge_loss":
            return raw[:, 0] if self.predictor_type == "binary_classifier" else raw
        if self.predictor_type == "binary_classifier":
            return 1.0 / (1.0 + np.exp(-np.clip(raw[:, 0], -500, 500)))
        shifted = raw - raw.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def labels(self, scores: np.ndarray) -> np.ndarray:
        if self.predictor_type == "binary_classifier":
            return (scores >= self.threshold).astype(np.int64)
        return np.argmax(scores, axis=1)

    def predict(self, features: Any, options: dict[str, str] | None = None) -> list[dict[str, Any]]:
        scores = self.scores(features)
        if self.predictor_type == "regressor":
            return [{"score": float(s)} for s in scores.astype(np.float32)]
        labels = self.labels(scores)
        if self.predictor_type == "binary_classifier":
            return [
                {"score": float(s), "predicted_label": int(p)}
                for s, p in zip(scores.astype(np.float32), labels)
            ]
        return [
            {"score": [float(x) for x in row], "predicted_label": int(p)}
            for row, p in zip(scores.astype(np.float32), labels)
        ]

    # --- artifact ------------------------------------------------------------------------------
    def to_artifact(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "predictor_type": self.predictor_type,
            "loss": self.loss,
            "threshold": self.threshold,
            "feature_dim": self.feature_dim,
        }
        return meta, {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_artifact(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearModel:
        return cls(
            meta["predictor_type"],
            meta["loss"],
            arrays["coef"],
            arrays["intercept"],
            meta["threshold"],
            meta["feature_dim"],
        )


def calibrate_threshold(
    y: np.ndarray, scores: np.ndarray, criterion: str, hp: dict[str, Any], default: float
) -> float:
    """The decision threshold LinearLearner picks on the calibration data for its model selection
    criterion (binary_classifier_model_selection_criteria)."""
    if criterion in ("loss_function", "cross_entropy_loss") or len(np.unique(y)) < 2:
        return default
    order = np.argsort(-scores, kind="stable")
    s, truth = scores[order], y[order].astype(np.int64)
    # Thresholds at each distinct score: predicting 1 for the top i rows.
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(truth)[distinct].astype(np.float64)
    predicted_pos = (distinct + 1).astype(np.float64)
    positives, n = truth.sum(), len(truth)
    fp = predicted_pos - tp
    precision = tp / predicted_pos
    recall = tp / positives if positives else np.zeros_like(tp)
    if criterion == "accuracy":
        value = (tp + (n - positives - fp)) / n
        # Predicting nothing positive is a candidate too.
        if (n - positives) / n > value.max():
            return float(s[0]) + 1e-6
    elif criterion in ("f_beta", "f1"):
        b2 = (hp["f_beta"] if criterion == "f_beta" else 1.0) ** 2
        denom = b2 * precision + recall
        value = np.where(denom > 0, (1 + b2) * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    elif criterion == "precision_at_target_recall":
        value = np.where(recall >= hp["target_recall"], precision, -1.0)
    elif criterion == "recall_at_target_precision":
        value = np.where(precision >= hp["target_precision"], recall, -1.0)
    else:
        return default
    best = int(np.argmax(value))  # first (highest threshold) among equals
    cut = distinct[best]
    # Midway between the last score predicted positive and the next one, like a sorted sweep would.
    if cut + 1 < len(s):
        return float((s[cut] + s[cut + 1]) / 2)
    return float(s[cut]) - 1e-6
