"""Metric log lines in the first-party algorithms' format, which the platform's metric definitions
(emulator/runtime/builtin_metrics.py) scrape into FinalMetricDataList:

    #test_score (algo-1) : ('binary_classification_accuracy', 0.9956076134699854)
    #quality_metric: host=algo-1, test binary_classification_accuracy <score>=0.9956076134699854
    #quality_metric: host=algo-1, epoch=0, train binary_classification_cross_entropy_objective <loss>=0.59

(observed in real LinearLearner logs; `<loss>` for metrics to minimise, `<score>` to maximise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("algorithm")


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    loss: bool  # True: lower is better ("<loss>"), False: "<score>"


def loss(name: str, value: float) -> Metric:
    return Metric(name, float(value), True)


def score(name: str, value: float) -> Metric:
    return Metric(name, float(value), False)


def report(channel: str, host: str, metrics: list[Metric]) -> None:
    """The final scores of a channel ('test', 'validation', 'train')."""
    for m in metrics:
        log.info("#%s_score (%s) : (%r, %r)", channel, host, m.name, m.value)
    for m in metrics:
        log.info("#quality_metric: host=%s, %s %s %s=%r", host, channel, m.name, _tag(m), m.value)


def report_epoch(channel: str, host: str, epoch: int, metric: Metric) -> None:
    log.info(
        "#quality_metric: host=%s, epoch=%d, %s %s %s=%r",
        host,
        epoch,
        channel,
        metric.name,
        _tag(metric),
        metric.value,
    )


def report_progress(host: str, percent: float) -> None:
    log.info("#progress_metric: host=%s, completed %g %% of epochs", host, percent)


def report_throughput(host: str, records: int, seconds: float) -> None:
    log.info(
        "#throughput_metric: host=%s, train throughput=%r records/second",
        host,
        float(records / seconds) if seconds > 0 else float(records),
    )


def _tag(metric: Metric) -> str:
    return "<loss>" if metric.loss else "<score>"


# --- metric computations shared by the algorithms --------------------------------------------------


def log_loss_binary(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def binary_classification(
    y: np.ndarray, predicted: np.ndarray, scores: np.ndarray | None, beta: float = 1.0
) -> list[Metric]:
    """accuracy, f_beta, precision, recall (+ roc_auc when scores are given), as LinearLearner reports."""
    y = y.astype(np.int64)
    predicted = predicted.astype(np.int64)
    tp = int(np.sum((predicted == 1) & (y == 1)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    b2 = beta * beta
    f_beta = (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0
    out = [
        score("binary_classification_accuracy", float(np.mean(predicted == y))),
        score(f"binary_f_{beta:.3f}", f_beta),
        score("precision", precision),
        score("recall", recall),
    ]
    if scores is not None and len(np.unique(y)) == 2:
        from sklearn.metrics import roc_auc_score

        out.append(score("roc_auc_score", roc_auc_score(y, scores)))
    return out


def regression(y: np.ndarray, predicted: np.ndarray) -> list[Metric]:
    error = predicted.astype(np.float64) - y.astype(np.float64)
    mse = float(np.mean(error**2))
    return [
        loss("mse", mse),
        loss("rmse", float(np.sqrt(mse))),
        loss("absolute_loss", float(np.mean(np.abs(error)))),
    ]
