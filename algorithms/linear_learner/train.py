"""LinearLearner training on scikit-learn's exact solvers.

AWS trains many SGD/Adam models in parallel (num_models) and keeps the best on the validation data;
the emulator solves the same regularised objective, mean(loss) + wd/2·||w||² + l1·||w||₁ on
normalised data, with a deterministic solver per loss:

    logistic / softmax_loss        LogisticRegression (lbfgs; saga when l1 > 0), C = 1 / (n·(wd + l1))
    hinge_loss                     LinearSVC(loss="hinge")
    squared_loss                   Ridge (ElasticNet when l1 > 0)
    absolute_loss / quantile_loss  QuantileRegressor (L1 penalty only)
    eps_insensitive_*              LinearSVR
    huber_loss                     SGDRegressor(loss="huber", epsilon=huber_delta)

wd/l1 "auto" mean 1e-4/0, or, when a validation channel is given and both are auto, the best of a
small wd grid on it (AWS's num_models tuning in miniature). Optimizer settings (learning_rate,
epochs, mini_batch_size, ...) are validated but have nothing to drive. Binary classifiers then
calibrate the decision threshold for binary_classifier_model_selection_criteria on the validation
data (or the training data), as AWS does.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np

from algorithms.common import data, metrics, model_io
from algorithms.common.environment import TrainingEnv
from algorithms.common.errors import CustomerError, DataError
from algorithms.common.recordio import Batch
from algorithms.linear_learner.hyperparameters import LOSSES_FOR, OPTIMIZER_ONLY
from algorithms.linear_learner.model import ALGORITHM, LinearModel, calibrate_threshold

log = logging.getLogger("algorithm")

CHANNELS = ("train", "validation", "test")
DEFAULT_WD = 1e-4
WD_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
ABSENT_CLASS_LOGIT = -50.0
OBJECTIVE_NAMES = {
    "logistic": "binary_classification_cross_entropy_objective",
    "softmax_loss": "multiclass_cross_entropy_objective",
    "squared_loss": "mse_objective",
}


def train(env: TrainingEnv, hp: dict[str, Any]) -> None:
    batches = read_channels(env, hp)
    started = time.monotonic()
    model = fit(batches["train"], hp, batches.get("validation"))
    host = env.current_host
    metrics.report_epoch("train", host, 0, objective(model, batches["train"], hp))
    if "validation" in batches:
        metrics.report_epoch("validation", host, 0, objective(model, batches["validation"], hp))
    metrics.report_progress(host, 100)
    metrics.report_throughput(host, batches["train"].features.shape[0], time.monotonic() - started)
    for channel in ("validation", "test"):
        if channel in batches:
            metrics.report(channel, host, evaluate(model, batches[channel], hp))
        elif channel == "test":
            log.info("Test data is not provided.")
    if env.is_master:
        meta, arrays = model.to_artifact()
        model_io.save(model_io.model_file(env.model_dir, host), ALGORITHM, meta, arrays)


def read_channels(env: TrainingEnv, hp: dict[str, Any]) -> dict[str, Batch]:
    extra = sorted(set(env.channels) - set(CHANNELS))
    if extra:
        raise CustomerError(
            f"Unsupported channel(s) {', '.join(extra)}: LinearLearner reads the train, "
            "validation and test channels"
        )
    if "train" not in env.channels:
        raise CustomerError("The 'train' channel is required")
    batches = {}
    for name in CHANNELS:
        if name in env.channels:
            batch = data.read_channel(env.channels[name])
            if batch.labels is None:
                raise DataError(f"The data in channel '{name}' has no labels")
            data.check_feature_dim(batch.features, hp["feature_dim"], name)
            check_labels(batch.labels, hp, name)
            batches[name] = batch
    width = batches["train"].features.shape[1] if hp["feature_dim"] == "auto" else hp["feature_dim"]
    for name, batch in batches.items():
        batches[name] = Batch(data.as_width(batch.features, width), batch.labels)
    return batches


def check_labels(labels: np.ndarray, hp: dict[str, Any], channel: str) -> None:
    if not np.all(np.isfinite(labels)):
        raise DataError(f"The labels in channel '{channel}' contain NaN or infinite values")
    predictor = hp["predictor_type"]
    if predictor == "binary_classifier" and not np.all(np.isin(labels, (0, 1))):
        bad = labels[~np.isin(labels, (0, 1))][0]
        raise DataError(
            f"Label values must be 0 or 1 for binary_classifier; channel '{channel}' has label {bad:g}"
        )
    if predictor == "multiclass_classifier":
        classes = hp["num_classes"]
        bad = labels[(labels != np.round(labels)) | (labels < 0) | (labels >= classes)]
        if bad.size:
            raise DataError(
                f"Label values must be integers in [0, {classes - 1}] (num_classes={classes}) for "
                f"multiclass_classifier; channel '{channel}' has label {bad[0]:g}"
            )


def resolve_loss(hp: dict[str, Any]) -> str:
    return LOSSES_FOR[hp["predictor_type"]][0] if hp["loss"] == "auto" else hp["loss"]


def fit(train: Batch, hp: dict[str, Any], validation: Batch | None = None) -> LinearModel:
    given = hp.get("_given", frozenset())
    unused = [name for name in OPTIMIZER_ONLY if name in given]
    if unused:
        log.info(
            "Hyperparameters of the SGD optimizer that the emulator's exact solver does not use: %s",
            ", ".join(unused),
        )
    if validation is not None and hp["wd"] == "auto" and hp["l1"] == "auto":
        candidates = [fit_one(train, hp, wd) for wd in WD_GRID]
        scored = [(selection_value(m, validation, hp), i) for i, m in enumerate(candidates)]
        best = max(scored)[1]
        log.info('Best model found for hyperparameters: {"wd": %g, "l1": 0.0}', WD_GRID[best])
        model = candidates[best]
    else:
        model = fit_one(train, hp, DEFAULT_WD if hp["wd"] == "auto" else hp["wd"])
    if hp["predictor_type"] == "binary_classifier":
        calibration = validation if validation is not None else train
        limit = hp["num_calibration_samples"]
        limit = len(calibration.labels) if limit == "auto" else limit
        scores = model.scores(calibration.features[:limit])
        default = 0.0 if model.loss == "hinge_loss" else 0.5
        model.threshold = calibrate_threshold(
            calibration.labels[:limit], scores, hp["binary_classifier_model_selection_criteria"], hp, default
        )
        log.info(
            "Calibrated decision threshold (%s): %g",
            hp["binary_classifier_model_selection_criteria"],
            model.threshold,
        )
    return model


def fit_one(train: Batch, hp: dict[str, Any], wd: float) -> LinearModel:
    from scipy import sparse

    X, y = train.features, train.labels.astype(np.float64)
    n, d = X.shape
    predictor, loss = hp["predictor_type"], resolve_loss(hp)
    l1 = 0.0 if hp["l1"] == "auto" else float(hp["l1"])
    mean, scale = feature_scaler(X, hp)
    if sparse.issparse(X):
        Xs = sparse.csr_matrix(X.multiply(1.0 / scale).astype(np.float64))
    else:
        Xs = (X.astype(np.float64) - mean) / scale
    y_mean, y_std = label_scaler(y, hp)
    ys = (y - y_mean) / y_std if predictor == "regressor" else y
    if predictor != "regressor" and len(np.unique(ys)) < 2:
        raise DataError(f"The training data of a {predictor} must contain at least two classes")
    estimator = make_estimator(predictor, loss, hp, n, wd, l1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the metrics say how good the fit is
        estimator.fit(Xs, ys.astype(np.int64) if predictor != "regressor" else ys)
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    if intercept.size != coef.shape[0]:
        intercept = np.resize(intercept, coef.shape[0])
    if predictor == "multiclass_classifier":
        coef, intercept = all_classes(coef, intercept, estimator.classes_.astype(np.int64), hp["num_classes"])
    # Fold the scalers in: raw = ((x - mean) / scale) @ w + b
    folded = coef / scale
    intercept = intercept - coef @ (mean / scale)
    if predictor == "regressor":
        folded, intercept = folded * y_std, intercept * y_std + y_mean
    return LinearModel(predictor, loss, folded, intercept, 0.0 if loss == "hinge_loss" else 0.5, d)


def all_classes(
    coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row per class 0..num_classes-1: classes absent from the training data never win (as a
    softmax output that was never pushed up), and a two-class fit's single row becomes two."""
    if coef.shape[0] == 1 and len(classes) == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
    full_coef = np.zeros((num_classes, coef.shape[1]))
    full_intercept = np.full(num_classes, ABSENT_CLASS_LOGIT)
    full_coef[classes], full_intercept[classes] = coef, intercept
    return full_coef, full_intercept


def feature_scaler(X: Any, hp: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each feature over num_point_for_scaler rows (AWS: "a small
    sample of the data"); sparse data is only scaled, not centred, unless unbias_data says so."""
    from scipy import sparse

    d = X.shape[1]
    if hp["normalize_data"] is False:
        return np.zeros(d), np.ones(d)
    is_sparse = sparse.issparse(X)
    unbias = (not is_sparse) if hp["unbias_data"] == "auto" else hp["unbias_data"]
    if unbias and is_sparse:
        raise CustomerError("unbias_data=true cannot be used with sparse data (centring would make it dense)")
    count = min(X.shape[0], hp["num_point_for_scaler"])
    rows = (
        X
        if count == X.shape[0]
        else X[np.sort(np.random.default_rng(0).choice(X.shape[0], count, replace=False))]
    )
    if is_sparse:
        rows = sparse.csr_matrix(rows, dtype=np.float64)
        mean = np.asarray(rows.mean(axis=0)).ravel()
        var = np.asarray(rows.multiply(rows).mean(axis=0)).ravel() - mean**2
    else:
        rows = np.asarray(rows, dtype=np.float64)
        mean, var = rows.mean(axis=0), rows.var(axis=0)
    scale = np.sqrt(np.maximum(var, 0))
    scale[scale == 0] = 1.0
    return (mean if unbias else np.zeros(d)), scale


def label_scaler(y: np.ndarray, hp: dict[str, Any]) -> tuple[float, float]:
    if hp["predictor_type"] != "regressor":
        return 0.0, 1.0
    normalize = True if hp["normalize_label"] == "auto" else hp["normalize_label"]
    if not normalize:
        return 0.0, 1.0
    unbias = True if hp["unbias_label"] == "auto" else hp["unbias_label"]
    std = float(np.std(y)) or 1.0
    return (float(np.mean(y)) if unbias else 0.0), std


def make_estimator(predictor: str, loss: str, hp: dict[str, Any], n: int, wd: float, l1: float) -> Any:
    from sklearn import linear_model, svm

    fit_intercept = bool(hp["use_bias"])
    strength = n * (wd + l1)
    C = 1.0 / strength if strength > 0 else np.inf
    if predictor in ("binary_classifier", "multiclass_classifier"):
        class_weight = class_weights(predictor, hp)
        if loss == "hinge_loss":
            return svm.LinearSVC(
                loss="hinge",
                C=C if np.isfinite(C) else 1e6,
                fit_intercept=fit_intercept,
                class_weight=class_weight,
                dual=True,
                max_iter=10000,
                random_state=0,
            )
        ratio = l1 / (wd + l1) if wd + l1 > 0 else 0.0
        return linear_model.LogisticRegression(
            C=C,
            l1_ratio=ratio,
            solver="saga" if ratio > 0 else "lbfgs",
            fit_intercept=fit_intercept,
            class_weight=class_weight,
            max_iter=5000,
            random_state=0,
        )
    if loss == "squared_loss":
        if l1 > 0:
            return linear_model.ElasticNet(
                alpha=wd + l1,
                l1_ratio=l1 / (wd + l1),
                fit_intercept=fit_intercept,
                max_iter=10000,
                random_state=0,
            )
        return linear_model.Ridge(alpha=n * wd, fit_intercept=fit_intercept)
    if loss in ("absolute_loss", "quantile_loss"):
        quantile = 0.5 if loss == "absolute_loss" else hp["quantile"]
        return linear_model.QuantileRegressor(quantile=quantile, alpha=l1, fit_intercept=fit_intercept)
    if loss in ("eps_insensitive_squared_loss", "eps_insensitive_absolute_loss"):
        kind = (
            "squared_epsilon_insensitive"
            if loss.startswith("eps_insensitive_squared")
            else "epsilon_insensitive"
        )
        return svm.LinearSVR(
            loss=kind,
            epsilon=hp["loss_insensitivity"],
            C=C if np.isfinite(C) else 1e6,
            fit_intercept=fit_intercept,
            dual=kind == "epsilon_insensitive",
            max_iter=10000,
            random_state=0,
        )
    if loss == "huber_loss":
        return linear_model.SGDRegressor(
            loss="huber",
            epsilon=hp["huber_delta"],
            alpha=max(wd, 1e-12),
            fit_intercept=fit_intercept,
            max_iter=2000,
            tol=1e-6,
            random_state=0,
        )
    raise CustomerError(f"Unsupported loss {loss} for predictor_type {predictor}")


def class_weights(predictor: str, hp: dict[str, Any]) -> Any:
    if predictor == "multiclass_classifier":
        return "balanced" if hp["balance_multiclass_weights"] else None
    weight = hp["positive_example_weight_mult"]
    if weight == "balanced":
        return "balanced"
    if weight == "auto" or weight == 1.0:
        return None
    return {0: 1.0, 1: float(weight)}


# --- evaluation ------------------------------------------------------------------------------------


def objective_name(loss: str) -> str:
    return OBJECTIVE_NAMES.get(loss, f"{loss}_objective")


def objective(model: LinearModel, batch: Batch, hp: dict[str, Any]) -> metrics.Metric:
    y = batch.labels.astype(np.float64)
    scores = model.scores(batch.features)
    loss = model.loss
    if loss == "logistic":
        value = metrics.log_loss_binary(y, scores)
    elif loss == "softmax_loss":
        value = float(-np.mean(np.log(np.clip(scores[np.arange(len(y)), y.astype(np.int64)], 1e-15, 1))))
    elif loss == "hinge_loss":
        if model.predictor_type == "binary_classifier":
            value = float(np.mean(np.maximum(0, hp["margin"] - (2 * y - 1) * scores)))
        else:
            truth = scores[np.arange(len(y)), y.astype(np.int64)]
            others = scores.copy()
            others[np.arange(len(y)), y.astype(np.int64)] = -np.inf
            value = float(np.mean(np.maximum(0, hp["margin"] - truth + others.max(axis=1))))
    else:
        r = scores - y
        eps = hp["loss_insensitivity"]
        if loss == "squared_loss":
            value = float(np.mean(r**2))
        elif loss == "absolute_loss":
            value = float(np.mean(np.abs(r)))
        elif loss == "eps_insensitive_squared_loss":
            value = float(np.mean(np.maximum(0, np.abs(r) - eps) ** 2))
        elif loss == "eps_insensitive_absolute_loss":
            value = float(np.mean(np.maximum(0, np.abs(r) - eps)))
        elif loss == "quantile_loss":
            q = hp["quantile"]
            value = float(np.mean(np.maximum(q * -r, (q - 1) * -r)))
        else:  # huber
            delta = hp["huber_delta"]
            a = np.abs(r)
            value = float(np.mean(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))))
    return metrics.loss(objective_name(loss), value)


def evaluate(model: LinearModel, batch: Batch, hp: dict[str, Any]) -> list[metrics.Metric]:
    """The scores LinearLearner reports for a validation or test channel."""
    y = batch.labels
    scores = model.scores(batch.features)
    out = [objective(model, batch, hp)]
    if model.predictor_type == "regressor":
        return out + metrics.regression(y, scores)
    predicted = model.labels(scores)
    if model.predictor_type == "binary_classifier":
        return out + metrics.binary_classification(y, predicted, scores, hp["f_beta"])
    return out + multiclass_metrics(y.astype(np.int64), scores, predicted, hp)


def multiclass_metrics(y: np.ndarray, scores: np.ndarray, predicted: np.ndarray, hp: dict[str, Any]) -> list:
    k = hp["accuracy_top_k"]
    classes = scores.shape[1]
    rank = (scores > scores[np.arange(len(y)), y][:, None]).sum(axis=1)  # 0 = the true class scored highest
    recalls, precisions, fs = [], [], []
    beta2 = hp["f_beta"] ** 2
    for c in range(classes):
        tp = np.sum((predicted == c) & (y == c))
        p = tp / max(np.sum(predicted == c), 1)
        r = tp / max(np.sum(y == c), 1)
        precisions.append(p)
        recalls.append(r)
        fs.append((1 + beta2) * p * r / (beta2 * p + r) if p + r else 0.0)
    present = np.unique(y)
    return [
        metrics.score("multiclass_accuracy", float(np.mean(predicted == y))),
        metrics.score(f"multiclass_top_k_accuracy_{k}", float(np.mean(rank < k))),
        metrics.score("dcg", float(np.mean(1.0 / np.log2(rank + 2)))),
        metrics.score("macro_recall", float(np.mean(np.array(recalls)[present]))),
        metrics.score("macro_precision", float(np.mean(np.array(precisions)[present]))),
        metrics.score(f"macro_f_{hp['f_beta']:.3f}", float(np.mean(np.array(fs)[present]))),
    ]


def selection_value(model: LinearModel, batch: Batch, hp: dict[str, Any]) -> float:
    """Higher is better: how AWS ranks its parallel models on the validation data."""
    if model.predictor_type == "binary_classifier":
        criterion = hp["binary_classifier_model_selection_criteria"]
        if criterion not in ("loss_function", "cross_entropy_loss"):
            scores = model.scores(batch.features)
            threshold = calibrate_threshold(batch.labels, scores, criterion, hp, model.threshold)
            found = {
                m.name: m.value
                for m in metrics.binary_classification(
                    batch.labels, (scores >= threshold).astype(np.int64), None, hp["f_beta"]
                )
            }
            if criterion == "accuracy":
                return found["binary_classification_accuracy"]
            if criterion in ("f_beta", "f1"):
                return found[f"binary_f_{hp['f_beta']:.3f}"]
            if criterion == "precision_at_target_recall":
                return found["precision"] if found["recall"] >= hp["target_recall"] else -1.0
            return found["recall"] if found["precision"] >= hp["target_precision"] else -1.0
    return -objective(model, batch, hp).value
