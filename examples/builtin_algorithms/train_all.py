"""Every built-in tabular algorithm the emulator provides, trained on one small dataset (scikit-learn's
breast cancer table: 569 rows, 30 features, two classes) through its usual SageMaker SDK entry point:

    XGBoost                              Estimator on the sagemaker-xgboost image, CSV channels
    LinearLearner, KNN,                  the SDK's AmazonAlgorithmEstimators, RecordIO-protobuf record sets
    FactorizationMachines
    LightGBM, CatBoost, AutoGluon-       JumpStartEstimator(model_id=...), the JumpStart CSV layout
    Tabular, TabTransformer

All jobs are started at once, then awaited; the table at the end shows each job's status and final
metrics. SageMaker SDK code as written for AWS; only the environment differs (see examples/README.md):

    python examples/builtin_algorithms/train_all.py [--only xgboost,knn]
"""

import argparse
import sys

import numpy as np
import sagemaker
from sagemaker import KNN, FactorizationMachines, LinearLearner
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.jumpstart.estimator import JumpStartEstimator
from sagemaker.s3 import S3Uploader
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

INSTANCE = "ml.m5.xlarge"

# With the emulator's STS set up for the SDK (`sagemaker-emulator sdk-setup`) these two lines are the
# usual `session = sagemaker.Session()` and `role = sagemaker.get_execution_role()`.
session = sagemaker.Session(default_bucket="sagemaker-example-builtin-algorithms")
role = "arn:aws:iam::000000000000:role/SageMakerRole"

bucket = session.default_bucket()
X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X.astype("float32"), y.astype("float32"), test_size=0.25,
                                                  random_state=0, stratify=y)


def csv(features, labels) -> str:
    """Label first, no header: what XGBoost and the JumpStart tabular scripts read."""
    return "\n".join(",".join(f"{v:g}" for v in row) for row in np.column_stack([labels, features])) + "\n"


def upload(key: str, body: str) -> str:
    return S3Uploader.upload_string_as_file_body(body, f"s3://{bucket}/{key}", sagemaker_session=session)


def xgboost() -> Estimator:
    image = sagemaker.image_uris.retrieve("xgboost", session.boto_region_name, version="1.7-1")
    estimator = Estimator(image_uri=image, role=role, instance_count=1, instance_type=INSTANCE,
                          output_path=f"s3://{bucket}/xgboost", sagemaker_session=session,
                          hyperparameters={"objective": "binary:logistic", "num_round": "30", "max_depth": "3",
                                           "eval_metric": "error"})
    estimator.fit({"train": TrainingInput(upload("xgboost/train.csv", csv(X_train, y_train)), content_type="text/csv"),
                   "validation": TrainingInput(upload("xgboost/validation.csv", csv(X_val, y_val)),
                                               content_type="text/csv")}, wait=False)
    return estimator


def amazon(estimator):
    estimator.fit([estimator.record_set(X_train, labels=y_train, channel="train"),
                   estimator.record_set(X_val, labels=y_val, channel="test")], wait=False)
    return estimator


def linear_learner():
    return amazon(LinearLearner(role=role, instance_count=1, instance_type=INSTANCE, sagemaker_session=session,
                                predictor_type="binary_classifier", epochs=5))


def knn():
    return amazon(KNN(role=role, instance_count=1, instance_type=INSTANCE, sagemaker_session=session,
                      k=5, sample_size=len(y_train), predictor_type="classifier"))


def factorization_machines():
    return amazon(FactorizationMachines(role=role, instance_count=1, instance_type=INSTANCE, sagemaker_session=session,
                                        num_factors=4, predictor_type="binary_classifier", epochs=10))


def jumpstart(model_id: str, **hyperparameters):
    def train():
        prefix = f"jumpstart/{model_id}"
        upload(f"{prefix}/train/data.csv", csv(X_train, y_train))
        upload(f"{prefix}/validation/data.csv", csv(X_val, y_val))
        estimator = JumpStartEstimator(model_id=model_id, role=role, instance_type=INSTANCE,
                                       sagemaker_session=session, hyperparameters=hyperparameters)
        estimator.fit({"training": f"s3://{bucket}/{prefix}/"}, wait=False)
        return estimator
    return train


ALGORITHMS = {
    "xgboost": xgboost,
    "linear-learner": linear_learner,
    "knn": knn,
    "factorization-machines": factorization_machines,
    "lightgbm": jumpstart("lightgbm-classification-model", num_boost_round="50"),
    "catboost": jumpstart("catboost-classification-model", iterations="50"),
    "autogluon": jumpstart("autogluon-classification-ensemble"),
    "tabtransformer": jumpstart("pytorch-tabtransformerclassification-model", n_epochs="5"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(ALGORITHMS), help="comma-separated subset of: " + ", ".join(ALGORITHMS))
    names = parser.parse_args().only.split(",")
    started = {name: ALGORITHMS[name]() for name in names}
    results = {}
    for name, estimator in started.items():
        estimator.latest_training_job.wait(logs="None")
        results[name] = estimator.latest_training_job.describe()
    print()
    for name, description in results.items():
        metrics = ", ".join(f"{m['MetricName']}={m['Value']:.4g}" for m in description.get("FinalMetricDataList", []))
        print(f"{name:<24} {description['TrainingJobStatus']:<10} {metrics or description.get('FailureReason', '')}")
    return 0 if all(d["TrainingJobStatus"] == "Completed" for d in results.values()) else 1

if __name__ == "__main__":
    sys.exit(main())
