"""LinearLearner, k-NN, Factorization Machines and Random Cut Forest behind their real image URIs, end to end.

Unchanged SageMaker SDK v2 code trains on scikit-learn datasets (record_set() RecordIO shards with a
ManifestFile, or CSV channels); each test-channel score reaches FinalMetricDataList under AWS's
metric name and is within 2% of the same library called directly here (for Factorization Machines,
which no library here implements, within 5% of a NumPy FM written in this file). The model artifacts are
then served by the same images (`serve`, port 8080) and read back with the SDK's deserializers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from emulator.testing.sdk import sdk_environment, sdk_session
from tests.jobhelpers import ROLE, read_tar, unique, wait_for
from tests.serving import serve_container

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TOLERANCE = 0.02  # relative: "within 2% of the library called directly"
TEST_LABEL = {"sagemaker-emulator.test": "test_algorithm_amazon"}
INSTANCE = "ml.m5.large"


def close(emulated: float, direct: float, tolerance: float = TOLERANCE) -> bool:
    return abs(emulated - direct) <= tolerance * abs(direct)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        sdk_environment(patch, server, tmp_path_factory.mktemp("sdk"))
        bucket = unique("amazon-algos")
        server.client("s3").create_bucket(Bucket=bucket)
        yield sdk_session(server, bucket)


@pytest.fixture(scope="module")
def local_images() -> dict[str, str]:
    """Build the images up front (cold: about a minute), so jobs don't spend it."""
    from emulator.runtime.images import ensure_image

    return {name: ensure_image(name, print)
            for name in ("linear-learner", "knn", "factorization-machines", "randomcutforest")}


def image_uri(repository: str) -> str:
    from sagemaker import image_uris

    return image_uris.retrieve(repository, "us-east-1")


def split(X, y, test_size=0.2):
    return train_test_split(X, y, test_size=test_size, random_state=0)


def final_metrics(estimator) -> dict[str, float]:
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}


def upload_csv(session, key: str, X, y) -> str:
    rows = "\n".join(",".join(repr(float(v)) for v in (label, *row)) for label, row in zip(y, X))
    session.boto_session.client("s3").put_object(Bucket=session.default_bucket(), Key=key, Body=rows.encode())
    return f"s3://{session.default_bucket()}/{key}"


@contextmanager
def serving(image: str, files: dict[str, bytes], tmp_path: Path) -> Iterator[str]:
    """`docker run <image> serve` with the model artifact in /opt/ml/model; yields the base URL."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, content in files.items():
        (model_dir / name).write_bytes(content)
    with serve_container(image, model_dir, labels=TEST_LABEL) as url:
        yield url


def invoke_recordio(url: str, features: np.ndarray) -> list:
    """What LinearLearnerPredictor / KNNPredictor / FactorizationMachinesPredictor do."""
    import requests
    from sagemaker.deserializers import RecordDeserializer
    from sagemaker.serializers import RecordSerializer

    serializer, deserializer = RecordSerializer(), RecordDeserializer()
    response = requests.post(
        f"{url}/invocations",
        data=serializer.serialize(features).read(),
        headers={"Content-Type": serializer.CONTENT_TYPE, "Accept": deserializer.ACCEPT[0]},
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-recordio-protobuf"
    return deserializer.deserialize(io.BytesIO(response.content), response.headers["Content-Type"])


def invoke_csv(url: str, features: np.ndarray, accept: str = "application/json") -> dict:
    import requests
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import CSVSerializer

    response = requests.post(
        f"{url}/invocations",
        data=CSVSerializer().serialize(features),
        headers={"Content-Type": "text/csv", "Accept": accept},
    )
    assert response.status_code == 200, response.text
    return JSONDeserializer().deserialize(io.BytesIO(response.content), response.headers["Content-Type"])


def label_values(records: list, key: str) -> np.ndarray:
    return np.array([list(r.label[key].float32_tensor.values) for r in records], dtype=np.float32).squeeze(-1)


# --- Random Cut Forest -----------------------------------------------------------------------------


def direct_rrcf_scores(X_train: np.ndarray, X_test: np.ndarray, num_trees: int, samples: int) -> np.ndarray:
    """rrcf used as its README shows: trees on random samples, a point's CoDisp once inserted."""
    import rrcf

    rng = np.random.default_rng(1)
    trees = [rrcf.RCTree(X_train[rng.choice(len(X_train), samples, replace=False)], random_state=i)
             for i in range(num_trees)]
    scores = np.zeros(len(X_test))
    for tree in trees:
        for row, point in enumerate(X_test):
            tree.insert_point(point, index="q")
            scores[row] += tree.codisp("q")
            tree.forget_point("q")
    return scores / num_trees


def test_random_cut_forest_scores_anomalies_like_rrcf(session, local_images, tmp_path):
    from sagemaker import RandomCutForest
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(1000, 3)).astype(np.float32)
    X_test = np.vstack([rng.normal(size=(200, 3)), rng.normal(loc=3.5, size=(20, 3))]).astype(np.float32)
    y_test = np.r_[np.zeros(200), np.ones(20)].astype(np.float32)
    rcf = RandomCutForest(role=ROLE, instance_count=1, instance_type=INSTANCE, sagemaker_session=session,
                          num_trees=50, num_samples_per_tree=128)
    rcf.fit([rcf.record_set(X_train), rcf.record_set(X_test, labels=y_test, channel="test")], logs=False)
    metrics = final_metrics(rcf)
    assert metrics["test:f1"] > 0.5 and {"test:precision", "test:recall", "test:accuracy"} <= set(metrics)
    files = read_tar(session.boto_session.client("s3"), rcf.model_data)
    with serving(local_images["randomcutforest"], files, tmp_path) as url:
        served = label_values(invoke_recordio(url, X_test), "score")  # what RandomCutForestPredictor reads
        as_json = invoke_csv(url, X_test[:3])
    assert [round(s["score"], 4) for s in as_json["scores"]] == [round(float(s), 4) for s in served[:3]]
    emulated = roc_auc_score(y_test, served)
    direct = roc_auc_score(y_test, direct_rrcf_scores(X_train.astype(np.float64), X_test.astype(np.float64), 50, 128))
    assert close(emulated, direct), f"AUC emulated {emulated:.4f} vs rrcf directly {direct:.4f}"


# --- LinearLearner ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X.astype("float32"), y.astype("float32"))
    return Xtr, Xte, ytr, yte


@pytest.fixture(scope="module")
def linear_binary(session, local_images, breast_cancer):
    from sagemaker import LinearLearner

    Xtr, Xte, ytr, yte = breast_cancer
    estimator = LinearLearner(
        role=ROLE,
        instance_count=1,
        instance_type=INSTANCE,
        predictor_type="binary_classifier",
        sagemaker_session=session,
    )
    estimator.fit(
        [
            estimator.record_set(Xtr, labels=ytr, channel="train"),
            estimator.record_set(Xte, labels=yte, channel="test"),
        ],
        wait=True,
        logs=False,
    )
    return estimator


def test_linear_learner_binary_record_set_scores_like_scikit_learn(linear_binary, breast_cancer):
    from sklearn.linear_model import LogisticRegression

    Xtr, Xte, ytr, yte = breast_cancer
    found = final_metrics(linear_binary)
    # LinearLearner: normalize_data (default true), wd "auto" -> 1e-4 on mean(loss): C = 1 / (n * wd)
    scaler = StandardScaler().fit(Xtr)
    direct = LogisticRegression(C=1 / (len(ytr) * 1e-4), max_iter=5000).fit(scaler.transform(Xtr), ytr)
    direct_accuracy = direct.score(scaler.transform(Xte), yte)
    emulated = found["test:binary_classification_accuracy"]
    print(
        f"LinearLearner binary (breast_cancer): emulator {emulated:.4f}, scikit-learn {direct_accuracy:.4f}"
    )
    assert close(emulated, direct_accuracy)
    for name in (
        "test:objective_loss",
        "test:binary_f_beta",
        "test:precision",
        "test:recall",
        "test:roc_auc_score",
        "train:objective_loss",
        "train:progress",
    ):
        assert name in found, sorted(found)
    desc = linear_binary.latest_training_job.describe()
    assert desc["HyperParameters"]["feature_dim"] == "30"  # the SDK set it from the RecordSet
    assert desc["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"


def test_linear_learner_model_serves_recordio_csv_and_json(
    linear_binary, breast_cancer, session, local_images, tmp_path
):
    _, Xte, _, yte = breast_cancer
    files = read_tar(session.boto_session.client("s3"), linear_binary.model_data)
    assert list(files) == ["model_algo-1"]
    with serving(local_images["linear-learner"], files, tmp_path) as url:
        records = invoke_recordio(url, Xte)
        predicted = label_values(records, "predicted_label")
        scores = label_values(records, "score")
        assert set(np.unique(predicted)) <= {0.0, 1.0} and np.all((scores >= 0) & (scores <= 1))
        # The served model is the one the test channel scored.
        accuracy = float(np.mean(predicted == yte))
        assert accuracy == pytest.approx(final_metrics(linear_binary)["test:binary_classification_accuracy"])
        body = invoke_csv(url, Xte[:3])
        assert [set(p) for p in body["predictions"]] == [{"score", "predicted_label"}] * 3
        assert [p["predicted_label"] for p in body["predictions"]] == [int(v) for v in predicted[:3]]
        import requests

        lines = requests.post(
            f"{url}/invocations",
            headers={"Content-Type": "application/json", "Accept": "application/jsonlines"},
            data=json.dumps(
                {
                    "instances": [
                        {"features": Xte[0].tolist()},
                        {"data": {"features": {"values": Xte[1].tolist()}}},
                    ]
                }
            ),
        )
        assert lines.status_code == 200
        assert [json.loads(line)["predicted_label"] for line in lines.text.splitlines()] == [
            int(v) for v in predicted[:2]
        ]
        bad = requests.post(f"{url}/invocations", data="1,2,3", headers={"Content-Type": "text/csv"})
        assert bad.status_code == 400 and "expects 30" in bad.text


def test_linear_learner_multiclass_from_csv_channels(session, local_images):
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X, y, test_size=0.3)
    estimator = Estimator(
        image_uri=image_uri("linear-learner"),
        role=ROLE,
        instance_count=1,
        instance_type=INSTANCE,
        sagemaker_session=session,
        hyperparameters={
            "predictor_type": "multiclass_classifier",
            "num_classes": 3,
            "feature_dim": 13,
            "wd": 0.01,
        },
    )
    estimator.fit(
        {
            "train": TrainingInput(upload_csv(session, "wine/train.csv", Xtr, ytr), content_type="text/csv"),
            "test": TrainingInput(upload_csv(session, "wine/test.csv", Xte, yte), content_type="text/csv"),
        },
        wait=True,
        logs=False,
    )
    found = final_metrics(estimator)
    scaler = StandardScaler().fit(Xtr)
    direct = LogisticRegression(C=1 / (len(ytr) * 0.01), max_iter=5000).fit(scaler.transform(Xtr), ytr)
    direct_accuracy = direct.score(scaler.transform(Xte), yte)
    print(
        f"LinearLearner multiclass (wine, CSV): emulator {found['test:multiclass_accuracy']:.4f}, "
        f"scikit-learn {direct_accuracy:.4f}"
    )
    assert close(found["test:multiclass_accuracy"], direct_accuracy)
    assert {"test:multiclass_top_k_accuracy", "test:dcg", "test:macro_f_beta", "test:objective_loss"} <= set(
        found
    )


def test_linear_learner_regressor_record_set(session, local_images):
    from sagemaker import LinearLearner
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X.astype("float32"), y.astype("float32"))
    estimator = LinearLearner(
        role=ROLE,
        instance_count=1,
        instance_type=INSTANCE,
        predictor_type="regressor",
        wd=0.001,
        sagemaker_session=session,
    )
    estimator.fit(
        [
            estimator.record_set(Xtr, labels=ytr, channel="train"),
            estimator.record_set(Xte, labels=yte, channel="test"),
        ],
        wait=True,
        logs=False,
    )
    found = final_metrics(estimator)
    # Normalised features and label, alpha = n * wd on mean(½ squared loss)
    xs = StandardScaler().fit(Xtr)
    mean, std = ytr.mean(), ytr.std()
    direct = Ridge(alpha=len(ytr) * 0.001).fit(xs.transform(Xtr), (ytr - mean) / std)
    direct_mse = float(np.mean((direct.predict(xs.transform(Xte)) * std + mean - yte) ** 2))
    print(
        f"LinearLearner regressor (diabetes): emulator mse {found['test:mse']:.2f}, "
        f"scikit-learn {direct_mse:.2f}"
    )
    assert close(found["test:mse"], direct_mse)
    assert {"test:absolute_loss", "test:objective_loss"} <= set(found)


# --- k-NN ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return split(X.astype("float32"), y.astype("float32"), test_size=0.25)


@pytest.fixture(scope="module")
def knn_classifier(session, local_images, digits):
    from sagemaker import KNN

    Xtr, Xte, ytr, yte = digits
    estimator = KNN(
        role=ROLE,
        instance_count=1,
        instance_type=INSTANCE,
        k=5,
        sample_size=2000,
        predictor_type="classifier",
        sagemaker_session=session,
    )
    estimator.fit(
        [
            estimator.record_set(Xtr, labels=ytr, channel="train"),
            estimator.record_set(Xte, labels=yte, channel="test"),
        ],
        mini_batch_size=500,
        wait=True,
        logs=False,
    )
    return estimator


def test_knn_classifier_record_set_scores_like_scikit_learn(knn_classifier, digits):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, Xte, ytr, yte = digits
    emulated = final_metrics(knn_classifier)["test:accuracy"]
    direct = KNeighborsClassifier(n_neighbors=5).fit(Xtr, ytr).score(Xte, yte)
    print(f"k-NN classifier (digits): emulator {emulated:.4f}, scikit-learn {direct:.4f}")
    assert close(emulated, direct)


def test_knn_model_serves_verbose_neighbours(knn_classifier, digits, session, local_images, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, Xte, ytr, _ = digits
    reference = KNeighborsClassifier(n_neighbors=5).fit(Xtr, ytr)
    model = read_tar(session.boto_session.client("s3"), knn_classifier.model_data)
    with serving(local_images["knn"], model, tmp_path) as url:
        records = invoke_recordio(url, Xte[:50])
        assert np.array_equal(label_values(records, "predicted_label"), reference.predict(Xte[:50]))
        body = invoke_csv(url, Xte[:2], accept="application/json; verbose=true")
        first = body["predictions"][0]
        assert set(first) == {"predicted_label", "distances", "labels"}
        distances, indices = reference.kneighbors(Xte[:1])
        assert first["distances"] == pytest.approx(
            (distances[0] ** 2).tolist(), rel=1e-4
        )  # faiss: squared L2
        assert first["labels"] == ytr[indices[0]].tolist()
        assert first["distances"] == sorted(first["distances"])


def test_knn_regressor_from_csv_channels(session, local_images):
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sklearn.neighbors import KNeighborsRegressor

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X, y)
    estimator = Estimator(
        image_uri=image_uri("knn"),
        role=ROLE,
        instance_count=1,
        instance_type=INSTANCE,
        sagemaker_session=session,
        hyperparameters={"k": 10, "sample_size": 1000, "predictor_type": "regressor", "feature_dim": 10},
    )
    estimator.fit(
        {
            "train": TrainingInput(
                upload_csv(session, "diabetes/train.csv", Xtr, ytr), content_type="text/csv;label_size=1"
            ),
            "test": TrainingInput(
                upload_csv(session, "diabetes/test.csv", Xte, yte), content_type="text/csv"
            ),
        },
        wait=True,
        logs=False,
    )
    emulated = final_metrics(estimator)["test:mse"]
    direct = float(np.mean((KNeighborsRegressor(n_neighbors=10).fit(Xtr, ytr).predict(Xte) - yte) ** 2))
    print(f"k-NN regressor (diabetes, CSV): emulator mse {emulated:.2f}, scikit-learn {direct:.2f}")
    assert close(emulated, direct)


# --- Factorization Machines -------------------------------------------------------------------------------

FM_HYPERPARAMETERS = {"num_factors": 4, "epochs": 20, "linear_lr": 0.01, "factors_lr": 0.001}
# AWS's documented defaults (fact-machines-hyperparameters.md) for what the SDK leaves unset.
FM_DEFAULTS = {"bias_lr": 0.1, "bias_wd": 0.01, "bias_init_sigma": 0.01, "linear_lr": 0.001, "linear_wd": 0.001,
               "linear_init_sigma": 0.01, "factors_lr": 0.0001, "factors_wd": 0.00001, "factors_init_sigma": 0.001,
               "epochs": 1, "mini_batch_size": 1000}
FM_SEEDS = range(1, 6)
FM_TOLERANCE = 0.05  # relative: the reference starts from other random draws; over five seeds it spans about ±3%


def reference_fm(X, y, hyperparameters: dict[str, str], seed: int):
    """Rendle's factorization machine written out here in NumPy, independently of the emulator's
    code: ŷ = w0 + x·w + Σ_{i<j} <v_i, v_j> x_i x_j with the pairwise weights W = VVᵀ (zero diagonal),
    trained by mini-batch Adam (MXNet's: weight decay added to the gradient) with the job's
    hyperparameters. Returns the scoring function (sigmoid for a binary classifier)."""
    hp = {**FM_DEFAULTS, **{k: float(v) for k, v in hyperparameters.items() if k in FM_DEFAULTS}}
    binary = hyperparameters["predictor_type"] == "binary_classifier"
    rng = np.random.default_rng(seed)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, d = X.shape
    params = {"bias": np.array(rng.normal(0, hp["bias_init_sigma"])),
              "linear": rng.normal(0, hp["linear_init_sigma"], d),
              "factors": rng.normal(0, hp["factors_init_sigma"], (d, int(hyperparameters["num_factors"])))}
    moments = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in params.items()}

    def score(rows):
        rows = np.asarray(rows, dtype=np.float64)
        pairwise = params["factors"] @ params["factors"].T
        np.fill_diagonal(pairwise, 0.0)
        out = params["bias"] + rows @ params["linear"] + 0.5 * np.einsum("ni,ij,nj->n", rows, pairwise, rows)
        return 1 / (1 + np.exp(-out)) if binary else out

    step, batch = 0, int(hp["mini_batch_size"])
    for _ in range(int(hp["epochs"])):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows, target = X[order[start:start + batch]], y[order[start:start + batch]]
            g = (score(rows) - target) / len(target)  # d loss / d raw, for the logistic and the ½ squared loss
            V = params["factors"]
            grads = {"bias": np.array(g.sum()), "linear": rows.T @ g,
                     "factors": (rows.T * g) @ rows @ V - ((rows**2).T @ g)[:, None] * V}
            step += 1
            for name, value in params.items():
                grad = grads[name] + hp[f"{name}_wd"] * value
                m, v = moments[name]
                m[...] = 0.9 * m + 0.1 * grad
                v[...] = 0.999 * v + 0.001 * grad * grad
                rate = hp[f"{name}_lr"] * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
                params[name] = value - rate * m / (np.sqrt(v) + 1e-8)
    return score


def reference_fm_median(metric, X, y, X_test, hyperparameters: dict[str, str]) -> float:
    return float(np.median([metric(reference_fm(X, y, hyperparameters, seed)(X_test)) for seed in FM_SEEDS]))


def fit_factorization_machines(session, predictor_type: str, Xtr, ytr, Xte, yte, **hyperparameters):
    """The SDK's FactorizationMachines estimator on train and test record sets."""
    from sagemaker import FactorizationMachines

    estimator = FactorizationMachines(role=ROLE, instance_count=1, instance_type=INSTANCE,
                                      predictor_type=predictor_type, sagemaker_session=session,
                                      **{**FM_HYPERPARAMETERS, **hyperparameters})
    estimator.fit([estimator.record_set(Xtr, labels=ytr, channel="train"),
                   estimator.record_set(Xte, labels=yte, channel="test")],
                  mini_batch_size=32, wait=True, logs=False)
    return estimator


@pytest.fixture(scope="module")
def fm_binary(session, local_images, breast_cancer):
    Xtr, Xte, ytr, yte = breast_cancer
    scaler = StandardScaler().fit(Xtr)  # FM does not normalise: users scale first
    Xtr, Xte = scaler.transform(Xtr).astype("float32"), scaler.transform(Xte).astype("float32")
    estimator = fit_factorization_machines(session, "binary_classifier", Xtr, ytr, Xte, yte)
    return estimator, (Xtr, Xte, ytr, yte)


def test_factorization_machines_binary_scores_like_a_reference_fm(fm_binary):
    from sklearn.linear_model import LogisticRegression

    estimator, (Xtr, Xte, ytr, yte) = fm_binary
    found = final_metrics(estimator)
    hyperparameters = estimator.latest_training_job.describe()["HyperParameters"]
    reference = reference_fm_median(lambda scores: np.mean((scores >= 0.5) == yte), Xtr, ytr, Xte, hyperparameters)
    baseline = LogisticRegression().fit(Xtr, ytr).score(Xte, yte)
    emulated = found["test:binary_classification_accuracy"]
    print(
        f"Factorization Machines binary (breast_cancer): emulator {emulated:.4f}, reference FM {reference:.4f}, "
        f"logistic regression {baseline:.4f}"
    )
    assert close(emulated, reference, FM_TOLERANCE)
    assert emulated >= baseline - 0.05  # a sound model, not just a reproducible one
    assert {
        "test:binary_classification_cross_entropy",
        "test:binary_f_beta",
        "train:binary_classification_accuracy:epoch",
    } <= set(found)


def test_factorization_machines_model_serves_recordio_and_json(fm_binary, session, local_images, tmp_path):
    estimator, (_, Xte, _, yte) = fm_binary
    with serving(
        local_images["factorization-machines"], read_tar(session.boto_session.client("s3"), estimator.model_data),
        tmp_path
    ) as url:
        records = invoke_recordio(url, Xte)
        predicted = label_values(records, "predicted_label")
        assert float(np.mean(predicted == yte)) == pytest.approx(
            final_metrics(estimator)["test:binary_classification_accuracy"]
        )
        import requests

        response = requests.post(
            f"{url}/invocations",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"instances": [{"features": Xte[0].tolist()}]}),
        )
        assert response.status_code == 200
        (prediction,) = response.json()["predictions"]
        assert set(prediction) == {"score", "predicted_label"}
        assert prediction["predicted_label"] == int(predicted[0])


def test_factorization_machines_regressor_learns_pairwise_interactions(session, local_images):
    """A target made of feature products, which no linear model can fit: the factors must learn them."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(7)
    X = rng.normal(size=(1000, 8)).astype("float32")
    y = (1.5 * X[:, 0] * X[:, 1] - X[:, 2] * X[:, 3] + 0.5 * X[:, 4] + 0.1 * rng.normal(size=1000)).astype("float32")
    Xtr, Xte, ytr, yte = X[:800], X[800:], y[:800], y[800:]
    # factors_lr 0.01: at the default-like 0.001 the factors take more than 20 epochs to find the products
    estimator = fit_factorization_machines(session, "regressor", Xtr, ytr, Xte, yte, factors_lr=0.01)
    emulated = final_metrics(estimator)["test:rmse"]
    hyperparameters = estimator.latest_training_job.describe()["HyperParameters"]
    reference = reference_fm_median(lambda scores: np.sqrt(np.mean((scores - yte) ** 2)), Xtr, ytr, Xte,
                                    hyperparameters)
    linear = float(np.sqrt(np.mean((Ridge().fit(Xtr, ytr).predict(Xte) - yte) ** 2)))
    print(
        f"Factorization Machines regressor (pairwise target): emulator rmse {emulated:.4f}, "
        f"reference FM {reference:.4f}, ridge {linear:.4f}"
    )
    assert close(emulated, reference, FM_TOLERANCE)
    assert emulated < 0.2 * linear  # the interactions were learned (the noise floor is 0.1)


# --- AWS's validation errors ------------------------------------------------------------------------------


# AWS's FailureReason for a built-in algorithm's client errors: `ClientError: <message> (caused by <cause>)`.
MISSING = ("ClientError: No value(s) were specified for {} which are required hyperparameter(s) "
           "(caused by ValidationError)")
INVALID_JOBS = [
    ("linear-learner", {"feature_dim": "2"}, "text/csv", MISSING.format("'predictor_type'")),
    ("knn", {"feature_dim": "2", "predictor_type": "classifier", "sample_size": "10"}, "text/csv",
     MISSING.format("'k'")),
    ("factorization-machines", {"feature_dim": "2", "predictor_type": "regressor"}, None,
     MISSING.format("'num_factors'")),
    ("linear-learner", {"feature_dim": "2", "predictor_type": "regression"}, "text/csv",
     "ClientError: The value 'regression' is not valid for the 'predictor_type' hyperparameter which "
     "accepts one of the following: 'binary_classifier', 'multiclass_classifier', 'regressor' "
     "(caused by ValidationError)"),
    ("knn", {"feature_dim": "2", "predictor_type": "classifier", "sample_size": "10", "k": "3", "bogus": "1"},
     "text/csv", "ClientError: Additional hyperparameters are not allowed ('bogus' was unexpected) "
     "(caused by ValidationError)"),
    ("factorization-machines", {"feature_dim": "2", "predictor_type": "regressor", "num_factors": "2"},
     "text/csv", "ClientError: Content-type text/csv is not supported for channel 'train'. Supported "
     "content-types: application/x-recordio-protobuf (caused by ValueError)"),
]


@pytest.mark.parametrize("repository, hyperparameters, content_type, reason", INVALID_JOBS)
def test_invalid_jobs_fail_with_aws_like_reasons(
    server, session, local_images, repository, hyperparameters, content_type, reason
):
    sagemaker = server.client("sagemaker")
    data = upload_csv(session, f"invalid/{unique('d')}.csv", [[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0])
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data}},
    }
    if content_type:
        channel["ContentType"] = content_type
    name = unique(repository[:10])
    sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        HyperParameters=hyperparameters,
        InputDataConfig=[channel],
        AlgorithmSpecification={"TrainingImage": image_uri(repository), "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{session.default_bucket()}/invalid-out"},
        ResourceConfig={"InstanceType": INSTANCE, "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == reason
