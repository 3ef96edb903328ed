"""Metric definitions the platform adds for built-in algorithms, even when the request has none
(container_contracts.md §1.7, §5.4, §6): keyed by the ECR repository of the training image.

Each algorithm registers its list here; the runner merges them under the user's own definitions.
"""

from __future__ import annotations

import re

# repository name (e.g. "sagemaker-xgboost") -> [{"Name": ..., "Regex": ...}, ...]
DEFINITIONS: dict[str, list[dict[str, str]]] = {}

_REPOSITORY = re.compile(r"^[^/]+\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)")


def repository_of(image_uri: str) -> str | None:
    match = _REPOSITORY.match(image_uri or "")
    return match.group("repo") if match else None


def builtin_metric_definitions(image_uri: str) -> list[dict[str, str]]:
    repo = repository_of(image_uri)
    return list(DEFINITIONS.get(repo, [])) if repo else []


# --- LinearLearner, k-NN, Factorization Machines (algorithms/{linear_learner,knn,factorization_machines}) ---
# Their containers print `#quality_metric: host=algo-1, test binary_classification_accuracy <score>=0.99`
# (algorithms/common/metrics.py). LinearLearner's list is the one AWS injects (observed in a real
# DescribeTrainingJob), plus roc_auc_score and rmse, which the current docs list as well.

def _quality(name: str, pattern: str) -> dict[str, str]:
    return {"Name": name, "Regex": r"#quality_metric: host=\S+, " + pattern + r"=(\S+)"}


_PROGRESS = [
    {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
    {"Name": "train:throughput",
     "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second"},
]

_LL_FINAL = {  # metric -> how the container names it in the log line
    "binary_classification_accuracy": "binary_classification_accuracy <score>",
    "binary_f_beta": r"binary_f_\S+ <score>",
    "precision": "precision <score>",
    "recall": "recall <score>",
    "roc_auc_score": "roc_auc_score <score>",
    "mse": "mse <loss>",
    "rmse": "rmse <loss>",
    "absolute_loss": "absolute_loss <loss>",
    "multiclass_accuracy": "multiclass_accuracy <score>",
    "multiclass_top_k_accuracy": r"multiclass_top_k_accuracy_\S+ <score>",
    "dcg": "dcg <score>",
    "macro_recall": "macro_recall <score>",
    "macro_precision": "macro_precision <score>",
    "macro_f_beta": r"macro_f_\S+ <score>",
}

DEFINITIONS["linear-learner"] = [
    _quality("train:objective_loss", r"epoch=\S+, train \S+_objective <loss>"),
    _quality("train:objective_loss:final", r"train \S+_objective <loss>"),
    _quality("validation:objective_loss", r"epoch=\S+, validation \S+_objective <loss>"),
    _quality("validation:objective_loss:final", r"validation \S+_objective <loss>"),
    _quality("test:objective_loss", r"test \S+_objective <loss>"),
    *(_quality(f"{channel}:{metric}", f"{channel} {pattern}")
      for channel in ("train", "validation", "test") for metric, pattern in _LL_FINAL.items()),
    *_PROGRESS,
]

DEFINITIONS["knn"] = [
    _quality("test:accuracy", "test accuracy <score>"),
    _quality("test:mse", "test mse <loss>"),
    *_PROGRESS,
]

DEFINITIONS["factorization-machines"] = [
    _quality("test:rmse", "test rmse <loss>"),
    _quality("test:binary_classification_accuracy", "test binary_classification_accuracy <score>"),
    _quality("test:binary_classification_cross_entropy", "test binary_classification_cross_entropy <loss>"),
    _quality("test:binary_f_beta", r"test binary_f_\S+ <score>"),
    _quality("train:rmse:epoch", r"epoch=\S+, train rmse <loss>"),
    _quality("train:binary_classification_accuracy:epoch",
             r"epoch=\S+, train binary_classification_accuracy <score>"),
    _quality("train:binary_classification_cross_entropy:epoch",
             r"epoch=\S+, train binary_classification_cross_entropy <loss>"),
    *_PROGRESS,
]

# Random Cut Forest (algorithms/randomcutforest): test:f1 is its documented tuning objective.
DEFINITIONS["randomcutforest"] = [
    _quality("test:f1", "test f1 <score>"),
    _quality("test:precision", "test precision <score>"),
    _quality("test:recall", "test recall <score>"),
    _quality("test:accuracy", "test accuracy <score>"),
    *_PROGRESS,
]


# --- XGBoost (algorithms/xgboost) ------------------------------------------------------------------
# The container prints `[12]\ttrain-rmse:1.25702\tvalidation-rmse:2.43126` each round; the platform
# injects one definition per metric and channel, with this regex (observed for sagemaker-xgboost
# 1.5-1). The names are every eval_metric the built-in algorithm accepts
# (algorithms/xgboost/metrics.py ALL; tests check the two lists agree).
_XGBOOST_METRICS = (
    "accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map", "ndcg", "precision",
    "r2", "recall", "precision_macro", "precision_micro", "recall_macro", "recall_micro",
    "aft-nloglik", "cox-nloglik", "error", "gamma-deviance", "gamma-nloglik", "interval-regression-accuracy",
    "logloss", "mae", "mape", "merror", "mlogloss", "mphe", "mse", "poisson-nloglik", "rmse", "rmsle",
    "tweedie-nloglik",
)

DEFINITIONS["sagemaker-xgboost"] = [
    {"Name": f"{channel}:{metric}",
     "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*"}
    for channel in ("train", "validation") for metric in _XGBOOST_METRICS
]
DEFINITIONS["xgboost"] = DEFINITIONS["sagemaker-xgboost"]  # the legacy first-party image logs alike
