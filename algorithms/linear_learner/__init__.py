"""Amazon SageMaker LinearLearner (image repository `linear-learner`), re-implemented on scikit-learn."""

from __future__ import annotations

from typing import Any

from algorithms.linear_learner.hyperparameters import SCHEMA
from algorithms.linear_learner.model import LinearModel
from algorithms.linear_learner.train import train


def load_predictor(meta: dict[str, Any], arrays: dict[str, Any]) -> LinearModel:
    return LinearModel.from_artifact(meta, arrays)


__all__ = ["SCHEMA", "load_predictor", "train"]
