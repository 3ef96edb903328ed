"""SDK v3 ModelBuilder, offline: build a model from an image URI and an S3 artifact, deploy it (the SDK waits
for InService), invoke the endpoint through sagemaker-core's Endpoint resource and delete it. The client
code runs in the SDK v3 venv (tests/test_sdk_v3.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.inference_helpers import XGBOOST_IMAGE, xgboost_model
from tests.jobhelpers import unique
from tests.test_sdk_v3 import sdk3_python  # noqa: F401 - the fixture

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HERE = Path(__file__).parent


def test_model_builder_build_deploy_invoke_delete(server, sdk3_python, tmp_path):  # noqa: F811
    bucket = unique("sdk3-inf")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=xgboost_model())
    config = tmp_path / "sdk.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    name = unique("v3-ep")
    result = subprocess.run([sdk3_python, str(HERE / "sdk3" / "model_builder.py"), bucket, XGBOOST_IMAGE,
                             f"s3://{bucket}/model/model.tar.gz", name],
                            env={**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # The SDK draws a progress panel on the same terminal line as what the script prints after it.
    lines = {m.group(1): m.group(2) for m in re.finditer(r"(MODEL|ENDPOINT|PREDICTIONS) ([^\n]+)", result.stdout)}
    assert lines["ENDPOINT"] == f"{name} InService"
    predictions = [float(x) for x in lines["PREDICTIONS"].strip("[]").replace("'", "").split(", ")]
    assert len(predictions) == 2 and predictions[0] > 0.5 > predictions[1]
    assert "DELETED" in result.stdout
    sagemaker = server.client("sagemaker")
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert sagemaker.describe_model(ModelName=lines["MODEL"])["PrimaryContainer"]["Image"] == XGBOOST_IMAGE
