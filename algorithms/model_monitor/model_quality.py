"""Model quality: metrics of predictions against ground truth, suggested constraints, violations.

Metric names, layout and statistics keys as the developer guide lists them
(model-monitor-model-quality-metrics): `binary_classification_metrics`,
`multiclass_classification_metrics`, `regression_metrics`; every scalar is
`{"value": v, "standard_deviation": s}`, where s is the standard deviation of the metric over 5
random 80% subsamples when there are at least 200 records and the string "NaN" otherwise.
`au_prc` is published by the real analyzer too (the SageMaker SDK's model quality dashboard
graphs it). Every value is scikit-learn's:

- confusion_matrix is {actual: {predicted: count}} over every label seen (the only reading
  consistent with the guide's example, whose precision/recall/best-constant values follow from it);
- binary metrics treat `positive_label` (environment), else 1 / true, else the largest label, as
  positive; the best constant classifier predicts the positive label for every record (the guide's
  example: accuracy_best_constant_classifier 0.25 with one positive in four);
- multiclass metrics are support-weighted (`average="weighted"`, which reproduces the guide's
  example); its best constant classifier predicts the largest label, which reproduces the guide's
  example too (where that label was "1");
- a binary prediction comes from inference_attribute, or from probability_attribute compared
  with probability_threshold_attribute (default 0.5, `>=` is positive); ROC/PR curves and auc use
  the probabilities when given, else the predicted labels.

Constraints take the baseline's value as threshold, `LessThanThreshold` for metrics where higher
is better and `GreaterThanThreshold` for error rates and errors. A violation reads "Metric f2 with
0.55 was LessThanThreshold 0.625".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as sk

from algorithms.model_monitor import records
from algorithms.model_monitor.contract import AnalyzerConfig, AnalyzerError

RESAMPLES = 5
RESAMPLE_FRACTION = 0.8
MIN_SAMPLES_FOR_STD = 200

SECTION = {"BinaryClassification": "binary_classification", "MulticlassClassification": "multiclass_classification",
           "Regression": "regression"}

# Metrics that get a constraint, and the direction in which they degrade.
CONSTRAINED = {
    "BinaryClassification": {
        "recall": "LessThanThreshold", "precision": "LessThanThreshold", "accuracy": "LessThanThreshold",
        "true_positive_rate": "LessThanThreshold", "true_negative_rate": "LessThanThreshold",
        "false_positive_rate": "GreaterThanThreshold", "false_negative_rate": "GreaterThanThreshold",
        "auc": "LessThanThreshold", "f0_5": "LessThanThreshold", "f1": "LessThanThreshold",
        "f2": "LessThanThreshold"},
    "MulticlassClassification": {
        "accuracy": "LessThanThreshold", "weighted_recall": "LessThanThreshold",
        "weighted_precision": "LessThanThreshold", "weighted_f0_5": "LessThanThreshold",
        "weighted_f1": "LessThanThreshold", "weighted_f2": "LessThanThreshold"},
    "Regression": {"mae": "GreaterThanThreshold", "mse": "GreaterThanThreshold", "rmse": "GreaterThanThreshold",
                   "r2": "LessThanThreshold"},
}

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


@dataclass
class Observations:
    """What the metrics are computed from, one entry per record."""

    truth: np.ndarray  # labels (str) or values (float) for regression
    predicted: np.ndarray
    scores: np.ndarray | None = None  # binary: probability of the positive label


# --- reading predictions and ground truth ----------------------------------------------------------

_PATH_TOKEN = re.compile(r"\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]|([^.\[\]]+)")


def json_path(value: Any, path: str) -> Any:
    """A small JSONPath: `$.a.b[0]`, `a.b[0]`, `['a']`, or a bare index into a list."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:].lstrip(".")
    for index, quoted, name in _PATH_TOKEN.findall(path):
        key = quoted or name
        if index:
            value = value[int(index)]
        elif isinstance(value, list) and key.lstrip("-").isdigit():
            value = value[int(key)]
        elif isinstance(value, dict):
            value = value[key]
        else:
            raise KeyError(path)
    return value


def _payload_value(event: dict | None, attribute: str | None) -> Any:
    """One attribute of a captured payload: a CSV field index, or a JSONPath into JSON."""
    if event is None:
        return None
    kind, data = records.decode_event_data(event)
    if kind == "csv":
        fields = records.csv_fields(data.strip().splitlines()[0]) if data.strip() else []
        index = int(attribute) if attribute not in (None, "") else 0
        return fields[index] if index < len(fields) else None
    value = json.loads(data)
    return json_path(value, attribute) if attribute not in (None, "") else value


def _merged_columns(config: AnalyzerConfig) -> pd.DataFrame:
    rows = []
    for event in records.capture_events(records.data_files(config.dataset_source), config.start_time,
                                        config.end_time):
        output = (event.get("captureData") or {}).get("endpointOutput")
        truth = event.get("groundTruthData")
        if truth is None:
            continue
        try:
            rows.append({
                "inference": _payload_value(output, config.inference_attribute) if config.inference_attribute
                else None,
                "probability": _payload_value(output, config.probability_attribute)
                if config.probability_attribute else None,
                "truth": _payload_value(truth, config.ground_truth_attribute),
            })
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise AnalyzerError(f"Cannot read the model's output or ground truth of event "
                                f"{(event.get('eventMetadata') or {}).get('eventId')}: {exc}") from None
    return pd.DataFrame(rows, columns=["inference", "probability", "truth"], dtype=object)


def _table_column(frame: pd.DataFrame, attribute: str | None, what: str) -> pd.Series | None:
    if attribute in (None, ""):
        return None
    name = attribute.removeprefix("$.")
    if name in frame.columns:
        return frame[name]
    if name.isdigit() and int(name) < frame.shape[1]:
        return frame.iloc[:, int(name)]
    raise AnalyzerError(f"{what} {attribute!r} is not a column of the dataset (columns: "
                        f"{', '.join(map(str, frame.columns))}).")


def read_observations(config: AnalyzerConfig, preprocess: records.Preprocessor | None = None) -> pd.DataFrame:
    """Columns inference / probability / truth (raw text) from the dataset."""
    if config.inference_attribute is None and config.probability_attribute is None:
        raise AnalyzerError("One of inference_attribute or probability_attribute is required.")
    if config.dataset_format.kind == "sagemakerMergeJson" and preprocess is None:
        frame = _merged_columns(config)
    else:
        table = records.read_table(config.dataset_source, config.dataset_format, preprocess,
                                   config.start_time, config.end_time).frame
        truth = _table_column(table, config.ground_truth_attribute, "ground_truth_attribute")
        if truth is None:
            raise AnalyzerError("ground_truth_attribute is required to analyze model quality of this dataset.")
        frame = pd.DataFrame({
            "inference": _table_column(table, config.inference_attribute, "inference_attribute"),
            "probability": _table_column(table, config.probability_attribute, "probability_attribute"),
            "truth": truth,
        }, dtype=object)
    needed = ["truth"] + (["inference"] if config.inference_attribute else []) + \
        (["probability"] if config.probability_attribute else [])
    frame = frame[frame[needed].notna().all(axis=1)]  # records without a label or prediction
    if frame.empty:
        raise AnalyzerError("No records with both a prediction and ground truth were found in the dataset.")
    return frame.reset_index(drop=True)


def _labels(values: pd.Series) -> np.ndarray:
    """Labels as text, integral numbers spelled without a fraction ("1.0" and "1" are one label)."""
    texts = values.map(lambda v: records.text(v) if not isinstance(v, str) else v.strip())
    numbers = pd.to_numeric(texts, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return numbers.astype(np.int64).astype(str).to_numpy()
    return texts.astype(str).to_numpy()


def _sorted_labels(labels: set[str]) -> list[str]:
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def positive_label(truth: np.ndarray, predicted: np.ndarray, configured: str | None) -> str:
    if configured is not None:
        return configured
    seen = set(truth) | set(predicted)
    for candidate in ("1", "true", "True", "TRUE"):
        if candidate in seen:
            return candidate
    return _sorted_labels(seen)[-1]


def observations(frame: pd.DataFrame, config: AnalyzerConfig) -> Observations:
    problem = config.problem_type
    if problem == "Regression":
        try:
            truth = pd.to_numeric(frame["truth"]).to_numpy(dtype=np.float64)
            source = frame["inference"] if config.inference_attribute else frame["probability"]
            predicted = pd.to_numeric(source).to_numpy(dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise AnalyzerError(f"Regression needs numeric predictions and ground truth: {exc}") from None
        return Observations(truth, predicted)
    truth = _labels(frame["truth"])
    probabilities = None
    if config.probability_attribute:
        probabilities = pd.to_numeric(frame["probability"], errors="coerce").to_numpy(dtype=np.float64)
    threshold = 0.5 if config.probability_threshold is None else config.probability_threshold
    if config.inference_attribute:
        raw = frame["inference"]
        numbers = pd.to_numeric(raw, errors="coerce")
        if (problem == "BinaryClassification" and config.probability_threshold is not None
                and numbers.notna().all() and (numbers != numbers.round()).any()):
            raw = (numbers >= threshold).astype(int)  # the inference is itself a probability
        predicted = _labels(raw)
    elif probabilities is not None and problem == "BinaryClassification":
        predicted = np.where(probabilities >= threshold, "1", "0").astype(object)
    else:
        raise AnalyzerError("MulticlassClassification needs inference_attribute (the predicted label).")
    if problem == "BinaryClassification" and config.inference_attribute is None:
        labels = set(truth)
        if not labels <= {"0", "1"}:  # map thresholded 1/0 onto the ground truth's own labels
            positive = positive_label(truth, np.array([]), config.positive_label)
            negative = next(iter(sorted(labels - {positive})), "0")
            predicted = np.where(predicted == "1", positive, negative)
    return Observations(truth, np.asarray(predicted, dtype=object).astype(str), probabilities)


# --- metrics ---------------------------------------------------------------------------------------


def _confusion(truth: np.ndarray, predicted: np.ndarray) -> dict:
    labels = _sorted_labels(set(truth) | set(predicted))
    matrix = sk.confusion_matrix(truth, predicted, labels=labels)
    return {actual: {pred: int(matrix[i][j]) for j, pred in enumerate(labels)} for i, actual in enumerate(labels)}


def _binary_scalars(t: np.ndarray, p: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """t, p: booleans (actual / predicted positive); scores: ranking scores for the positive class."""
    tn, fp, fn, tp = (int(v) for v in sk.confusion_matrix(t, p, labels=[False, True]).ravel())
    constant = np.ones_like(t)
    both_classes = 0 < t.sum() < len(t)
    out = {
        "recall": sk.recall_score(t, p, zero_division=0),
        "precision": sk.precision_score(t, p, zero_division=0),
        "accuracy": sk.accuracy_score(t, p),
        "recall_best_constant_classifier": sk.recall_score(t, constant, zero_division=0),
        "precision_best_constant_classifier": sk.precision_score(t, constant, zero_division=0),
        "accuracy_best_constant_classifier": sk.accuracy_score(t, constant),
        "true_positive_rate": tp / (tp + fn) if tp + fn else 0.0,
        "true_negative_rate": tn / (tn + fp) if tn + fp else 0.0,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "false_negative_rate": fn / (fn + tp) if fn + tp else 0.0,
        "auc": sk.roc_auc_score(t, scores) if both_classes else math.nan,
        "au_prc": _area_under_pr(t, scores) if t.any() else math.nan,
    }
    for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
        out[name] = sk.fbeta_score(t, p, beta=beta, zero_division=0)
        out[f"{name}_best_constant_classifier"] = sk.fbeta_score(t, constant, beta=beta, zero_division=0)
    return {k: float(v) for k, v in out.items()}


def _area_under_pr(t: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = sk.precision_recall_curve(t, scores)
    return float(sk.auc(recall, precision))


def _multiclass_scalars(truth: np.ndarray, predicted: np.ndarray, constant_label: str) -> dict[str, float]:
    constant = np.full(len(truth), constant_label, dtype=object).astype(str)
    out: dict[str, float] = {}
    for prefix, guess in (("", predicted), ("@", constant)):
        suffix = "_best_constant_classifier" if prefix else ""
        out[f"accuracy{suffix}"] = float(sk.accuracy_score(truth, guess))
        out[f"weighted_recall{suffix}"] = float(sk.recall_score(truth, guess, average="weighted", zero_division=0))
        out[f"weighted_precision{suffix}"] = float(sk.precision_score(truth, guess, average="weighted",
                                                                      zero_division=0))
        for beta, name in ((0.5, "weighted_f0_5"), (1.0, "weighted_f1"), (2.0, "weighted_f2")):
            out[f"{name}{suffix}"] = float(sk.fbeta_score(truth, guess, beta=beta, average="weighted",
                                                          zero_division=0))
    return out


def _regression_scalars(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    mse = float(sk.mean_squared_error(truth, predicted))
    return {"mae": float(sk.mean_absolute_error(truth, predicted)), "mse": mse, "rmse": math.sqrt(mse),
            "r2": float(sk.r2_score(truth, predicted)) if len(truth) > 1 else math.nan}


def _scalar(value: float, deviation: float | None) -> dict:
    def number(x: float | None) -> float | str:
        return "NaN" if x is None or math.isnan(x) else x
    return {"value": number(value), "standard_deviation": number(deviation)}


def _deviations(compute: Callable[[np.ndarray], dict[str, float]], n: int) -> dict[str, float]:
    if n < MIN_SAMPLES_FOR_STD:
        return {}
    rng = np.random.default_rng(0)  # reproducible: the same data gives the same report
    size = round(n * RESAMPLE_FRACTION)
    runs = [compute(np.sort(rng.choice(n, size=size, replace=False))) for _ in range(RESAMPLES)]
    return {name: float(np.std([run[name] for run in runs])) for name in runs[0]}


def metrics(obs: Observations, config: AnalyzerConfig) -> dict:
    """The `<problem>_metrics` section of statistics.json."""
    problem, n = config.problem_type, len(obs.truth)
    if problem == "Regression":
        def compute(index: np.ndarray) -> dict[str, float]:
            return _regression_scalars(obs.truth[index], obs.predicted[index])
        full = compute(np.arange(n))
        deviations = _deviations(compute, n)
        return {name: _scalar(value, deviations.get(name)) for name, value in full.items()}
    if problem == "BinaryClassification":
        positive = positive_label(obs.truth, obs.predicted, config.positive_label)
        t, p = obs.truth == positive, obs.predicted == positive
        scores = obs.scores if obs.scores is not None else p.astype(np.float64)

        def compute(index: np.ndarray) -> dict[str, float]:
            return _binary_scalars(t[index], p[index], scores[index])
        full = compute(np.arange(n))
        deviations = _deviations(compute, n)
        fpr, tpr, _ = sk.roc_curve(t, scores) if 0 < t.sum() < n else ([], [], None)
        precisions, recalls, _ = sk.precision_recall_curve(t, scores) if t.any() else ([], [], None)
        section: dict[str, Any] = {"confusion_matrix": _confusion(obs.truth, obs.predicted)}
        order = ["recall", "precision", "accuracy", "recall_best_constant_classifier",
                 "precision_best_constant_classifier", "accuracy_best_constant_classifier",
                 "true_positive_rate", "true_negative_rate", "false_positive_rate", "false_negative_rate"]
        section.update({name: _scalar(full[name], deviations.get(name)) for name in order})
        section["receiver_operating_characteristic_curve"] = {
            "false_positive_rates": [float(v) for v in fpr], "true_positive_rates": [float(v) for v in tpr]}
        section["precision_recall_curve"] = {  # recall ascending, as AWS lists it
            "precisions": [float(v) for v in precisions[::-1]], "recalls": [float(v) for v in recalls[::-1]]}
        for name in ("auc", "au_prc", "f0_5", "f1", "f2", "f0_5_best_constant_classifier",
                     "f1_best_constant_classifier", "f2_best_constant_classifier"):
            section[name] = _scalar(full[name], deviations.get(name))
        return section
    constant_label = _sorted_labels(set(obs.truth))[-1]

    def compute(index: np.ndarray) -> dict[str, float]:
        return _multiclass_scalars(obs.truth[index], obs.predicted[index], constant_label)
    full = compute(np.arange(n))
    deviations = _deviations(compute, n)
    section = {"confusion_matrix": _confusion(obs.truth, obs.predicted)}
    section.update({name: _scalar(value, deviations.get(name)) for name, value in full.items()})
    return section


def statistics(obs: Observations, config: AnalyzerConfig) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"version": 0.0, "dataset": {"item_count": len(obs.truth), "evaluation_time": now},
            f"{SECTION[config.problem_type]}_metrics": metrics(obs, config)}


def scalar_values(section: dict) -> dict[str, float]:
    """Metric name -> value for every scalar metric with a number (what CloudWatch receives)."""
    return {name: float(entry["value"]) for name, entry in section.items()
            if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float))}


def suggest_constraints(stats: dict, problem_type: str) -> dict:
    section = stats[f"{SECTION[problem_type]}_metrics"]
    values = scalar_values(section)
    return {"version": 0.0, f"{SECTION[problem_type]}_constraints": {
        name: {"threshold": values[name], "comparison_operator": operator}
        for name, operator in CONSTRAINED[problem_type].items() if name in values}}


def check(stats: dict, constraints: dict, problem_type: str) -> list[dict]:
    values = scalar_values(stats[f"{SECTION[problem_type]}_metrics"])
    violations = []
    for name, rule in (constraints.get(f"{SECTION[problem_type]}_constraints") or {}).items():
        operator = rule.get("comparison_operator", "LessThanThreshold")
        compare = COMPARISONS.get(operator)
        if compare is None:
            raise AnalyzerError(f"Unknown comparison_operator {operator!r} for metric {name} in baseline constraints; "
                                f"expected one of {', '.join(COMPARISONS)}.")
        if name not in values or rule.get("threshold") is None:
            continue
        threshold = float(rule["threshold"])
        if compare(values[name], threshold):
            violations.append({"constraint_check_type": operator, "description":
                               f"Metric {name} with {values[name]!r} was {operator} {threshold!r}",
                               "metric_name": name})
    return violations
