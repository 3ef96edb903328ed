"""Data capture on the emulator -- the user guide's DataCaptureConfig: train built-in XGBoost, deploy
it with every request and response captured to S3, send it traffic and read the captured records back.
SageMaker SDK code as written for AWS; only the environment differs (see examples/README.md):

    python examples/model_monitoring/capture.py

The monitoring example (monitor_and_retrain.py) starts with these steps.
"""

import json
import time

import numpy as np
import sagemaker
from sagemaker import image_uris
from sagemaker.deserializers import CSVDeserializer
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model_monitor import DataCaptureConfig
from sagemaker.s3 import S3Downloader, S3Uploader
from sagemaker.serializers import CSVSerializer
from sagemaker.utils import unique_name_from_base

FEATURES = ["x0", "x1", "x2", "x3"]
INSTANCE = "ml.m5.large"


def traffic(n: int, seed: int, drifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and their true labels. Drifted: x0 and x3 move, and the label no longer follows
    x0 - x2 > 0 (concept drift), so the deployed model's answers go wrong."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    if not drifted:
        return x.round(4), (x[:, 0] - x[:, 2] > 0).astype(int)
    x[:, 0] += 2.0
    x[:, 3] -= 2.0
    return x.round(4), (x[:, 0] - x[:, 2] < 1.5).astype(int)


def csv_text(rows, header: list[str] | None = None) -> str:
    lines = [",".join(header)] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def train(session, role: str, bucket: str, prefix: str) -> Estimator:
    features, labels = traffic(400, seed=0)
    train_uri = S3Uploader.upload_string_as_file_body(
        csv_text(np.column_stack([labels, features])), f"s3://{bucket}/{prefix}/train/train.csv", sagemaker_session=session)
    estimator = Estimator(image_uri=image_uris.retrieve("xgboost", session.boto_region_name, "1.7-1"), role=role,
                          instance_count=1, instance_type=INSTANCE, output_path=f"s3://{bucket}/{prefix}/model",
                          sagemaker_session=session,
                          hyperparameters={"objective": "binary:logistic", "num_round": 20, "max_depth": 3})
    estimator.fit({"train": TrainingInput(train_uri.rsplit("/", 1)[0], content_type="text/csv")}, logs=False)
    return estimator


def deploy_with_capture(estimator: Estimator, session, bucket: str, prefix: str, endpoint_name: str):
    """The user guide's DataCaptureConfig, every parameter it lists: each request and response lands in
    S3, CSV and JSON bodies as text (other content types base64)."""
    capture = DataCaptureConfig(enable_capture=True, sampling_percentage=100,
                                destination_s3_uri=f"s3://{bucket}/{prefix}/data-capture", kms_key_id=None,
                                capture_options=["REQUEST", "RESPONSE"], csv_content_types=["text/csv"],
                                json_content_types=["application/json"], sagemaker_session=session)
    return estimator.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name=endpoint_name,
                            serializer=CSVSerializer(), deserializer=CSVDeserializer(), data_capture_config=capture)


def invoke(predictor, features: np.ndarray, first_id: int) -> np.ndarray:
    """One request per row, each with an inference id the ground truth will refer to."""
    return np.array([float(predictor.predict(row, inference_id=str(first_id + i))[0][0])
                     for i, row in enumerate(features)])


def captured_records(session, bucket: str, prefix: str, endpoint_name: str, at_least: int,
                     timeout: float = 600) -> list[dict]:
    """The capture files of the endpoint, one JSON line per request (delivery lags on AWS: poll)."""
    uri = f"s3://{bucket}/{prefix}/data-capture/{endpoint_name}/AllTraffic"
    deadline = time.monotonic() + timeout
    while True:
        records = [json.loads(line) for key in S3Downloader.list(uri, sagemaker_session=session)
                   for line in S3Downloader.read_file(key, sagemaker_session=session).splitlines() if line]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(2)


def main() -> None:
    # With the emulator's STS set up for the SDK (`sagemaker-emulator sdk-setup`) these two lines are the
    # usual `session = sagemaker.Session()` and `role = sagemaker.get_execution_role()`.
    session = sagemaker.Session(default_bucket="sagemaker-example-monitoring")
    role = "arn:aws:iam::000000000000:role/SageMakerRole"
    bucket = session.default_bucket()
    prefix = endpoint_name = unique_name_from_base("capture-demo", max_length=40)

    estimator = train(session, role, bucket, prefix)
    predictor = deploy_with_capture(estimator, session, bucket, prefix, endpoint_name)
    features, _ = traffic(10, seed=1)
    scores = invoke(predictor, features, first_id=0)
    records = captured_records(session, bucket, prefix, endpoint_name, at_least=len(features))
    print(f"endpoint {endpoint_name}: {len(records)} captured records under "
          f"s3://{bucket}/{prefix}/data-capture/{endpoint_name}/AllTraffic/")
    for record in sorted(records, key=lambda r: int(r["eventMetadata"]["inferenceId"])):
        data = record["captureData"]
        print(f"  inferenceId {record['eventMetadata']['inferenceId']} at {record['eventMetadata']['inferenceTime']}:"
              f" {data['endpointInput']['data']} -> {data['endpointOutput']['data'].strip()}")
    print(f"scores returned to the caller: {', '.join(f'{s:.4f}' for s in scores)}")
    predictor.delete_endpoint()


if __name__ == "__main__":
    main()
