"""The built-in XGBoost algorithm's hyperparameters, declared once.

Names, ranges and cross-parameter rules follow AWS's container (algorithm_mode/
hyperparameter_validation.py); defaults are the ones AWS documents (xgboost_hyperparameters.md),
which are XGBoost's own, so they are not passed on (see schema.py). One image serves every tag,
so the union of what the tags accept is accepted (e.g. `silent` of 1.0-1); XGBoost 3 warns about
parameters it no longer uses and ignores them, as newer AWS images do.
"""

from __future__ import annotations

from typing import Any

from algorithms.xgboost import metrics
from algorithms.xgboost.errors import UserError
from algorithms.xgboost.schema import (
    Categorical,
    CommaSeparatedList,
    Continuous,
    Integer,
    Interval,
    Literal,
    Schema,
)

OBJECTIVES = ["binary:hinge", "binary:logistic", "binary:logitraw", "count:poisson", "multi:softmax",
              "multi:softprob", "rank:map", "rank:ndcg", "rank:pairwise", "reg:absoluteerror", "reg:gamma",
              "reg:linear", "reg:logistic", "reg:pseudohubererror", "reg:quantileerror", "reg:squarederror",
              "reg:squaredlogerror", "reg:tweedie", "survival:aft", "survival:cox"]
MULTICLASS = ("multi:softmax", "multi:softprob")
TREE_UPDATERS = ["grow_colmaker", "distcol", "grow_histmaker", "grow_local_histmaker", "grow_skmaker",
                 "grow_quantile_histmaker", "sync", "refresh", "prune"]
LINEAR_UPDATERS = ["shotgun", "coord_descent"]


# --- rules that involve more than one hyperparameter ---------------------------------------------

def _objective(value: str, hps: dict[str, Any]) -> None:
    if value in MULTICLASS and "num_class" not in hps:
        raise UserError("Require input for parameter 'num_class' for multi-classification")


def _eval_metric(value: list[str], hps: dict[str, Any]) -> None:
    objective = hps.get("objective", "reg:squarederror")
    if "auc" in value and not objective.startswith(("binary:", "rank:")):
        raise UserError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in value and objective != "survival:aft":
        raise UserError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")


def _tree_method_is(methods: tuple[str, ...], name: str):
    def check(value: Any, hps: dict[str, Any]) -> None:
        if hps.get("tree_method") not in methods:
            raise UserError(f"{name} can be used only when the tree_method parameter is set to "
                            f"either {', '.join(repr(m) for m in methods[:-1])} or {methods[-1]!r}.")
    return check


def _updater(value: list[str], hps: dict[str, Any]) -> None:
    if hps.get("booster") == "gblinear":
        if not (len(value) == 1 and value[0] in LINEAR_UPDATERS):
            raise UserError("Linear updater should be one of these options: 'shotgun', 'coord_descent'.")
    elif hps.get("process_type") == "update":
        if not all(v in ("refresh", "prune") for v in value):
            raise UserError("process_type 'update' can only be used with updater 'refresh' and 'prune'")
    elif not all(v in TREE_UPDATERS for v in value):
        raise UserError(f"Tree updater should be selected from these options: "
                        f"{', '.join(repr(u) for u in TREE_UPDATERS)}.")


class _EvalMetrics:
    """eval_metric's range: AWS's metric names, plus `error@t`, `ndcg@n`, `map@n`."""

    def __contains__(self, metric: str) -> bool:
        if "@" not in metric:
            return metric in metrics.ALL
        name, threshold = metric.split("@", 1)
        if name not in metrics.WITH_THRESHOLD:
            raise UserError(f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized "
                            "threshold should be one of these options: 'error', 'ndcg', 'map'.")
        try:
            float(threshold.rstrip("-"))
        except ValueError:
            raise UserError(f"Threshold value 't' in '{name}@t' expects float input.") from None
        return True

    def __str__(self) -> str:
        return str(list(metrics.ALL))


_TUNING_METRICS = [f"{channel}:{m}" for channel in ("validation", "train") for m in metrics.ALL]

SCHEMA = Schema(
    Integer("num_round", required=True, range=Interval(min_closed=1)),
    Integer("num_class", range=Interval(min_closed=2)),
    Categorical("objective", default="reg:squarederror", range=OBJECTIVES, check=_objective),
    Categorical("booster", default="gbtree", range=["gbtree", "gblinear", "dart"]),
    Integer("verbosity", default=1, range=Interval(min_closed=0, max_closed=3)),
    Integer("silent", default=0, range=Interval(min_closed=0, max_closed=1)),
    Integer("nthread", range=Interval(min_closed=1)),
    Continuous("eta", default=0.3, range=Interval(min_closed=0, max_closed=1)),
    Continuous("gamma", default=0, range=Interval(min_closed=0)),
    Integer("max_depth", default=6, range=Interval(min_closed=0)),
    Continuous("min_child_weight", default=1, range=Interval(min_closed=0)),
    Continuous("max_delta_step", default=0, range=Interval(min_closed=0)),
    Continuous("subsample", default=1, range=Interval(min_open=0, max_closed=1)),
    Continuous("colsample_bytree", default=1, range=Interval(min_open=0, max_closed=1)),
    Continuous("colsample_bylevel", default=1, range=Interval(min_open=0, max_closed=1)),
    Continuous("colsample_bynode", default=1, range=Interval(min_open=0, max_closed=1)),
    Continuous("lambda", default=1, range=Interval(min_closed=0)),
    Continuous("alpha", default=0, range=Interval(min_closed=0)),
    Categorical("tree_method", default="auto", range=["auto", "exact", "approx", "hist", "gpu_hist"]),
    Continuous("sketch_eps", default=0.03, range=Interval(min_open=0, max_open=1)),
    Continuous("scale_pos_weight", default=1, range=Interval(min_open=0)),
    CommaSeparatedList("updater", range=TREE_UPDATERS + LINEAR_UPDATERS, check=_updater),
    Categorical("dsplit", default="row", range=["row", "col"]),
    Integer("refresh_leaf", default=1, range=Interval(min_closed=0, max_closed=1)),
    Categorical("process_type", default="default", range=["default", "update"]),
    Categorical("grow_policy", default="depthwise", range=["depthwise", "lossguide"]),
    Integer("max_leaves", default=0, range=Interval(min_closed=0)),
    Integer("max_bin", default=256, range=Interval(min_closed=0)),
    Categorical("predictor", default="auto", range=["auto", "cpu_predictor", "gpu_predictor"]),
    Literal("monotone_constraints", range=[-1, 0, 1], check=_tree_method_is(("exact", "hist"),
                                                                              "monotone_constraints")),
    Literal("interaction_constraints", range=Interval(min_closed=0),
            check=_tree_method_is(("exact", "hist", "approx"), "interaction_constraints")),
    Categorical("sample_type", default="uniform", range=["uniform", "weighted"]),
    Categorical("normalize_type", default="tree", range=["tree", "forest"]),
    Continuous("rate_drop", default=0.0, range=Interval(min_closed=0, max_closed=1)),
    Integer("one_drop", default=0, range=Interval(min_closed=0, max_closed=1)),
    Continuous("skip_drop", default=0.0, range=Interval(min_closed=0, max_closed=1)),
    Continuous("lambda_bias", default=0, range=Interval(min_closed=0, max_closed=1)),
    Continuous("tweedie_variance_power", default=1.5, range=Interval(min_open=1, max_open=2)),
    Continuous("base_score", default=0.5, range=Interval(min_closed=0)),
    Integer("seed", default=0, range=Interval(min_open=-(2 ** 31), max_open=2 ** 31 - 1)),
    Integer("num_parallel_tree", default=1, range=Interval(min_closed=1)),
    Categorical("aft_loss_distribution", default="normal", range=["normal", "logistic", "extreme"]),
    Continuous("aft_loss_distribution_scale", default=1.0, range=Interval(min_closed=0)),
    Categorical("single_precision_histogram", default="false", range=["true", "false"]),
    Categorical("deterministic_histogram", default="true", range=["true", "false"]),
    Categorical("sampling_method", default="uniform", range=["uniform", "gradient_based"]),
    Integer("prob_buffer_row", range=Interval(min_open=1.0)),
    Continuous("huber_slope", default=1.0, range=Interval(min_open=0)),
    Continuous("quantile_alpha", range=Interval(min_open=0, max_open=1)),
    # Interpreted by the container, never passed to XGBoost:
    CommaSeparatedList("eval_metric", range=_EvalMetrics(), check=_eval_metric),
    Integer("csv_weights", default=0, range=Interval(min_closed=0, max_closed=1)),
    Integer("early_stopping_rounds", range=Interval(min_closed=1)),
    Categorical("save_model_on_termination", default="false", range=["true", "false"]),
    Categorical("_tuning_objective_metric", range=_TUNING_METRICS),
    aliases={"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"},
)

CONTAINER_ONLY = ("num_round", "eval_metric", "csv_weights", "early_stopping_rounds", "save_model_on_termination",
                  "_tuning_objective_metric")


def validate(given: dict[str, str]) -> dict[str, Any]:
    """hyperparameters.json validated; keys `sagemaker_*` (the SDK's and the platform's) are not the algorithm's."""
    return SCHEMA.validate({k: v for k, v in given.items() if not k.startswith("sagemaker_")})


def booster_params(validated: dict[str, Any]) -> dict[str, Any]:
    """What goes to xgboost.train as `params`."""
    params = {k: v for k, v in validated.items() if k not in CONTAINER_ONLY}
    if "updater" in params:
        params["updater"] = ",".join(params["updater"])
    if params.get("objective") == "reg:linear":  # removed from XGBoost 2; AWS's tags accept it
        params["objective"] = "reg:squarederror"
    return params
