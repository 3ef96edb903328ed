"""Amazon SageMaker Factorization Machines (image repository `factorization-machines`), in numpy/scipy."""

from __future__ import annotations

from typing import Any

from algorithms.factorization_machines.hyperparameters import SCHEMA
from algorithms.factorization_machines.model import FMModel
from algorithms.factorization_machines.train import train


def load_predictor(meta: dict[str, Any], arrays: dict[str, Any]) -> FMModel:
    return FMModel.from_artifact(meta, arrays)


__all__ = ["SCHEMA", "load_predictor", "train"]
