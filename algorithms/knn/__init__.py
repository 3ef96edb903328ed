"""Amazon SageMaker k-NN (image repository `knn`), re-implemented on scikit-learn and numpy."""

from __future__ import annotations

from typing import Any

from algorithms.knn.hyperparameters import SCHEMA
from algorithms.knn.model import KNNModel
from algorithms.knn.train import train


def load_predictor(meta: dict[str, Any], arrays: dict[str, Any]) -> KNNModel:
    return KNNModel.from_artifact(meta, arrays)


__all__ = ["SCHEMA", "load_predictor", "train"]
