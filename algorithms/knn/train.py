"""k-NN training: sample `sample_size` labelled points, reduce their dimension if asked, keep them
as the index; score the test channel (accuracy for classifiers, mse for regressors) as AWS does:
`#test_score (algo-1) : ('accuracy', 0.98)`."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from algorithms.common import data, metrics, model_io
from algorithms.common.environment import TrainingEnv
from algorithms.common.errors import CustomerError, DataError
from algorithms.common.recordio import Batch
from algorithms.knn.model import ALGORITHM, KNNModel, projection_matrix

log = logging.getLogger("algorithm")

CHANNELS = ("train", "test")


def train(env: TrainingEnv, hp: dict[str, Any]) -> None:
    extra = sorted(set(env.channels) - set(CHANNELS))
    if extra:
        raise CustomerError(
            f"Unsupported channel(s) {', '.join(extra)}: k-NN reads the train and test channels"
        )
    if "train" not in env.channels:
        raise CustomerError("The 'train' channel is required")
    train_batch = _read(env, "train", hp)
    started = time.monotonic()
    model = fit(train_batch, hp)
    metrics.report_progress(env.current_host, 100)
    metrics.report_throughput(env.current_host, train_batch.features.shape[0], time.monotonic() - started)
    if hp["index_type"] != "faiss.Flat":
        log.info("index_type %s: the emulator answers with an exact (faiss.Flat) search", hp["index_type"])
    if "test" in env.channels:
        metrics.report("test", env.current_host, [evaluate(model, _read(env, "test", hp))])
    if env.is_master:
        meta, arrays = model.to_artifact()
        model_io.save(model_io.model_file(env.model_dir, env.current_host), ALGORITHM, meta, arrays)


def _read(env: TrainingEnv, channel: str, hp: dict[str, Any]) -> Batch:
    batch = data.read_channel(env.channels[channel])
    if batch.labels is None:
        raise DataError(f"The data in channel '{channel}' has no labels")
    if batch.labels.ndim > 1:
        batch = Batch(batch.features, batch.labels[:, 0])
    data.check_feature_dim(batch.features, hp["feature_dim"], channel)
    return Batch(data.as_width(batch.features, hp["feature_dim"]), batch.labels)


def fit(batch: Batch, hp: dict[str, Any]) -> KNNModel:
    features, labels = batch.features, batch.labels
    n = features.shape[0]
    if n > hp["sample_size"]:
        keep = np.sort(np.random.default_rng(0).choice(n, hp["sample_size"], replace=False))
        features, labels = features[keep], labels[keep]
        log.info("Sampled %d of %d training points", hp["sample_size"], n)
    projection = None
    if hp["dimension_reduction_type"]:
        projection = projection_matrix(
            hp["dimension_reduction_type"], hp["feature_dim"], hp["dimension_reduction_target"]
        )
    model = KNNModel(
        hp["k"],
        hp["predictor_type"],
        hp["index_metric"],
        features,
        labels.astype(np.float32),
        hp["feature_dim"],
        projection,
        hp["mini_batch_size"],
    )
    if projection is not None:
        model.points = model.project(features)
    from scipy import sparse

    if not sparse.issparse(model.points):
        model.points = np.ascontiguousarray(model.points, dtype=np.float32)
    return model


def evaluate(model: KNNModel, batch: Batch) -> metrics.Metric:
    _, indices = model.neighbors(batch.features)
    predicted = model.predicted_labels(indices)
    if model.predictor_type == "classifier":
        return metrics.score("accuracy", float(np.mean(predicted == batch.labels)))
    return metrics.loss("mse", float(np.mean((predicted - batch.labels) ** 2)))
