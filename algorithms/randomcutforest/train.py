"""Random Cut Forest training: a forest from the train channel (unlabelled: CSV without a label
column, or RecordIO-protobuf); with a test channel (label 1 = anomaly), the eval_metrics on it,
calling scores above mean + 3 standard deviations of the training scores anomalous (the rule AWS's
RCF documentation gives): `#quality_metric: host=algo-1, test f1 <score>=0.9`."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from algorithms.common import data, metrics, model_io
from algorithms.common.environment import TrainingEnv
from algorithms.common.errors import CustomerError, DataError
from algorithms.randomcutforest.model import ALGORITHM, RandomCutForestModel

log = logging.getLogger("algorithm")

CHANNELS = ("train", "test")


def train(env: TrainingEnv, hp: dict[str, Any]) -> None:
    extra = sorted(set(env.channels) - set(CHANNELS))
    if extra:
        raise CustomerError(f"Unsupported channel(s) {', '.join(extra)}: Random Cut Forest reads train and test")
    if "train" not in env.channels:
        raise CustomerError("The 'train' channel is required")
    batch = data.read_channel(env.channels["train"], label_size=0)
    data.check_feature_dim(batch.features, hp["feature_dim"], "train")
    features = data.as_width(batch.features, hp["feature_dim"])
    started = time.monotonic()
    model = RandomCutForestModel.fit(features, hp["num_trees"], hp["num_samples_per_tree"])
    metrics.report_progress(env.current_host, 100)
    metrics.report_throughput(env.current_host, features.shape[0], time.monotonic() - started)
    log.info("anomaly score threshold (mean + 3 std of training scores): %.6f", model.threshold)
    if "test" in env.channels:
        test = data.read_channel(env.channels["test"], label_size=1)
        if test.labels is None:
            raise DataError("The data in channel 'test' has no labels (1 = anomaly, 0 = normal)")
        data.check_feature_dim(test.features, hp["feature_dim"], "test")
        scores = model.score(data.as_width(test.features, hp["feature_dim"]))
        metrics.report("test", env.current_host, evaluate(scores > model.threshold, test.labels, hp["eval_metrics"]))
    if env.is_master:
        meta, arrays = model.to_artifact()
        model_io.save(model_io.model_file(env.model_dir, env.current_host), ALGORITHM, meta, arrays)


def evaluate(predicted: np.ndarray, labels: np.ndarray, wanted: list[str]) -> list[metrics.Metric]:
    actual = np.asarray(labels).reshape(-1) > 0.5
    out = []
    if "accuracy" in wanted:
        out.append(metrics.score("accuracy", float(np.mean(predicted == actual))))
    if "precision_recall_fscore" in wanted:
        true_positive = float(np.sum(predicted & actual))
        precision = true_positive / max(1.0, float(np.sum(predicted)))
        recall = true_positive / max(1.0, float(np.sum(actual)))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out += [metrics.score("precision", precision), metrics.score("recall", recall), metrics.score("f1", f1)]
    return out
