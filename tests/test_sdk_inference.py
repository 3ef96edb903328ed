"""Unchanged SageMaker SDK v2 inference code against the emulator: Estimator.deploy with a DataCaptureConfig
(the user guide's model-monitoring section: deploy, predict, read the captured records), Predictor with
CSV/JSON/NumPy serializers, update_data_capture_config, attaching Predictor(endpoint_name=...),
Estimator.transformer().transform(), delete_endpoint; SKLearnModel and PyTorchModel with an entry_point;
AsyncPredictor.

The SDK sleeps 30 s before it first looks at a deploying endpoint (session._wait_until), so each
`deploy(wait=True)` costs that much here too; the tests deploy with wait=True where that is the code under
test and otherwise wait with boto3's waiter.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap

import numpy as np
import pytest

from emulator.testing.waiting import wait_until
from tests.inference_helpers import tarball
from tests.jobhelpers import ROLE, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def session(sagemaker_session):
    """The plugin's SDK session on the shared emulator, with a fresh default bucket."""
    return sagemaker_session


def _xgboost_rows(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 3))
    labels = (features[:, 0] - features[:, 2] > 0).astype(int)
    return features, labels


def _csv(rows) -> str:
    return "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows) + "\n"


def test_estimator_deploy_capture_predict_update_transform_and_delete(session):
    """The user guide's model-monitoring code, then the rest of an endpoint's life through the SDK."""
    from sagemaker import image_uris
    from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer, JSONSerializer

    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    features, labels = _xgboost_rows(0, 300)
    s3.put_object(Bucket=bucket, Key="train/train.csv",
                  Body=_csv(np.column_stack([labels, features])).encode())
    estimator = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", "1.7-1"), role=ROLE,
                          instance_count=1, instance_type="ml.m5.large", output_path=f"s3://{bucket}/out",
                          sagemaker_session=session,
                          hyperparameters={"objective": "binary:logistic", "num_round": 20, "max_depth": 3})
    estimator.fit({"train": TrainingInput(f"s3://{bucket}/train", content_type="text/csv")}, logs=False)
    capture_uri = f"s3://{bucket}/model-monitor/data-capture"
    predictor = estimator.deploy(
        initial_instance_count=1, instance_type="ml.m5.large", serializer=CSVSerializer(),
        data_capture_config=DataCaptureConfig(enable_capture=True, sampling_percentage=100,
                                              destination_s3_uri=capture_uri, sagemaker_session=session))
    probe, probe_labels = _xgboost_rows(1, 20)
    scores = [float(x) for x in predictor.predict(probe).decode().split()]
    assert len(scores) == 20 and all(0 <= s <= 1 for s in scores)
    assert np.mean((np.array(scores) > 0.5) == probe_labels) > 0.8
    csv_predictor = Predictor(predictor.endpoint_name, sagemaker_session=session, serializer=CSVSerializer(),
                              deserializer=CSVDeserializer())
    assert len(csv_predictor.predict(probe[:2].tolist())) == 2
    json_predictor = Predictor(predictor.endpoint_name, sagemaker_session=session, serializer=JSONSerializer(),
                               deserializer=JSONDeserializer())
    answer = json_predictor.predict({"instances": [{"features": probe[0].tolist()}]})
    assert answer["predictions"][0]["score"] == pytest.approx(scores[0], abs=1e-6)

    # Reading the captured records, as the user guide's section does.
    session.sagemaker_client.get_waiter("endpoint_in_service").wait(EndpointName=predictor.endpoint_name)
    prefix = f"model-monitor/data-capture/{predictor.endpoint_name}/AllTraffic/"

    def captured() -> list[dict]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        return [json.loads(line) for key in keys
                for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]
    records = wait_until(lambda: (lambda found: found if len(found) >= 3 else None)(captured()), timeout=30,
                         what="three captured records")
    csv_records = [r for r in records if r["captureData"]["endpointInput"]["encoding"] == "CSV"]
    assert csv_records and csv_records[0]["captureData"]["endpointInput"]["observedContentType"] == "text/csv"
    assert [float(x) for x in csv_records[0]["captureData"]["endpointOutput"]["data"].split()] == scores

    predictor.update_data_capture_config(data_capture_config=DataCaptureConfig(
        enable_capture=True, sampling_percentage=50, destination_s3_uri=f"s3://{bucket}/capture-2",
        sagemaker_session=session))
    described = session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)
    assert described["DataCaptureConfig"]["CurrentSamplingPercentage"] == 50
    assert described["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{bucket}/capture-2"

    s3.put_object(Bucket=bucket, Key="batch/probe.csv", Body=_csv(probe).encode())
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.large",
                                        output_path=f"s3://{bucket}/batch-out", accept="text/csv",
                                        assemble_with="Line")
    transformer.transform(f"s3://{bucket}/batch/", content_type="text/csv", split_type="Line", wait=True, logs=False)
    output = s3.get_object(Bucket=bucket, Key="batch-out/probe.csv.out")["Body"].read().decode()
    assert [float(x) for x in output.split()] == pytest.approx(scores, abs=1e-6)

    attached = Predictor(endpoint_name=predictor.endpoint_name, sagemaker_session=session)
    attached.delete_endpoint()   # deletes the config first, then the endpoint, as the SDK does
    session.sagemaker_client.get_waiter("endpoint_deleted").wait(EndpointName=predictor.endpoint_name,
                                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})


INFERENCE_SCRIPT = """
    import json, os
    import numpy as np

    class Linear:
        def __init__(self, w, b):
            self.w, self.b = np.asarray(w), b

        def predict(self, x):
            return np.asarray(x, dtype=float) @ self.w + self.b

    def model_fn(model_dir):
        with open(os.path.join(model_dir, "weights.json")) as f:
            p = json.load(f)
        return Linear(p["w"], p["b"])
"""

TORCH_SCRIPT = """
    import json, os
    import torch

    def model_fn(model_dir):
        with open(os.path.join(model_dir, "weights.json")) as f:
            p = json.load(f)
        model = torch.nn.Linear(len(p["w"]), 1)
        with torch.no_grad():
            model.weight.copy_(torch.tensor([p["w"]]))
            model.bias.fill_(p["b"])
        return model.eval()

    def predict_fn(data, model):
        with torch.no_grad():
            return model(torch.as_tensor(data, dtype=torch.float32)).numpy()
"""


def test_framework_models_with_entry_points_and_async_predictor(session, tmp_path):
    from sagemaker.async_inference import AsyncInferenceConfig
    from sagemaker.pytorch import PyTorchModel
    from sagemaker.sklearn import SKLearnModel
    from sagemaker.xgboost import XGBoostModel

    from tests.inference_helpers import xgboost_model

    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="models/linear.tar.gz",
                  Body=tarball({"weights.json": json.dumps({"w": [1.0, 2.0, -1.0], "b": 0.5}).encode()}))
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent(INFERENCE_SCRIPT))
    torch_code = tmp_path / "torch-code"
    torch_code.mkdir()
    (torch_code / "inference.py").write_text(textwrap.dedent(TORCH_SCRIPT))

    s3.put_object(Bucket=bucket, Key="models/xgboost.tar.gz", Body=xgboost_model())
    xgb_code = tmp_path / "xgb-code"
    xgb_code.mkdir()
    (xgb_code / "serve.py").write_text("# XGBoost script mode: the image's model_fn/input_fn/predict_fn/output_fn\n")

    sklearn_name, torch_name, async_name = unique("sk-ep"), unique("pt-ep"), unique("async-ep")
    xgb_name = unique("xgb-ep")
    XGBoostModel(model_data=f"s3://{bucket}/models/xgboost.tar.gz", role=ROLE, entry_point="serve.py",
                 source_dir=str(xgb_code), framework_version="1.7-1", sagemaker_session=session,
                 ).deploy(1, "ml.m5.large", endpoint_name=xgb_name, wait=False)
    sklearn_model = SKLearnModel(model_data=f"s3://{bucket}/models/linear.tar.gz", role=ROLE,
                                 entry_point="inference.py", source_dir=str(code), framework_version="1.2-1",
                                 sagemaker_session=session)
    sklearn_model.deploy(1, "ml.m5.large", endpoint_name=sklearn_name, wait=False)
    torch_model = PyTorchModel(model_data=f"s3://{bucket}/models/linear.tar.gz", role=ROLE, entry_point="inference.py",
                               source_dir=str(torch_code), framework_version="2.1", py_version="py310",
                               sagemaker_session=session)
    torch_model.deploy(1, "ml.m5.large", endpoint_name=torch_name, wait=False)
    async_model = SKLearnModel(model_data=f"s3://{bucket}/models/linear.tar.gz", role=ROLE,
                               entry_point="inference.py", source_dir=str(code), framework_version="1.2-1",
                               sagemaker_session=session)
    async_model.deploy(1, "ml.m5.large", endpoint_name=async_name, wait=False,
                       async_inference_config=AsyncInferenceConfig(output_path=f"s3://{bucket}/async-out"))
    waiter = session.sagemaker_client.get_waiter("endpoint_in_service")
    for name in (sklearn_name, torch_name, async_name, xgb_name):
        waiter.wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})

    from sagemaker.predictor import Predictor
    from sagemaker.sklearn import SKLearnPredictor
    rows = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    assert SKLearnPredictor(sklearn_name, sagemaker_session=session).predict(rows).tolist() == [2.5, -1.5]
    from sagemaker.deserializers import NumpyDeserializer
    from sagemaker.serializers import NumpySerializer
    torch_predictor = Predictor(torch_name, sagemaker_session=session, serializer=NumpySerializer(),
                                deserializer=NumpyDeserializer())
    assert torch_predictor.predict(rows).ravel().tolist() == pytest.approx([2.5, -1.5])

    from sagemaker.predictor_async import AsyncPredictor
    async_predictor = AsyncPredictor(SKLearnPredictor(async_name, sagemaker_session=session))
    from sagemaker.async_inference import WaiterConfig
    result = async_predictor.predict(rows, waiter_config=WaiterConfig(max_attempts=60, delay=1))
    assert result.tolist() == [2.5, -1.5]
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer
    xgb_predictor = Predictor(xgb_name, sagemaker_session=session, serializer=CSVSerializer(),
                              deserializer=CSVDeserializer())
    scores = [float(row[0]) for row in xgb_predictor.predict([[1, 2, 3, 4], [-1, -2, 0, 0]])]
    assert scores[0] > 0.5 > scores[1]
    for name in (sklearn_name, torch_name, async_name, xgb_name):
        Predictor(name, sagemaker_session=session).delete_endpoint()


def test_model_tarball_with_code_folder_serves_without_source_dir(session):
    """A model.tar.gz that carries code/inference.py (what the SDK's repack produces, and JumpStart ships) is
    served by a plain Model naming the program, with no source upload."""
    from sagemaker import image_uris
    from sagemaker.model import Model
    from sagemaker.sklearn import SKLearnPredictor
    bucket = session.default_bucket()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("weights.json", json.dumps({"w": [1.0], "b": 0.0}).encode()),
                           ("code/inference.py", textwrap.dedent(INFERENCE_SCRIPT).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="m/model.tar.gz", Body=buffer.getvalue())
    name = unique("repacked")
    model = Model(image_uri=image_uris.retrieve("sklearn", "us-east-1", "1.2-1"),
                  model_data=f"s3://{bucket}/m/model.tar.gz", role=ROLE, sagemaker_session=session,
                  env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    model.deploy(1, "ml.m5.large", endpoint_name=name, wait=False)
    session.sagemaker_client.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                                                    WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert SKLearnPredictor(name, sagemaker_session=session).predict(np.array([[3.0]])).tolist() == [3.0]
    SKLearnPredictor(name, sagemaker_session=session).delete_endpoint()
