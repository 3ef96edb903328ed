"""Amazon SageMaker Random Cut Forest (image repository `randomcutforest`), on the `rrcf` library."""

from __future__ import annotations

from typing import Any

from algorithms.randomcutforest.hyperparameters import SCHEMA
from algorithms.randomcutforest.model import RandomCutForestModel
from algorithms.randomcutforest.train import train


def load_predictor(meta: dict[str, Any], arrays: dict[str, Any]) -> RandomCutForestModel:
    return RandomCutForestModel.from_artifact(meta, arrays)


__all__ = ["SCHEMA", "load_predictor", "train"]
