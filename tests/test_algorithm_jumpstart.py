"""JumpStart tabular algorithms (LightGBM, CatBoost, AutoGluon-Tabular, TabTransformer), end to end.

The SDK code of AWS's examples runs unchanged: `image_uris` / `script_uris` / `model_uris` /
`hyperparameters.retrieve_default(model_id=...)` read the emulator's JumpStart bucket, an
`Estimator(source_dir=script_uri, model_uri=..., entry_point="transfer_learning.py")` trains on a
scikit-learn dataset in the single-channel layout (training/train + training/validation), and the
artifact is served by the inference image (`serve`, port 8080, the inference script under
/opt/ml/model/code as the SDK repacks it). The served predictions score within 2% of the same
library called directly with the same parameters on the same rows (LightGBM and CatBoost here in
the test process; AutoGluon and tab-transformer-pytorch inside their images, which hold the libraries).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from emulator.testing.sdk import sdk_environment, sdk_session
from tests.jobhelpers import ROLE, read_tar, unique
from tests.serving import serve_container

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TOLERANCE = 0.02  # relative: "within 2% of the library called directly"
TEST_LABEL = {"sagemaker-emulator.test": "test_algorithm_jumpstart"}
TRAINING_INSTANCE = "ml.m5.xlarge"
INFERENCE_INSTANCE = "ml.m5.large"
SCORES: dict[str, tuple[float, float]] = {}  # model id -> (emulated, direct), printed at the end


def close(emulated: float, direct: float) -> bool:
    return abs(emulated - direct) <= TOLERANCE * abs(direct)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    # sdk_environment also rebuilds the JumpStart session the SDK made at import time, and the patch
    # undoes that (and every environment change) when the module ends.
    with pytest.MonkeyPatch.context() as patch:
        sdk_environment(patch, server, tmp_path_factory.mktemp("sdk"))
        bucket = unique("jumpstart")
        server.client("s3").create_bucket(Bucket=bucket)
        yield sdk_session(server, bucket)
    print("\nJumpStart scores (emulated vs direct):")
    for model_id, (emulated, direct) in SCORES.items():
        print(f"  {model_id}: {emulated:.4f} vs {direct:.4f}")


def dataset(task: str):
    X, y = (load_breast_cancer if task == "classification" else load_diabetes)(return_X_y=True)
    stratify = y if task == "classification" else None
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=stratify)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, random_state=0, stratify=y_rest if stratify is not None else None)
    return {"train": (X_train, y_train), "validation": (X_val, y_val), "test": (X_test, y_test)}


def csv_rows(X, y=None) -> str:
    rows = X if y is None else np.column_stack([y, X])
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"


def upload_training_data(session, task: str, data: dict) -> str:
    prefix = f"jumpstart/{task}-{unique('d')}"
    s3 = session.boto_session.client("s3")
    for channel in ("train", "validation"):
        s3.put_object(Bucket=session.default_bucket(), Key=f"{prefix}/{channel}/data.csv",
                      Body=csv_rows(*data[channel]).encode())
    return f"s3://{session.default_bucket()}/{prefix}/"


def score(task: str, y_true, output: dict) -> float:
    if task == "classification":
        return accuracy_score(y_true, np.asarray(output["probabilities"]).argmax(axis=1))
    return r2_score(y_true, output["prediction"])


# --- the user's code ------------------------------------------------------------------------------


def train_with_sdk(session, model_id: str, training_prefix: str, overrides: dict[str, str] | None = None):
    """AWS's example notebook code, unchanged apart from the session."""
    from sagemaker import hyperparameters, image_uris, model_uris, script_uris
    from sagemaker.estimator import Estimator

    train_image_uri = image_uris.retrieve(region=None, framework=None, model_id=model_id, model_version="*",
                                          image_scope="training", instance_type=TRAINING_INSTANCE)
    train_source_uri = script_uris.retrieve(model_id=model_id, model_version="*", script_scope="training")
    train_model_uri = model_uris.retrieve(model_id=model_id, model_version="*", model_scope="training")
    hps = hyperparameters.retrieve_default(model_id=model_id, model_version="*")
    hps.update(overrides or {})
    estimator = Estimator(role=ROLE, image_uri=train_image_uri, source_dir=train_source_uri,
                          model_uri=train_model_uri, entry_point="transfer_learning.py",
                          instance_count=1, instance_type=TRAINING_INSTANCE, max_run=3600,
                          hyperparameters=hps, output_path=f"s3://{session.default_bucket()}/output",
                          sagemaker_session=session)
    estimator.fit({"training": training_prefix}, logs=False)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return estimator, hps


def inference_image_and_code(session, model_id: str) -> tuple[str, dict[str, bytes]]:
    import docker
    from sagemaker import image_uris, script_uris

    from emulator.runtime.images import image_for_uri

    uri = image_uris.retrieve(region=None, framework=None, model_id=model_id, model_version="*",
                              image_scope="inference", instance_type=INFERENCE_INSTANCE)
    code = read_tar(session.boto_session.client("s3"),
                    script_uris.retrieve(model_id=model_id, model_version="*", script_scope="inference"))
    client = docker.from_env()
    try:
        return image_for_uri(uri, client, print), code
    finally:
        client.close()


@contextmanager
def serving(image: str, model: dict[str, bytes], code: dict[str, bytes], tmp_path: Path) -> Iterator[str]:
    """`docker run <image> serve` with model.tar.gz + code/ in /opt/ml/model (the SDK's repacked
    layout for JumpStart models) and the spec's inference environment; yields the base URL."""
    model_dir = tmp_path / "model"
    for name, content in {**model, **{f"code/{n}": c for n, c in code.items()}}.items():
        (model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (model_dir / name).write_bytes(content)
    environment = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                   "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with serve_container(image, model_dir, environment=environment, writable=True, timeout=180,
                         labels=TEST_LABEL) as url:
        yield url


def invoke(url: str, X, accept: str = "application/json") -> dict:
    response = requests.post(f"{url}/invocations", data=csv_rows(X).encode(), timeout=120,
                             headers={"Content-Type": "text/csv", "Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def run_end_to_end(session, tmp_path, model_id: str, task: str, overrides=None):
    """Train through the emulator, serve the artifact, return (served score, hyperparameters, data)."""
    data = dataset(task)
    estimator, hps = train_with_sdk(session, model_id, upload_training_data(session, task, data), overrides)
    model = read_tar(session.boto_session.client("s3"), estimator.model_data)
    image, code = inference_image_and_code(session, model_id)
    X_test, y_test = data["test"]
    with serving(image, model, code, tmp_path) as url:
        output = invoke(url, X_test)
        verbose = invoke(url, X_test[:3], "application/json;verbose")
    if task == "classification":
        assert set(output) == {"probabilities"}
        probabilities = np.asarray(output["probabilities"])
        assert probabilities.shape == (len(X_test), 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        assert set(verbose) == {"probabilities", "labels", "predicted_label"}
        assert verbose["labels"] == [0, 1]
        assert verbose["predicted_label"] == list(np.asarray(verbose["probabilities"]).argmax(axis=1))
    else:
        assert set(output) == {"prediction"}
        assert len(output["prediction"]) == len(X_test)
    return score(task, y_test, output), hps, data, model


def record(model_id: str, emulated: float, direct: float) -> None:
    SCORES[model_id] = (emulated, direct)
    assert close(emulated, direct), f"{model_id}: emulated {emulated:.4f} vs direct {direct:.4f}"


# --- LightGBM -------------------------------------------------------------------------------------


def direct_lightgbm(task: str, hps: dict, data: dict) -> float:
    import lightgbm as lgb

    names = ["learning_rate", "num_leaves", "feature_fraction", "bagging_fraction", "bagging_freq", "max_depth",
             "min_data_in_leaf", "max_delta_step", "lambda_l1", "lambda_l2", "boosting", "min_gain_to_split",
             "tree_learner", "feature_fraction_bynode", "max_bin", "num_threads", "verbosity"]
    params = {n: _typed(hps[n]) for n in names}
    if task == "classification":
        params.update(objective="multiclass", num_class=2, metric="multi_logloss",
                      scale_pos_weight=float(hps["scale_pos_weight"]), is_unbalance=hps["is_unbalance"] == "True")
    else:
        params.update(objective="regression", metric="rmse", tweedie_variance_power=float(hps["tweedie_variance_power"]))
    train = lgb.Dataset(_frame(data["train"][0]), data["train"][1])
    valid = lgb.Dataset(_frame(data["validation"][0]), data["validation"][1], reference=train)
    booster = lgb.train(params, train, num_boost_round=int(hps["num_boost_round"]), valid_sets=[valid],
                        callbacks=[lgb.early_stopping(int(hps["early_stopping_rounds"]), verbose=False)])
    output = booster.predict(_frame(data["test"][0]), num_iteration=booster.best_iteration)
    return score(task, data["test"][1], {"probabilities": output, "prediction": output})


@pytest.mark.parametrize("model_id,task", [("lightgbm-classification-model", "classification"),
                                           ("lightgbm-regression-model", "regression")])
def test_lightgbm_trains_serves_and_scores_like_lightgbm(session, tmp_path, model_id, task):
    emulated, hps, data, model = run_end_to_end(session, tmp_path, model_id, task)
    assert "model.pkl" in model
    record(model_id, emulated, direct_lightgbm(task, hps, data))


# --- CatBoost -------------------------------------------------------------------------------------


def direct_catboost(task: str, hps: dict, data: dict) -> float:
    from catboost import CatBoostClassifier, CatBoostRegressor

    names = ["iterations", "early_stopping_rounds", "learning_rate", "depth", "l2_leaf_reg", "random_strength",
             "rsm", "sampling_frequency", "min_data_in_leaf", "bagging_temperature", "grow_policy", "random_seed",
             "thread_count", "verbose"]
    params = {n: _typed(hps[n]) for n in names}
    metric = "MultiClass" if task == "classification" else "RMSE"
    model = (CatBoostClassifier if task == "classification" else CatBoostRegressor)(
        loss_function=metric, eval_metric=metric, allow_writing_files=False, **params)
    model.fit(_frame(data["train"][0]), data["train"][1], eval_set=(_frame(data["validation"][0]), data["validation"][1]),
              use_best_model=True)
    X_test = _frame(data["test"][0])
    if task == "classification":
        return score(task, data["test"][1], {"probabilities": model.predict_proba(X_test)})
    return score(task, data["test"][1], {"prediction": model.predict(X_test)})


@pytest.mark.parametrize("model_id,task", [("catboost-classification-model", "classification"),
                                           ("catboost-regression-model", "regression")])
def test_catboost_trains_serves_and_scores_like_catboost(session, tmp_path, model_id, task):
    emulated, hps, data, model = run_end_to_end(session, tmp_path, model_id, task)
    assert "model" in model
    record(model_id, emulated, direct_catboost(task, hps, data))


# --- AutoGluon-Tabular and TabTransformer: direct runs inside their images -------------------------


def direct_in_image(image: str, script: str, data: dict, tmp_path: Path) -> float:
    """Run `script` with python in `image` (which has the library); it prints the test score last."""
    import docker

    work = tmp_path / "direct"
    work.mkdir()
    for split_name, (X, y) in data.items():
        (work / f"{split_name}.csv").write_text(csv_rows(X, y))
    (work / "direct.py").write_text(textwrap.dedent(script))
    client = docker.from_env()
    try:
        output = client.containers.run(image, ["python", "/work/direct.py"], working_dir="/work", remove=True,
                                       labels=TEST_LABEL, volumes={str(work): {"bind": "/work", "mode": "rw"}},
                                       environment={"PYTHONPATH": "/work"})
    finally:
        client.close()
    return float(output.decode().strip().splitlines()[-1])


AUTOGLUON_DIRECT = """
    import pandas as pd
    from autogluon.tabular import TabularPredictor
    from sklearn.metrics import accuracy_score, r2_score
    hps = {hps!r}
    task = {task!r}
    def frame(name):
        df = pd.read_csv(f"/work/{{name}}.csv", header=None)
        df.columns = ["target"] + [f"feature_{{i}}" for i in range(df.shape[1] - 1)]
        if task == "classification":
            df["target"] = df["target"].astype("int64")
        return df
    train, validation, test = frame("train"), frame("validation"), frame("test")
    predictor = TabularPredictor(label="target", problem_type=None if task == "classification" else "regression",
                                 path="/tmp/ag", verbosity=0)
    predictor.fit(train, tuning_data=validation, presets=hps["presets"], auto_stack=False, num_bag_folds=0,
                  num_stack_levels=int(hps["num_stack_levels"]), refit_full=False, set_best_to_refit_full=False)
    X = test.drop(columns=["target"])
    if task == "classification":
        print(accuracy_score(test["target"], predictor.predict_proba(X).to_numpy().argmax(axis=1)))
    else:
        print(r2_score(test["target"], predictor.predict(X)))
"""


@pytest.mark.parametrize("model_id,task", [("autogluon-classification-ensemble", "classification"),
                                           ("autogluon-regression-ensemble", "regression")])
def test_autogluon_trains_serves_and_scores_like_autogluon(session, tmp_path, model_id, task):
    emulated, hps, data, model = run_end_to_end(session, tmp_path, model_id, task)
    assert "predictor.pkl" in model and "learner.pkl" in model  # TabularPredictor.load(model_dir)
    image, _ = inference_image_and_code(session, model_id)
    record(model_id, emulated, direct_in_image(image, AUTOGLUON_DIRECT.format(hps=hps, task=task), data, tmp_path))


TABTRANSFORMER_DIRECT = """
    # tab-transformer-pytorch used directly, as its README shows, with JumpStart's hyperparameters and
    # a plain training loop: Adam, mini-batches, early stopping on the validation loss.
    import copy
    import numpy as np, pandas as pd, torch
    from sklearn.metrics import accuracy_score, r2_score
    from tab_transformer_pytorch import TabTransformer
    hps, task = {hps!r}, {task!r}
    def split(name):
        df = pd.read_csv(f"/work/{{name}}.csv", header=None)
        return torch.tensor(df.iloc[:, 1:].to_numpy(np.float32)), df.iloc[:, 0].to_numpy()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split("train"), split("validation"), split("test")
    torch.manual_seed(0)
    regression = task == "regression"
    std = x_train.std(0, unbiased=False)
    mean_std = torch.stack([x_train.mean(0), torch.where(std > 0, std, torch.ones_like(std))], dim=1)
    shared = float(hps["frac_shared_embed"])
    model = TabTransformer(categories=[], num_continuous=x_train.shape[1], dim=int(hps["input_dim"]),
                           depth=int(hps["n_blocks"]), heads=8, dim_out=1 if regression else int(y_train.max()) + 1,
                           mlp_hidden_mults=(4, 2), attn_dropout=float(hps["attn_dropout"]),
                           ff_dropout=float(hps["mlp_dropout"]), continuous_mean_std=mean_std, num_residual_streams=1,
                           use_shared_categ_embed=shared > 0, shared_categ_dim_divisor=1 / shared if shared else 8.0)
    y_mean, y_std = (float(y_train.mean()), float(y_train.std(ddof=1))) if regression else (0.0, 1.0)
    def target(y):
        return torch.tensor((y - y_mean) / y_std, dtype=torch.float32) if regression else torch.tensor(y).long()
    def run(x):
        out = model(torch.zeros(len(x), 0, dtype=torch.long), x)
        return out.squeeze(1) if regression else out
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hps["learning_rate"]))
    batch, best, best_state, stale = int(hps["batch_size"]), float("inf"), None, 0
    shuffle = torch.Generator().manual_seed(0)
    for epoch in range(int(hps["n_epochs"])):
        model.train()
        for idx in torch.randperm(len(x_train), generator=shuffle).split(batch):
            optimizer.zero_grad()
            loss_fn(run(x_train[idx]), target(y_train)[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val = loss_fn(run(x_val), target(y_val)).item()
        if val < best:
            best, best_state, stale = val, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= int(hps["patience"]):
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        out = run(x_test)
    if regression:
        print(r2_score(y_test, out.numpy() * y_std + y_mean))
    else:
        print(accuracy_score(y_test, out.argmax(1).numpy()))
"""


@pytest.mark.parametrize("model_id,task", [("pytorch-tabtransformerclassification-model", "classification"),
                                           ("pytorch-tabtransformerregression-model", "regression")])
def test_tabtransformer_trains_serves_and_scores_like_the_library_run_directly(session, tmp_path, model_id, task):
    overrides = {"n_epochs": "40"}  # the default 5 epochs barely start on a few hundred rows
    emulated, hps, data, model = run_end_to_end(session, tmp_path, model_id, task, overrides)
    assert "model.pt" in model
    image, _ = inference_image_and_code(session, model_id)
    record(model_id, emulated, direct_in_image(image, TABTRANSFORMER_DIRECT.format(hps=hps, task=task), data, tmp_path))


# --- helpers --------------------------------------------------------------------------------------


def _frame(X):
    import pandas as pd

    return pd.DataFrame(X, columns=[f"feature_{i}" for i in range(X.shape[1])])


def _typed(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


# --- categorical columns, more than two classes, no validation data -------------------------------


@pytest.mark.parametrize("model_id,overrides", [
    ("lightgbm-classification-model", {}),
    ("catboost-classification-model", {}),
    ("autogluon-classification-ensemble", {}),
    ("pytorch-tabtransformerclassification-model", {"n_epochs": "40"}),
])
def test_categorical_columns_and_three_classes_without_validation_data(session, tmp_path, model_id, overrides):
    """Wine (3 classes) with three columns binned into integer categories named in
    categorical_index.json, CSV at the channel root and no validation data (20% held out)."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    for column in range(3):  # quantile bins 0..4: categorical values are non-negative integers
        X[:, column] = np.searchsorted(np.quantile(X[:, column], [0.2, 0.4, 0.6, 0.8]), X[:, column])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    prefix = f"jumpstart/wine-{unique('d')}"
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=session.default_bucket(), Key=f"{prefix}/data.csv", Body=csv_rows(X_train, y_train).encode())
    s3.put_object(Bucket=session.default_bucket(), Key=f"{prefix}/categorical_index.json",
                  Body=json.dumps({"cat_index_list": [1, 2, 3]}).encode())
    estimator, _ = train_with_sdk(session, model_id, f"s3://{session.default_bucket()}/{prefix}/", overrides)
    model = read_tar(session.boto_session.client("s3"), estimator.model_data)
    assert json.loads(model["model_info.json"])["categorical"] == [0, 1, 2]
    image, code = inference_image_and_code(session, model_id)
    with serving(image, model, code, tmp_path) as url:
        output = invoke(url, X_test, "application/json;verbose")
    assert set(output) == {"probabilities", "labels", "predicted_label"}
    assert output["labels"] == [0, 1, 2]
    assert np.asarray(output["probabilities"]).shape == (len(X_test), 3)
    assert accuracy_score(y_test, output["predicted_label"]) > 0.8


def test_jumpstart_estimator_trains_from_the_spec_with_its_metric_definitions(session):
    """JumpStartEstimator(model_id=...) takes everything from the spec: image, training script,
    placeholder model, default hyperparameters and the metric definitions it reads from the logs.
    The spec asks for network isolation, as AWS's does, so the code arrives as a `code` channel."""
    from sagemaker.jumpstart.estimator import JumpStartEstimator

    data = dataset("classification")
    estimator = JumpStartEstimator(model_id="lightgbm-classification-model", role=ROLE,
                                   instance_type=TRAINING_INSTANCE, sagemaker_session=session,
                                   hyperparameters={"num_boost_round": "200"})
    estimator.fit({"training": upload_training_data(session, "classification", data)}, logs=False)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    hyperparameters = {k: json.loads(v) for k, v in desc["HyperParameters"].items()}  # JSON-encoded, script mode
    assert hyperparameters["num_boost_round"] == "200" and hyperparameters["learning_rate"] == "0.009"
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert 0 < metrics["lightgbm-classification:multi-log-loss"] < 0.5
