"""The built-in XGBoost algorithm (algorithms/xgboost, image containers/xgboost) end to end.

Unchanged SageMaker SDK v2 code — `image_uris.retrieve("xgboost", ...)` + `Estimator` — trains on
scikit-learn's datasets through the emulator and must score within 2% of calling xgboost.train
directly with the same parameters; the model server answers like AWS's. The first tests need no
Docker: they exercise the algorithm's validation, readers and encoders on the host.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import textwrap

import numpy as np
import pytest
import xgboost as xgb
from sklearn import datasets

from algorithms.xgboost import data, hyperparameters, inference, metrics
from algorithms.xgboost.errors import UserError
from tests.jobhelpers import ROLE, log_messages, unique
from tests.serving import serve_container

VERSION = "1.7-1"


# --- helpers --------------------------------------------------------------------------------------

def split(X, y, seed=0):
    """train / validation / test = 60 / 20 / 20."""
    order = np.random.default_rng(seed).permutation(len(y))
    a, b = int(len(y) * 0.6), int(len(y) * 0.8)
    return [(X[idx], y[idx]) for idx in (order[:a], order[a:b], order[b:])]


def csv_bytes(X, y, weights=None) -> bytes:
    columns = [y] + ([weights] if weights is not None else []) + [X.T[i] for i in range(X.shape[1])]
    out = io.StringIO()
    np.savetxt(out, np.column_stack(columns).astype(np.float32), delimiter=",", fmt="%.9g")
    return out.getvalue().encode()


def libsvm_bytes(X, y) -> bytes:
    lines = (f"{label:g} " + " ".join(f"{j}:{v:.9g}" for j, v in enumerate(row) if v != 0) for row, label in zip(X, y))
    return ("\n".join(lines) + "\n").encode()


def score(objective: str, y, predictions) -> float:
    """Higher is better: accuracy for classifiers, -RMSE for regression."""
    if objective == "binary:logistic":
        return float(np.mean((predictions > 0.5) == y))
    if objective.startswith("multi:"):
        return float(np.mean(predictions == y))
    return -float(np.sqrt(np.mean((predictions - y) ** 2)))


def direct(params: dict, train, validation) -> xgb.Booster:
    """What a user would run by hand: xgboost.train with the same parameters and data."""
    rounds = params["num_round"]
    params = {k: v for k, v in params.items() if k not in ("num_round", "early_stopping_rounds")}
    dtrain = xgb.DMatrix(train[0].astype(np.float32), label=train[1])
    dval = xgb.DMatrix(validation[0].astype(np.float32), label=validation[1])
    return xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dtrain, "train"), (dval, "validation")],
                     verbose_eval=False)


def model_from(session, model_data: str) -> xgb.Booster:
    bucket, key = model_data[5:].split("/", 1)
    body = session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        raw = tar.extractfile("xgboost-model").read()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


# --- validation and readers, on the host ------------------------------------------------------------

@pytest.mark.parametrize("given, message", [
    ({}, "Missing required hyperparameter: num_round"),
    ({"num_round": "10", "foo": "1"}, "Extraneous hyperparameter found: foo"),
    ({"num_round": "ten"}, "Hyperparameter num_round: could not parse value (caused by JSONDecodeError)"),
    ({"num_round": "10", "eta": "2"}, "Hyperparameter eta: 2.0 is not in [0, 1]"),
    ({"num_round": "10", "objective": "multi:softmax"},
     "Require input for parameter 'num_class' for multi-classification"),
    ({"num_round": "10", "objective": "reg:squarederror", "eval_metric": "auc"},
     "Metric 'auc' can only be applied for classification and ranking problems."),
    ({"num_round": "10", "eval_metric": "rmse,bogus"}, "Hyperparameter eval_metric: value ['rmse', 'bogus'] not in range"),
    ({"num_round": "10", "monotone_constraints": "(1,-1)"},
     "monotone_constraints can be used only when the tree_method parameter is set to either 'exact' or 'hist'."),
])
def test_hyperparameter_errors_are_worded_like_aws(given, message):
    with pytest.raises(UserError) as info:
        hyperparameters.validate(given)
    assert str(info.value).startswith(message)


def test_hyperparameters_parse_aliases_and_skip_sagemaker_keys():
    hps = hyperparameters.validate({"num_round": "5.0", "learning_rate": "0.1", "eval_metric": "auc,error@0.4",
                                    "objective": "binary:logistic", "sagemaker_region": '"us-east-1"'})
    assert hps == {"num_round": 5, "eta": 0.1, "eval_metric": ["auc", "error@0.4"], "objective": "binary:logistic"}
    assert hyperparameters.booster_params(hps) == {"eta": 0.1, "objective": "binary:logistic"}
    assert hyperparameters.SCHEMA.value(hps, "csv_weights") == 0


def test_platform_metric_definitions_cover_every_eval_metric():
    from emulator.core.builtin_metrics import builtin_metric_definitions
    uri = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    names = {d["Name"] for d in builtin_metric_definitions(uri)}
    assert names == {f"{c}:{m}" for c in ("train", "validation") for m in metrics.ALL}
    line = "[12]#011train-rmse:1.25702#011validation-rmse:2.43126"
    found = {d["Name"]: re.search(d["Regex"], line).group(1)
             for d in builtin_metric_definitions(uri) if re.search(d["Regex"], line)}
    assert found == {"train:rmse": "1.25702", "validation:rmse": "2.43126"}


def test_readers_agree_across_content_types(tmp_path):
    from algorithms.common.recordio import write_dense
    X, y = datasets.load_diabetes(return_X_y=True)
    X, y = X[:50].astype(np.float32), y[:50].astype(np.float32)
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "part-1.csv").write_bytes(csv_bytes(X[:20], y[:20]))
    (tmp_path / "csv" / "sub").mkdir()
    (tmp_path / "csv" / "sub" / "part-2.csv").write_bytes(csv_bytes(X[20:], y[20:]))
    (tmp_path / "csv" / "_SUCCESS").write_text("ignored")
    (tmp_path / "libsvm").mkdir()
    (tmp_path / "libsvm" / "d.txt").write_bytes(libsvm_bytes(X, y))
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "d.rec").write_bytes(write_dense(X, y))
    import pandas as pd
    (tmp_path / "pq").mkdir()
    pd.DataFrame(np.column_stack([y, X]), columns=[f"c{i}" for i in range(X.shape[1] + 1)]).to_parquet(
        tmp_path / "pq" / "d.parquet")
    for fmt, folder in [("csv", "csv"), ("libsvm", "libsvm"), ("recordio-protobuf", "rec"), ("parquet", "pq")]:
        matrix = data.load(tmp_path / folder, fmt)
        assert matrix.num_row() == 50 and matrix.num_col() == X.shape[1], fmt
        np.testing.assert_allclose(matrix.get_label(), y, rtol=1e-6)
    weighted = tmp_path / "weighted"
    weighted.mkdir()
    (weighted / "w.csv").write_bytes(csv_bytes(X, y, weights=np.arange(50, dtype=np.float32)))
    matrix = data.load(weighted, "csv", csv_weights=1)
    assert matrix.num_col() == X.shape[1]
    np.testing.assert_array_equal(matrix.get_weight(), np.arange(50))


def test_training_resumes_from_the_newest_checkpoint(tmp_path, capsys):
    from algorithms.xgboost import train
    X, y = datasets.load_diabetes(return_X_y=True)
    dtrain = xgb.DMatrix(X, label=y)
    train.fit(hyperparameters.validate({"num_round": "4"}), dtrain, None, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"xgboost-checkpoint.{i}" for i in range(4)]
    capsys.readouterr()
    booster = train.fit(hyperparameters.validate({"num_round": "6"}), dtrain, None, checkpoint_dir=tmp_path)
    assert booster.num_boosted_rounds() == 6
    # the log goes on from round 4, as AWS's container prints it after a restart
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["[4]", "[5]"]


def test_inference_encodings():
    model = inference.Model([], "multi:softprob", 3)
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], dtype=np.float32)
    body, content_type = inference.encode(probs, "text/csv", model)
    assert content_type == "text/csv; charset=utf-8"
    assert float(body.decode().splitlines()[0].split(",")[1]) == pytest.approx(0.7)
    body, _ = inference.encode(probs, "application/json", model)
    assert len(json.loads(body)["predictions"][0]["score"]) == 3
    rows = inference.select(probs, ["predicted_label", "probability", "labels"], model)
    assert rows[0] == {"predicted_label": 1, "probability": pytest.approx(0.7), "labels": [0, 1, 2]}


# --- end to end through the emulator ------------------------------------------------------------------

@pytest.fixture(scope="module")
def xgboost_image():
    from emulator.runtime.images import ensure_image
    return ensure_image("xgboost", print)


@pytest.fixture
def session(sagemaker_session):
    """The plugin's SDK session on the shared emulator, with a fresh default bucket."""
    return sagemaker_session


def image_uri(version: str = VERSION) -> str:
    from sagemaker import image_uris
    return image_uris.retrieve("xgboost", "us-east-1", version)


def upload(session, key: str, body: bytes) -> str:
    session.boto_session.client("s3").put_object(Bucket=session.default_bucket(), Key=key, Body=body)
    return f"s3://{session.default_bucket()}/{key.rsplit('/', 1)[0]}/"


def fit(session, hps: dict, channels: dict, *, content_type: str = "text/csv", instance_count: int = 1,
        version: str = VERSION, sharded: tuple[str, ...] = (), job_name: str | None = None):
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    estimator = Estimator(image_uri=image_uri(version), role=ROLE, instance_count=instance_count,
                          instance_type="ml.m5.large", sagemaker_session=session, hyperparameters=hps,
                          output_path=f"s3://{session.default_bucket()}/out")
    estimator.fit({name: TrainingInput(uri, content_type=content_type,
                                       distribution="ShardedByS3Key" if name in sharded else "FullyReplicated")
                   for name, uri in channels.items()}, wait=True, logs=False, job_name=job_name)
    return estimator


DATASETS = {
    "breast_cancer": (datasets.load_breast_cancer, {"objective": "binary:logistic", "eval_metric": "auc"}),
    "diabetes": (datasets.load_diabetes, {"objective": "reg:squarederror"}),
    "wine": (datasets.load_wine, {"objective": "multi:softmax", "num_class": 3}),
    "digits": (datasets.load_digits, {"objective": "multi:softmax", "num_class": 10, "eval_metric": "merror"}),
}


@pytest.mark.docker
@pytest.mark.parametrize("name", list(DATASETS))
def test_sdk_estimator_scores_like_xgboost_train(name, session, xgboost_image, record_property):
    load, extra = DATASETS[name]
    X, y = load(return_X_y=True)
    train, validation, test = split(X.astype(np.float32), y.astype(np.float32))
    hps = {"num_round": 40, "max_depth": 4, "eta": 0.2, **extra}
    estimator = fit(session, hps, {"train": upload(session, f"{name}/train/data.csv", csv_bytes(*train)),
                                   "validation": upload(session, f"{name}/validation/data.csv",
                                                        csv_bytes(*validation))})
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert "MetricDefinitions" not in desc["AlgorithmSpecification"]  # the user defined none
    watched = extra.get("eval_metric") or {"reg:squarederror": "rmse", "multi:softmax": "mlogloss"}[extra["objective"]]
    assert {m["MetricName"] for m in desc["FinalMetricDataList"]} == {f"train:{watched}", f"validation:{watched}"}

    booster = model_from(session, estimator.model_data)
    reference = direct(hps, train, validation)
    dtest = xgb.DMatrix(test[0])
    ours = score(extra["objective"], test[1], booster.predict(dtest))
    theirs = score(extra["objective"], test[1], reference.predict(dtest))
    record_property("scores", {"emulator": ours, "xgboost.train": theirs})
    print(f"{name}: emulator {ours:.4f} vs xgboost.train {theirs:.4f}")
    assert abs(ours - theirs) <= 0.02 * abs(theirs)
    # The last logged validation metric is the one of the final model.
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    evaluated = reference.eval(xgb.DMatrix(validation[0], label=validation[1]), "validation")
    assert final[f"validation:{watched}"] == pytest.approx(float(evaluated.rsplit(":", 1)[1]), rel=1e-4)


@pytest.mark.docker
@pytest.mark.parametrize("hps, channels, reason", [
    ({"objective": "binary:logistic"}, ("train",), "Missing required hyperparameter: num_round"),
    ({"num_round": 5, "eta": 2}, ("train",), "Hyperparameter eta: 2.0 is not in [0, 1]"),
    ({"num_round": 5}, ("train", "test"), "Extraneous channel found: test"),
])
def test_invalid_jobs_fail_with_aws_failure_reason(hps, channels, reason, session, xgboost_image):
    from sagemaker.exceptions import UnexpectedStatusException
    X, y = datasets.load_breast_cancer(return_X_y=True)
    uri = upload(session, "bad/train/data.csv", csv_bytes(X[:100], y[:100]))
    job = unique("xgb-invalid")
    with pytest.raises(UnexpectedStatusException):
        fit(session, hps, {channel: uri for channel in channels}, job_name=job)
    desc = session.sagemaker_client.describe_training_job(TrainingJobName=job)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("AlgorithmError: framework error: \nTraceback (most recent call last):")
    assert desc["FailureReason"].rstrip().endswith(reason)


@pytest.mark.docker
def test_libsvm_input_and_older_tag(session, xgboost_image):
    X, y = datasets.load_breast_cancer(return_X_y=True)
    train, validation, test = split(X.astype(np.float32), y.astype(np.float32))
    hps = {"num_round": 30, "max_depth": 3, "objective": "binary:logistic"}
    estimator = fit(session, hps, {"train": upload(session, "svm/train/d.libsvm", libsvm_bytes(*train)),
                                   "validation": upload(session, "svm/validation/d.libsvm", libsvm_bytes(*validation))},
                    content_type="text/libsvm", version="1.0-1")
    booster = model_from(session, estimator.model_data)
    reference = direct(hps, train, validation)
    dtest = xgb.DMatrix(test[0])
    assert score("binary:logistic", test[1], booster.predict(dtest)) == pytest.approx(
        score("binary:logistic", test[1], reference.predict(dtest)), rel=0.02)


@pytest.mark.docker
def test_early_stopping_keeps_the_best_round(server, session, xgboost_image):
    X, y = datasets.load_diabetes(return_X_y=True)
    train, validation, _ = split(X, y)
    hps = {"num_round": 500, "eta": 0.5, "max_depth": 6, "early_stopping_rounds": 5, "eval_metric": "mae,rmse"}
    estimator = fit(session, hps, {"train": upload(session, "es/train/d.csv", csv_bytes(*train)),
                                   "validation": upload(session, "es/validation/d.csv", csv_bytes(*validation))})
    booster = model_from(session, estimator.model_data)
    rounds = booster.num_boosted_rounds()
    assert rounds < 100
    assert int(booster.attr("best_iteration")) == rounds - 1
    messages = log_messages(server.client("logs"), "/aws/sagemaker/TrainingJobs", estimator.latest_training_job.name)
    lines = [m for m in messages if re.match(r"\[\d+\]#011", m)]
    assert lines[0].startswith("[0]#011train-mae:") and "#011validation-rmse:" in lines[0]
    assert len(lines) == rounds + 5, messages[-4:]  # trained five rounds past the best, then stopped


@pytest.mark.docker
def test_two_instances_train_together(server, session, xgboost_image):
    X, y = datasets.load_breast_cancer(return_X_y=True)
    train, validation, test = split(X.astype(np.float32), y.astype(np.float32))
    half = len(train[1]) // 2
    upload(session, "dist/train/part-0.csv", csv_bytes(train[0][:half], train[1][:half]))
    uri = upload(session, "dist/train/part-1.csv", csv_bytes(train[0][half:], train[1][half:]))
    hps = {"num_round": 20, "max_depth": 3, "objective": "binary:logistic", "eval_metric": "auc"}
    estimator = fit(session, hps, {"train": uri, "validation": upload(session, "dist/validation/d.csv",
                                                                      csv_bytes(*validation))},
                    instance_count=2, sharded=("train",))
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert {m["MetricName"] for m in desc["FinalMetricDataList"]} == {"train:auc", "validation:auc"}
    messages = log_messages(server.client("logs"), "/aws/sagemaker/TrainingJobs", estimator.latest_training_job.name)
    assert any("Joined the training group as rank 1 of 2" in m for m in messages)
    # Each host trained on its own shard; together they saw the whole train set, like one host would.
    booster = model_from(session, estimator.model_data)
    reference = direct(hps, train, validation)
    dtest = xgb.DMatrix(test[0])
    assert score("binary:logistic", test[1], booster.predict(dtest)) == pytest.approx(
        score("binary:logistic", test[1], reference.predict(dtest)), abs=0.03)


@pytest.mark.docker
def test_script_mode_on_the_same_image(session, xgboost_image, tmp_path):
    from sagemaker.xgboost.estimator import XGBoost
    X, y = datasets.load_diabetes(return_X_y=True)
    src = tmp_path / "code"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent("""
        import argparse, os
        import numpy as np, xgboost as xgb
        p = argparse.ArgumentParser()
        p.add_argument("--num_round", type=int)
        a = p.parse_args()
        d = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "d.csv"), delimiter=",")
        bst = xgb.train({"max_depth": 3}, xgb.DMatrix(d[:, 1:], label=d[:, 0]), a.num_round)
        bst.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "script-model.json"))
        print("script mode trained", bst.num_boosted_rounds(), "rounds with xgboost", xgb.__version__)
    """))
    estimator = XGBoost(entry_point="train.py", source_dir=str(src), framework_version=VERSION, role=ROLE,
                        instance_type="ml.m5.large", instance_count=1, sagemaker_session=session,
                        hyperparameters={"num_round": 7})
    estimator.fit({"train": upload(session, "script/train/d.csv", csv_bytes(X, y))}, wait=True, logs=False)
    bucket, key = estimator.model_data[5:].split("/", 1)
    body = session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        model = json.loads(tar.extractfile("script-model.json").read())
    assert model["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] == "7"


@pytest.mark.docker
def test_script_written_for_aws_image_runs_as_a_module_with_its_helpers(server, session, xgboost_image, tmp_path):
    """`sagemaker_program="train"` runs train.py as `python -m train`, as AWS's image does, and the
    script can use the image's own sagemaker_xgboost_container.data_utils.get_dmatrix."""
    from sagemaker.estimator import Estimator
    X, y = datasets.load_diabetes(return_X_y=True)
    source = io.BytesIO()
    script = textwrap.dedent("""
        import os, sys
        import xgboost as xgb
        from sagemaker_xgboost_container.data_utils import get_content_type, get_dmatrix
        dtrain = get_dmatrix(os.environ["SM_CHANNEL_TRAIN"], get_content_type("text/csv"))
        assert get_dmatrix("/nowhere", "csv") is None
        bst = xgb.train({"max_depth": 2}, dtrain, int(sys.argv[sys.argv.index("--num_round") + 1]))
        bst.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model.json"))
        print("run as", __name__, __spec__.name, "rows", dtrain.num_row())
    """).encode()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    bucket = session.default_bucket()
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="aws-script/sourcedir.tar.gz",
                                                 Body=source.getvalue())
    estimator = Estimator(image_uri=image_uri(), role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          sagemaker_session=session, output_path=f"s3://{bucket}/out",
                          hyperparameters={"sagemaker_program": "train", "num_round": 4,
                                           "sagemaker_submit_directory": f"s3://{bucket}/aws-script/sourcedir.tar.gz"})
    estimator.fit({"train": upload(session, "aws-script/train/d.csv", csv_bytes(X, y))}, wait=True, logs=False)
    name = estimator.latest_training_job.name
    lines = log_messages(server.client("logs"), "/aws/sagemaker/TrainingJobs", name)
    assert any(f"run as __main__ train rows {len(y)}" in line for line in lines), lines[-20:]
    # 1.7-1 runs on the image's XGBoost 3.0.5, and the job log says so.
    assert any("framework version 1.7-1 of sagemaker-xgboost is not built here; running XGBoost 3.0.5" in line
               for line in lines)


# --- serving ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_model(xgboost_image, tmp_path_factory):
    """A model trained on the host, served by the image with `serve`, as an endpoint would run it."""
    X, y = datasets.load_breast_cancer(return_X_y=True)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), 20)
    model_dir = tmp_path_factory.mktemp("xgb-model")
    (model_dir / "xgboost-model").write_bytes(booster.save_raw("ubj"))
    with serve_container(xgboost_image, model_dir, labels={"sagemaker-emulator.test": "test_algorithm_xgboost"}) as url:
        yield url, booster, X


@pytest.mark.docker
def test_serve_csv_predictions_equal_the_boosters(served_model):
    import requests
    url, booster, X = served_model
    rows = X[:25]
    body = "\n".join(",".join(f"{v:.9g}" for v in row) for row in rows)
    response = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    served = np.array([float(v) for v in response.text.splitlines()])
    expected = booster.predict(xgb.DMatrix(np.array([[float(f"{v:.9g}") for v in row] for row in rows])))
    np.testing.assert_allclose(served, expected, rtol=1e-6)


@pytest.mark.docker
def test_serve_other_content_types_and_errors(served_model):
    import requests

    from algorithms.common.recordio import read_records, write_dense
    url, booster, X = served_model
    expected = booster.predict(xgb.DMatrix(X[:3].astype(np.float32)))
    as_json = requests.post(f"{url}/invocations", json={"instances": X[:3].astype(np.float32).tolist()},
                            headers={"Accept": "application/json"})
    assert [p["score"] for p in as_json.json()["predictions"]] == pytest.approx(expected.tolist(), rel=1e-6)
    libsvm = "\n".join(" ".join(f"{j}:{v:.9g}" for j, v in enumerate(row)) for row in X[:3].astype(np.float32))
    served = requests.post(f"{url}/invocations", data=libsvm, headers={"Content-Type": "text/libsvm"})
    assert [float(v) for v in served.text.split()] == pytest.approx(expected.tolist(), rel=1e-6)
    recordio = requests.post(f"{url}/invocations", data=write_dense(X[:3]),
                             headers={"Content-Type": "application/x-recordio-protobuf",
                                      "Accept": "application/x-recordio-protobuf"})
    scores = [r.label["score"].values[0] for r in read_records(recordio.content)]
    assert scores == pytest.approx(expected.tolist(), rel=1e-6)
    assert requests.post(f"{url}/invocations", data=b"", headers={"Content-Type": "text/csv"}).status_code == 204
    assert requests.post(f"{url}/invocations", data=b"a,b", headers={"Content-Type": "text/csv"}).status_code == 415
    assert requests.post(f"{url}/invocations", data=b"1,2", headers={"Content-Type": "image/png"}).status_code == 415
    assert requests.post(f"{url}/invocations", data=b"1,2", headers={"Accept": "text/html"}).status_code == 406
    params = requests.get(f"{url}/execution-parameters").json()
    assert params["BatchStrategy"] == "MULTI_RECORD" and params["MaxPayloadInMB"] == 6
