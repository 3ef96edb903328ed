"""LinearLearner's hyperparameters (AWS ll_hyperparameters.md; defaults as documented)."""

from __future__ import annotations

from typing import Any

from algorithms.common.hyperparameters import (
    HyperparameterValidationError,
    Schema,
    boolean,
    enum,
    integer,
    real,
    require_if,
)

PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
LOSSES = (
    "auto",
    "logistic",
    "squared_loss",
    "absolute_loss",
    "hinge_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
    "quantile_loss",
    "huber_loss",
    "softmax_loss",
)
# Which losses each predictor type trains with ("auto" first resolves to the first one).
LOSSES_FOR = {
    "binary_classifier": ("logistic", "hinge_loss"),
    "multiclass_classifier": ("softmax_loss", "hinge_loss"),
    "regressor": (
        "squared_loss",
        "absolute_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
        "quantile_loss",
        "huber_loss",
    ),
}


def _loss_fits_predictor(values: dict[str, Any]) -> None:
    loss, predictor = values["loss"], values["predictor_type"]
    if loss != "auto" and loss not in LOSSES_FOR[predictor]:
        raise HyperparameterValidationError(
            f"The value '{loss}' of the 'loss' hyperparameter cannot be used with "
            f"predictor_type '{predictor}'; "
            f"use one of: {', '.join(repr(x) for x in ('auto', *LOSSES_FOR[predictor]))}"
        )


SCHEMA = Schema(
    [
        enum("predictor_type", PREDICTOR_TYPES, required=True),
        integer("num_classes", min=3, max=1_000_000),
        integer("feature_dim", min=1, auto=True, default="auto"),
        integer("accuracy_top_k", min=1, default=3),
        boolean("balance_multiclass_weights", default=False),
        real("beta_1", min=0, max=1, exclusive_max=True, auto=True, default="auto"),
        real("beta_2", min=0, max=1, exclusive_max=True, auto=True, default="auto"),
        real("bias_lr_mult", min=0, exclusive_min=True, auto=True, default="auto"),
        real("bias_wd_mult", min=0, auto=True, default="auto"),
        enum(
            "binary_classifier_model_selection_criteria",
            (
                "accuracy",
                "f_beta",
                "f1",
                "precision_at_target_recall",
                "recall_at_target_precision",
                "loss_function",
                "cross_entropy_loss",
            ),
            default="accuracy",
        ),
        integer("early_stopping_patience", min=1, default=3),
        real("early_stopping_tolerance", min=0, exclusive_min=True, default=0.001),
        integer("epochs", min=1, default=15),
        real("f_beta", min=0, exclusive_min=True, default=1.0),
        real("huber_delta", min=0, default=1.0),
        real("init_bias", default=0.0),
        enum("init_method", ("uniform", "normal"), default="uniform"),
        real("init_scale", min=0, exclusive_min=True, default=0.07),
        real("init_sigma", min=0, exclusive_min=True, default=0.01),
        real("l1", min=0, auto=True, default="auto"),
        real("learning_rate", min=0, exclusive_min=True, auto=True, default="auto"),
        enum("loss", LOSSES, default="auto"),
        real("loss_insensitivity", min=0, exclusive_min=True, default=0.01),
        real(
            "lr_scheduler_factor",
            min=0,
            max=1,
            exclusive_min=True,
            exclusive_max=True,
            auto=True,
            default="auto",
        ),
        real("lr_scheduler_minimum_lr", min=0, exclusive_min=True, auto=True, default="auto"),
        integer("lr_scheduler_step", min=1, auto=True, default="auto"),
        real("margin", min=0, default=1.0),
        integer("mini_batch_size", min=1, default=1000),
        real("momentum", min=0, max=1, exclusive_max=True, auto=True, default="auto"),
        boolean("normalize_data", auto=True, default=True),
        boolean("normalize_label", auto=True, default="auto"),
        integer("num_calibration_samples", min=1, auto=True, default=10_000_000),
        integer("num_models", min=1, auto=True, default="auto"),
        integer("num_point_for_scaler", min=1, default=10_000),
        enum("optimizer", ("auto", "sgd", "adam", "rmsprop", "adagrad"), default="auto"),
        real(
            "positive_example_weight_mult",
            min=0,
            exclusive_min=True,
            auto=True,
            words=("balanced",),
            default=1.0,
        ),
        real("quantile", min=0, max=1, exclusive_min=True, exclusive_max=True, default=0.5),
        real("target_precision", min=0, max=1, exclusive_min=True, exclusive_max=True, default=0.8),
        real("target_recall", min=0, max=1, exclusive_min=True, exclusive_max=True, default=0.8),
        boolean("unbias_data", auto=True, default="auto"),
        boolean("unbias_label", auto=True, default="auto"),
        boolean("use_bias", default=True),
        boolean("use_lr_scheduler", default=True),
        real("wd", min=0, auto=True, default="auto"),
    ],
    checks=[
        require_if(
            "num_classes",
            lambda v: v["predictor_type"] == "multiclass_classifier",
            "when predictor_type is 'multiclass_classifier'",
        ),
        _loss_fits_predictor,
    ],
)

# Hyperparameters of AWS's SGD/Adam trainer that the emulator's exact solvers do not need.
OPTIMIZER_ONLY = (
    "beta_1",
    "beta_2",
    "bias_lr_mult",
    "early_stopping_patience",
    "early_stopping_tolerance",
    "epochs",
    "init_bias",
    "init_method",
    "init_scale",
    "init_sigma",
    "learning_rate",
    "lr_scheduler_factor",
    "lr_scheduler_minimum_lr",
    "lr_scheduler_step",
    "mini_batch_size",
    "momentum",
    "num_models",
    "optimizer",
    "use_lr_scheduler",
)
