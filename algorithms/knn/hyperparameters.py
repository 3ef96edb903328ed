"""k-NN's hyperparameters (AWS kNN_hyperparameters.md)."""

from __future__ import annotations

from typing import Any

from algorithms.common.hyperparameters import HyperparameterValidationError, Schema, enum, integer, require_if

PQ_M_VALUES = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)


def _reduction_target_below_feature_dim(values: dict[str, Any]) -> None:
    target = values["dimension_reduction_target"]
    if values["dimension_reduction_type"] and target is not None and target >= values["feature_dim"]:
        raise HyperparameterValidationError(
            f"The value '{target}' is not valid for the 'dimension_reduction_target' hyperparameter "
            f"which expects an integer greater than 0 and less than feature_dim ({values['feature_dim']})"
        )


def _pq_metric(values: dict[str, Any]) -> None:
    if values["index_type"] == "faiss.IVFPQ" and values["index_metric"] in ("INNER_PRODUCT", "COSINE"):
        raise HyperparameterValidationError(
            f"index_metric '{values['index_metric']}' is not supported with index_type 'faiss.IVFPQ'; "
            "use 'L2'"
        )


SCHEMA = Schema(
    [
        integer("feature_dim", min=1, required=True),
        integer("k", min=1, required=True),
        enum("predictor_type", ("classifier", "regressor"), required=True),
        integer("sample_size", min=1, required=True),
        integer("dimension_reduction_target", min=1),
        enum("dimension_reduction_type", ("sign", "fjlt")),
        integer("faiss_index_ivf_nlists", min=1, auto=True, default="auto"),
        integer("faiss_index_pq_m", allowed=PQ_M_VALUES),
        enum("index_metric", ("L2", "INNER_PRODUCT", "COSINE"), default="L2"),
        enum("index_type", ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ"), default="faiss.Flat"),
        integer("mini_batch_size", min=1, default=5000),
    ],
    checks=[
        require_if(
            "dimension_reduction_target",
            lambda v: v["dimension_reduction_type"] is not None,
            "when dimension_reduction_type is set",
        ),
        _reduction_target_below_feature_dim,
        _pq_metric,
    ],
)
