"""Factorization Machines' hyperparameters (AWS fact-machines-hyperparameters.md; documented defaults)."""

from __future__ import annotations

from algorithms.common.hyperparameters import Schema, enum, integer, real

INIT_METHODS = ("normal", "uniform", "constant")


def _group(name: str, lr: float, wd: float, sigma: float) -> list:
    return [
        enum(f"{name}_init_method", INIT_METHODS, default="normal"),
        real(f"{name}_init_scale", min=0),
        real(f"{name}_init_sigma", min=0, default=sigma),
        real(f"{name}_init_value"),
        real(f"{name}_lr", min=0, default=lr),
        real(f"{name}_wd", min=0, default=wd),
    ]


SCHEMA = Schema(
    [
        integer("feature_dim", min=1, required=True),
        integer("num_factors", min=1, required=True),
        enum("predictor_type", ("binary_classifier", "regressor"), required=True),
        integer("epochs", min=1, default=1),
        integer("mini_batch_size", min=1, default=1000),
        real("clip_gradient"),
        real("eps"),
        real("rescale_grad"),
        *_group("bias", 0.1, 0.01, 0.01),
        *_group("linear", 0.001, 0.001, 0.01),
        *_group("factors", 0.0001, 0.00001, 0.001),
    ]
)
