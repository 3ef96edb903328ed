"""Factorization Machines training: RecordIO-protobuf float32 data only (AWS: "Amazon SageMaker
Factorization Machines supports only recordIO-protobuf with Float32 tensors"), channels train and
test; per-epoch training metrics and the test scores AWS reports (test:rmse for regressors;
test:binary_classification_accuracy, test:binary_classification_cross_entropy, test:binary_f_beta
for binary classifiers)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from algorithms.common import data, metrics, model_io
from algorithms.common.environment import TrainingEnv
from algorithms.common.errors import CustomerError, DataError
from algorithms.common.recordio import Batch
from algorithms.factorization_machines.model import ALGORITHM, FMModel, fit

CHANNELS = ("train", "test")


def train(env: TrainingEnv, hp: dict[str, Any]) -> None:
    extra = sorted(set(env.channels) - set(CHANNELS))
    if extra:
        raise CustomerError(
            f"Unsupported channel(s) {', '.join(extra)}: Factorization Machines reads the train "
            "and test channels"
        )
    if "train" not in env.channels:
        raise CustomerError("The 'train' channel is required")
    batch = read(env, "train", hp)
    host = env.current_host

    started = time.monotonic()

    def on_epoch(epoch: int, model: FMModel) -> None:
        for metric in evaluate(model, batch):
            metrics.report_epoch("train", host, epoch, metric)
        metrics.report_progress(host, round(100 * (epoch + 1) / hp["epochs"]))
        metrics.report_throughput(host, batch.features.shape[0] * (epoch + 1), time.monotonic() - started)

    model = fit(batch.features, batch.labels, hp, on_epoch)
    if "test" in env.channels:
        metrics.report("test", host, evaluate(model, read(env, "test", hp)))
    if env.is_master:
        meta, arrays = model.to_artifact()
        model_io.save(model_io.model_file(env.model_dir, host), ALGORITHM, meta, arrays)


def read(env: TrainingEnv, channel: str, hp: dict[str, Any]) -> Batch:
    batch = data.read_channel(env.channels[channel], accepted=(data.RECORDIO,))
    if batch.labels is None:
        raise DataError(f"The data in channel '{channel}' has no labels")
    if hp["predictor_type"] == "binary_classifier" and not np.all(np.isin(batch.labels, (0, 1))):
        raise DataError(f"Label values must be 0 or 1 for binary_classifier (channel '{channel}')")
    data.check_feature_dim(batch.features, hp["feature_dim"], channel)
    return Batch(data.as_width(batch.features, hp["feature_dim"]), batch.labels)


def evaluate(model: FMModel, batch: Batch) -> list[metrics.Metric]:
    y = batch.labels.astype(np.float64)
    scores = model.scores(batch.features)
    if model.predictor_type == "regressor":
        return [metrics.loss("rmse", float(np.sqrt(np.mean((scores - y) ** 2))))]
    predicted = (scores >= 0.5).astype(np.int64)
    found = {m.name: m for m in metrics.binary_classification(y, predicted, None)}
    return [
        found["binary_classification_accuracy"],
        metrics.loss("binary_classification_cross_entropy", metrics.log_loss_binary(y, scores)),
        metrics.score("binary_f_beta", found["binary_f_1.000"].value),
    ]
