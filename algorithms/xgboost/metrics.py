"""Evaluation metrics: which exist, which way is better, the ones the container computes itself,
and the per-round log line the platform's metric definitions read.

Every round the container prints `[<i>]\\ttrain-<metric>:<v>\\tvalidation-<metric>:<v>` (tabs
become `#011` in CloudWatch), and the platform's definitions for the built-in image
(`.*\\[[0-9]+\\].*#011validation-auc:(...)`) turn them into `validation:auc` and friends
(container_contracts.md §5.4; the emulator's copy is emulator/runtime/builtin_metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xgboost as xgb

# AWS's lists (sagemaker-xgboost-container xgb_constants.py): what eval_metric accepts.
MAXIMIZE = ("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map", "ndcg",
            "precision", "r2", "recall", "precision_macro", "precision_micro", "recall_macro", "recall_micro")
MINIMIZE = ("aft-nloglik", "cox-nloglik", "error", "gamma-deviance", "gamma-nloglik",
            "interval-regression-accuracy", "logloss", "mae", "mape", "merror", "mlogloss", "mphe", "mse",
            "poisson-nloglik", "rmse", "rmsle", "tweedie-nloglik")
ALL = MAXIMIZE + MINIMIZE
# `error@0.3`, `ndcg@5`, `map@5`: XGBoost's own metrics with a threshold or cut-off
WITH_THRESHOLD = ("error", "ndcg", "map")


def is_maximized(metric: str) -> bool:
    return metric.split("@", 1)[0] in MAXIMIZE


# --- metrics XGBoost does not have, computed by the container --------------------------------------
# custom_metric receives transformed predictions for built-in objectives: probabilities for
# binary:logistic, the class for multi:softmax, one probability per class for multi:softprob.

def _labels_from(predictions: np.ndarray, objective: str) -> np.ndarray:
    if predictions.ndim == 2:                                     # multi:softprob
        return predictions.argmax(axis=1)
    if objective in ("binary:logistic", "reg:logistic"):
        return (predictions > 0.5).astype(np.int64)
    if objective == "binary:logitraw":
        return (predictions > 0.0).astype(np.int64)
    return np.rint(predictions).astype(np.int64)                 # multi:softmax, binary:hinge


def _confusion(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class (sorted union of labels): true positives, predicted count, actual count, classes."""
    classes = np.union1d(y, p)
    tp = np.array([np.sum((p == c) & (y == c)) for c in classes], dtype=float)
    predicted = np.array([np.sum(p == c) for c in classes], dtype=float)
    actual = np.array([np.sum(y == c) for c in classes], dtype=float)
    return tp, predicted, actual, classes


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return _ratio(2 * precision * recall, precision + recall)


def _classification(name: str, y: np.ndarray, p: np.ndarray) -> float:
    tp, predicted, actual, classes = _confusion(y, p)
    precision, recall = _ratio(tp, predicted), _ratio(tp, actual)
    positive = classes == 1
    if name == "accuracy":
        return float(np.mean(y == p))
    if name == "balanced_accuracy":
        return float(np.mean(recall[actual > 0]))
    if name in ("f1", "f1_macro"):
        return float(np.mean(_f1(precision, recall)))
    if name == "f1_binary":
        return float(_f1(precision[positive], recall[positive]).sum())
    if name in ("precision", "recall"):                          # binary: of the positive class
        return float((precision if name == "precision" else recall)[positive].sum())
    if name in ("precision_macro", "recall_macro"):
        return float(np.mean(precision if name == "precision_macro" else recall))
    return float(tp.sum() / max(len(y), 1))                       # micro averages equal accuracy


def _regression(name: str, y: np.ndarray, p: np.ndarray) -> float:
    if name == "mse":
        return float(np.mean((y - p) ** 2))
    residual = float(np.sum((y - p) ** 2))
    total = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - residual / total if total > 0 else 0.0           # r2


REGRESSION_ONLY = ("mse", "r2")
CONTAINER_METRICS = ("accuracy", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "precision",
                     "precision_macro", "precision_micro", "recall", "recall_macro", "recall_micro",
                     *REGRESSION_ONLY)


def split(metrics: list[str]) -> tuple[list[str], list[str]]:
    """(metrics XGBoost computes, metrics the container computes), order kept."""
    return ([m for m in metrics if m not in CONTAINER_METRICS], [m for m in metrics if m in CONTAINER_METRICS])


def custom_metric(names: list[str], objective: str) -> Callable[[np.ndarray, xgb.DMatrix], list[tuple[str, float]]]:
    def evaluate(predictions: np.ndarray, data: xgb.DMatrix) -> list[tuple[str, float]]:
        y = data.get_label()
        results = []
        for name in names:
            if name in REGRESSION_ONLY:
                results.append((name, _regression(name, y, predictions.reshape(len(y), -1)[:, 0])))
            else:
                results.append((name, _classification(name, y.astype(np.int64), _labels_from(predictions, objective))))
        return results
    return evaluate


# --- the per-round log line -------------------------------------------------------------------------

class EvaluationLog(xgb.callback.TrainingCallback):
    """Prints `[i]\ttrain-rmse:1.25702\tvalidation-rmse:2.43126` each round, on the master only.

    XGBoost's EvaluationMonitor routes the line through the tracker when training is distributed,
    which prefixes it with a timestamp; AWS's line starts with the round, so we print it ourselves.
    XGBoost keeps callbacks in a set and stops calling them once one (early stopping) ends training,
    so the last round may reach us only through after_training: rounds are printed from the
    evaluation history, each exactly once.
    """

    def __init__(self, is_master: bool, start_round: int = 0) -> None:
        super().__init__()
        self.is_master = is_master
        self.start_round = start_round
        self.printed = 0
        self.history: dict = {}

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        self.history = evals_log
        self._print_pending()
        return False

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        self._print_pending()
        return model

    def _print_pending(self) -> None:
        rounds = min((len(values) for per_metric in self.history.values() for values in per_metric.values()),
                     default=0)
        while self.printed < rounds:
            if self.is_master:
                fields = "".join(f"\t{data}-{metric}:{values[self.printed]:.5f}"
                                 for data, per_metric in self.history.items() for metric, values in per_metric.items())
                print(f"[{self.start_round + self.printed}]{fields}", flush=True)
            self.printed += 1
