"""The first-party algorithms' formats, without Docker: RecordIO-protobuf as the SDK writes and reads
it, AWS's hyperparameter messages, request/response shapes, and log lines that the platform's metric
definitions (emulator/core/builtin_metrics.py) turn into the metrics AWS reports."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

from algorithms.common import entry, recordio, serving
from algorithms.common.hyperparameters import HyperparameterValidationError
from algorithms.linear_learner.model import calibrate_threshold
from emulator.core.builtin_metrics import DEFINITIONS


@pytest.fixture
def sdk_serializers():
    from sagemaker import serializer_utils

    return serializer_utils


# --- RecordIO-protobuf ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_recordio_reads_dense_records_the_sdk_writes(sdk_serializers, dtype):
    rng = np.random.default_rng(1)
    X = (rng.random((300, 7)) * 10).astype(dtype)
    y = rng.integers(0, 3, 300).astype(dtype)
    buffer = io.BytesIO()
    sdk_serializers.write_numpy_to_dense_tensor(buffer, X, y)
    batch = recordio.read_matrix(buffer.getvalue())
    assert np.array_equal(batch.features, X.astype("float32"))
    assert np.array_equal(batch.labels, y.astype("float32"))


def test_recordio_uniform_shards_take_the_vectorised_path(sdk_serializers):
    X = np.random.default_rng(2).random((500, 5)).astype("float32")
    buffer = io.BytesIO()
    sdk_serializers.write_numpy_to_dense_tensor(buffer, X, np.arange(500, dtype="float32"))
    fast = recordio._read_uniform_dense(buffer.getvalue())
    slow = recordio.records_to_matrix(recordio.read_records(buffer.getvalue()))
    assert fast is not None
    assert np.array_equal(fast.features, slow.features) and np.array_equal(fast.labels, slow.labels)


def test_recordio_reads_sparse_records_the_sdk_writes(sdk_serializers):
    X = sparse.random(40, 1000, density=0.01, format="csr", dtype="float32", random_state=3)
    buffer = io.BytesIO()
    sdk_serializers.write_spmatrix_to_sparse_tensor(buffer, X, np.ones(40, dtype="float32"))
    batch = recordio.read_matrix(buffer.getvalue())
    assert sparse.issparse(batch.features) and batch.features.shape == (40, 1000)
    assert (batch.features != X).nnz == 0


def test_recordio_responses_parse_with_the_sdk_deserializer(sdk_serializers):
    payload = recordio.write_label_records([{"score": 0.25, "predicted_label": 1}, {"score": [0.1, 0.9]}])
    records = sdk_serializers.read_records(io.BytesIO(payload))
    assert list(records[0].label["score"].float32_tensor.values) == [0.25]
    assert list(records[0].label["predicted_label"].float32_tensor.values) == [1.0]
    assert list(records[1].label["score"].float32_tensor.values) == pytest.approx([0.1, 0.9])


def test_recordio_rejects_garbage():
    with pytest.raises(recordio.RecordIOError):
        recordio.read_matrix(b"not a recordio file at all")


# --- hyperparameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, given, message",
    [
        (
            "linear-learner",
            {},
            "No value(s) were specified for 'predictor_type' which are required hyperparameter(s)",
        ),
        (
            "knn",
            {"feature_dim": "3", "predictor_type": "classifier"},
            "No value(s) were specified for 'k', 'sample_size' which are required hyperparameter(s)",
        ),
        (
            "factorization-machines",
            {"feature_dim": "3", "num_factors": "2", "predictor_type": "classifier"},
            (
                "The value 'classifier' is not valid for the 'predictor_type' hyperparameter which accepts "
                "one of the following: 'binary_classifier', 'regressor'"
            ),
        ),
        (
            "linear-learner",
            {"predictor_type": "regressor", "epochs": "ten"},
            (
                "The value 'ten' is not valid for the 'epochs' hyperparameter which expects an integer "
                "greater than or equal to 1"
            ),
        ),
        (
            "linear-learner",
            {"predictor_type": "regressor", "wd": "-1"},
            (
                "The value '-1' is not valid for the 'wd' hyperparameter which expects one of the "
                "following: 'auto'; or a float greater than or equal to 0"
            ),
        ),
        (
            "knn",
            {"feature_dim": "3", "predictor_type": "classifier", "k": "2", "sample_size": "5", "kk": "1"},
            "Additional hyperparameters are not allowed ('kk' was unexpected)",
        ),
        (
            "knn",
            {
                "feature_dim": "3",
                "predictor_type": "classifier",
                "k": "2",
                "sample_size": "5",
                "dimension_reduction_type": "sign",
            },
            (
                "No value(s) were specified for 'dimension_reduction_target' which are required "
                "hyperparameter(s)"
            ),
        ),
    ],
)
def test_hyperparameter_errors_read_like_aws(name, given, message):
    with pytest.raises(HyperparameterValidationError) as info:
        entry.algorithm(name).SCHEMA.validate(given)
    assert message in str(info.value)
    assert info.value.failure_text().startswith("ClientError: ")
    assert info.value.failure_text().endswith("(caused by ValidationError)")


def test_sdk_style_values_parse():
    values = entry.algorithm("linear-learner").SCHEMA.validate(
        {
            "predictor_type": "binary_classifier",
            "feature_dim": "10",
            "mini_batch_size": "100",
            "use_bias": "True",
            "positive_example_weight_mult": "balanced",
            "_tuning_objective_metric": "test:recall",
        }
    )
    assert values["feature_dim"] == 10 and values["use_bias"] is True
    assert values["positive_example_weight_mult"] == "balanced" and values["epochs"] == 15


# --- LinearLearner threshold calibration --------------------------------------------------------------


def test_threshold_calibration_follows_the_model_selection_criterion():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    hp = {"f_beta": 1.0, "target_recall": 1.0, "target_precision": 0.8}
    accuracy = calibrate_threshold(y, scores, "accuracy", hp, 0.5)
    assert np.mean((scores >= accuracy) == y) == 7 / 8
    recall = calibrate_threshold(y, scores, "precision_at_target_recall", hp, 0.5)
    assert np.all(scores[y == 1] >= recall) and recall > 0.3
    assert calibrate_threshold(y, scores, "loss_function", hp, 0.5) == 0.5


# --- requests and responses -----------------------------------------------------------------------------


def test_requests_decode_csv_json_jsonlines_and_recordio():
    rows = np.array([[1, 2, 3], [4, 5, 6]], dtype="float32")
    csv = serving.decode_request(b"1,2,3\n4,5,6\n", "text/csv", 3)
    document = json.dumps(
        {"instances": [{"features": [1, 2, 3]}, {"data": {"features": {"values": [4, 5, 6]}}}]}
    )
    as_json = serving.decode_request(document.encode(), "application/json", 3)
    lines = b'{"features": [1, 2, 3]}\n{"features": [4, 5, 6]}\n'
    as_lines = serving.decode_request(lines, "application/jsonlines", 3)
    as_recordio = serving.decode_request(recordio.write_dense(rows), "application/x-recordio-protobuf", 3)
    for decoded in (csv, as_json, as_lines, as_recordio):
        assert np.array_equal(np.asarray(decoded), rows)
    sparse_json = json.dumps(
        {"instances": [{"data": {"features": {"keys": [1], "values": [5.0], "shape": [3]}}}]}
    )
    decoded = serving.decode_request(sparse_json.encode(), "application/json", 3)
    assert decoded.toarray().tolist() == [[0.0, 5.0, 0.0]]


def test_request_errors_have_http_statuses():
    with pytest.raises(serving.RequestError) as info:
        serving.decode_request(b"1,2", "text/csv", 3)
    assert info.value.status == 400
    with pytest.raises(serving.RequestError) as info:
        serving.decode_request(b"x", "image/png", 3)
    assert info.value.status == 415
    with pytest.raises(serving.RequestError) as info:
        serving.choose_accept("text/html")
    assert info.value.status == 406
    assert serving.choose_accept(None) == ("application/json", {})
    assert serving.choose_accept("application/json; verbose=true") == (
        "application/json",
        {"verbose": "true"},
    )


# --- training logs -> platform metrics ----------------------------------------------------------------


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def ml_root(tmp_path: Path, hyperparameters: dict, channels: dict[str, tuple[str | None, bytes]]) -> Path:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    data_config = {}
    for name, (content_type, payload) in channels.items():
        directory = tmp_path / "input" / "data" / name
        directory.mkdir(parents=True)
        (directory / "part-0").write_bytes(payload)
        data_config[name] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
        if content_type:
            data_config[name]["ContentType"] = content_type
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    return tmp_path


def platform_metrics(repository: str, output: str) -> dict[str, float]:
    found = {}
    for line in output.replace("\t", "#011").splitlines():
        for definition in DEFINITIONS[repository]:
            match = re.search(definition["Regex"], line)
            if match:
                found[definition["Name"]] = float(match.group(1))
    return found


def csv_rows(X, y) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in (label, *row)) for label, row in zip(y, X)).encode()


@pytest.mark.parametrize(
    "repository, hyperparameters, dataset, expected",
    [
        (
            "linear-learner",
            {"predictor_type": "binary_classifier", "feature_dim": 30},
            load_breast_cancer,
            {
                "test:binary_classification_accuracy",
                "test:objective_loss",
                "test:binary_f_beta",
                "test:precision",
                "test:recall",
                "test:roc_auc_score",
                "validation:objective_loss",
                "validation:objective_loss:final",
                "validation:binary_classification_accuracy",
                "train:objective_loss",
                "train:progress",
                "train:throughput",
            },
        ),
        (
            "linear-learner",
            {"predictor_type": "multiclass_classifier", "num_classes": 10, "feature_dim": 64},
            load_digits,
            {
                "test:multiclass_accuracy",
                "test:multiclass_top_k_accuracy",
                "test:dcg",
                "test:macro_recall",
                "test:macro_precision",
                "test:macro_f_beta",
                "test:objective_loss",
            },
        ),
        (
            "linear-learner",
            {"predictor_type": "regressor", "feature_dim": 10, "loss": "absolute_loss"},
            load_diabetes,
            {"test:mse", "test:rmse", "test:absolute_loss", "test:objective_loss"},
        ),
        (
            "knn",
            {"predictor_type": "classifier", "feature_dim": 64, "k": 3, "sample_size": 500},
            load_digits,
            {"test:accuracy", "train:progress"},
        ),
        (
            "knn",
            {"predictor_type": "regressor", "feature_dim": 10, "k": 3, "sample_size": 500},
            load_diabetes,
            {"test:mse"},
        ),
        (
            "factorization-machines",
            {"predictor_type": "binary_classifier", "feature_dim": 30, "num_factors": 2, "epochs": 2},
            load_breast_cancer,
            {
                "test:binary_classification_accuracy",
                "test:binary_classification_cross_entropy",
                "test:binary_f_beta",
                "train:binary_classification_accuracy:epoch",
                "train:progress",
            },
        ),
        (
            "factorization-machines",
            {"predictor_type": "regressor", "feature_dim": 10, "num_factors": 2},
            load_diabetes,
            {"test:rmse", "train:rmse:epoch"},
        ),
    ],
)
def test_training_logs_give_the_platform_metrics(
    tmp_path, capsys, restore_logging, repository, hyperparameters, dataset, expected
):
    X, y = dataset(return_X_y=True)
    train, test = slice(0, 300), slice(300, None)
    protobuf = recordio.write_dense
    channels = {"train": (None, protobuf(X[train], y[train])), "test": (None, protobuf(X[test], y[test]))}
    if repository == "linear-learner" and hyperparameters["predictor_type"] == "binary_classifier":
        channels["validation"] = ("text/csv", csv_rows(X[test], y[test]))
    root = ml_root(tmp_path, hyperparameters, channels)
    assert entry.train(repository, root) == 0, (root / "output" / "failure").read_text()
    found = platform_metrics(repository, capsys.readouterr().out)
    assert expected <= set(found), sorted(found)
    predictor = entry.load_predictor(repository, root)
    rows = predictor.predict(np.asarray(X[test][:2], dtype="float32"), {})
    assert len(rows) == 2 and all(isinstance(row, dict) for row in rows)


def test_a_failed_training_writes_the_failure_file(tmp_path, restore_logging):
    root = ml_root(
        tmp_path,
        {"predictor_type": "regressor", "feature_dim": 5},
        {"train": ("text/csv", b"1,2,3\n4,5,6\n")},
    )
    assert entry.train("linear-learner", root) == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: The feature_dim hyperparameter (5) does not match")


def test_linear_learner_multiclass_keeps_every_declared_class(tmp_path, restore_logging):
    X, y = load_digits(return_X_y=True)
    keep = y < 4  # classes 4..9 never appear in the training data
    root = ml_root(
        tmp_path,
        {"predictor_type": "multiclass_classifier", "num_classes": 10, "feature_dim": 64},
        {"train": (None, recordio.write_dense(X[keep], y[keep]))},
    )
    assert entry.train("linear-learner", root) == 0
    rows = entry.load_predictor("linear-learner", root).predict(np.asarray(X[keep][:20], dtype="float32"))
    assert all(len(row["score"]) == 10 for row in rows)
    assert [row["predicted_label"] for row in rows] == [int(v) for v in y[keep][:20]]
