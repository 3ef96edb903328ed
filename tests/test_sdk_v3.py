"""SageMaker Python SDK v3 (ModelTrainer) runs unchanged against the emulator.

SDK v2 and v3 cannot share a virtualenv, so v3 lives in its own venv (created once, cached under
~/.cache/sagemaker-emulator) and the client code runs in a subprocess with AWS_ENDPOINT_URL set.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.jobhelpers import unique

pytestmark = [pytest.mark.slow]

SDK3 = "sagemaker==3.27.0"
VENV = Path(os.environ.get("SAGEMAKER_EMULATOR_SDK3_VENV",
                           Path.home() / ".cache" / "sagemaker-emulator" / "venv-sdk3"))
HERE = Path(__file__).parent
# Below pytest's own timeout (pyproject: 900 s, fixture set-up included), so that a slow or hanging
# install fails here with pip's output instead of being killed without it.
INSTALL_TIMEOUT = 600


@pytest.fixture(scope="session")
def sdk3_python() -> str:
    """The v3 SDK's interpreter: a venv created once and cached; built in a temporary directory and
    renamed into place, under a file lock, so that parallel workers and interrupted runs never see
    half an install."""
    python = VENV / "bin" / "python"
    marker = VENV / f".installed-{SDK3}"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            build = Path(tempfile.mkdtemp(prefix=f".{VENV.name}-", dir=VENV.parent))
            try:
                subprocess.run([sys.executable, "-m", "venv", str(build)], check=True, capture_output=True)
                install = subprocess.run([str(build / "bin" / "python"), "-m", "pip", "install", "-q", SDK3],
                                         capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                shutil.rmtree(build, ignore_errors=True)
                pytest.fail(f"installing {SDK3} into a venv took more than {INSTALL_TIMEOUT} s; create it once by "
                            f"hand: python3 -m venv {VENV} && {python} -m pip install {SDK3} && touch {marker}\n"
                            f"{(exc.stderr or b'')[-3000:]!r}", pytrace=False)
            if install.returncode != 0:
                shutil.rmtree(build, ignore_errors=True)
                pytest.fail(f"pip could not install {SDK3} (exit {install.returncode}):\n{install.stderr[-3000:]}",
                            pytrace=False)
            # Only bin/python is used, and it finds its venv from the pyvenv.cfg beside it: the renamed
            # venv works (the console scripts' shebangs would not, and are not needed).
            shutil.rmtree(VENV, ignore_errors=True)
            build.rename(VENV)
            marker.touch()
    return str(python)


@pytest.mark.docker
def test_model_trainer_script_mode(server, sdk3_python, tmp_path):
    from emulator.runtime.images import ensure_image
    ensure_image("sklearn-1.2", None)
    bucket = unique("sdk3")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/x.csv", Body=b"1,2\n")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        "import json, os\n"
        "print('hello from v3', os.environ['SM_CURRENT_HOST'])\n"
        "json.dump(sorted(os.listdir(os.environ['SM_CHANNEL_TRAIN'])),"
        " open(os.path.join(os.environ['SM_MODEL_DIR'], 'files.json'), 'w'))\n")
    config = tmp_path / "sdk.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    env = {**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    result = subprocess.run([sdk3_python, str(HERE / "sdk3" / "model_trainer.py"), bucket, image, str(code),
                             f"s3://{bucket}/data"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    status_line = [line for line in result.stdout.splitlines() if line.startswith("STATUS")][-1]
    _, status, artifacts = status_line.split()
    assert status == "Completed"
    import io
    import tarfile
    key = artifacts.split("/", 3)[3]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("files.json").read() == b'["x.csv"]'


@pytest.mark.docker
def test_v3_pipeline_with_model_trainer_step_condition_and_fail(server, sdk3_python, tmp_path):
    from emulator.runtime.images import ensure_image
    ensure_image("sklearn-1.2", None)
    bucket = unique("sdk3pipe")
    server.client("s3").create_bucket(Bucket=bucket)
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('training')\n")
    config = tmp_path / "sdk.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    env = {**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    name = unique("V3Pipe")
    outcomes = {}
    for threshold in ("0", "100000"):  # TrainingTimeInSeconds >= threshold: passes, then fails
        result = subprocess.run([sdk3_python, str(HERE / "sdk3" / "pipeline.py"), bucket, image, str(code), name,
                                 threshold], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("STATUS", "STEPS")))
        outcomes[threshold] = (lines["STATUS"], lines["STEPS"])
    assert outcomes["0"] == ("Succeeded", "Check,Train")
    assert outcomes["100000"] == ("Failed", "Check,TooFast,Train")


def test_v3_model_package_get_update_and_get_all(server, sdk3_python, tmp_path):
    """Versioned packages are described without ModelPackageName (as AWS does), so v3's refresh()
    describes them by ARN: update() and get_all() work."""
    config = tmp_path / "sdk.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    env = {**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}
    result = subprocess.run([sdk3_python, str(HERE / "sdk3" / "model_packages.py"), unique("v3registry")],
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines()
                 if line.startswith(("UPDATED", "LISTED", "APPROVED")))
    assert lines == {"UPDATED": "Approved", "LISTED": "1,2", "APPROVED": "Approved"}


@pytest.mark.docker
def test_v3_quality_check_step_calculates_and_registers_a_baseline(server, sdk3_python, tmp_path):
    """SDK v3's QualityCheckStep builds the same step as v2's: the analyzer's baseline comes back as the
    step's calculated and drift-check baseline (the lifecycle is tested with v2: test_sdk_quality_check)."""
    from emulator.runtime.images import build_images
    build_images(["model-monitor-analyzer"], print)
    bucket = unique("sdk3check")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"label,x,kind\n" + b"".join(
        f"{i % 2},{i * 0.5},{'ab'[i % 2]}\n".encode() for i in range(200)))
    config = tmp_path / "sdk.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    env = {**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}
    result = subprocess.run([sdk3_python, str(HERE / "sdk3" / "quality_check.py"), bucket,
                             f"s3://{bucket}/data/train.csv", unique("V3Check")],
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines()
                 if line.startswith(("STATUS", "REASON", "METADATA")))
    assert lines["STATUS"] == "Succeeded", lines
    metadata = json.loads(lines["METADATA"])
    assert metadata["SkipCheck"] is True and metadata["CheckType"] == "DATA_QUALITY"
    assert metadata["BaselineUsedForDriftCheckConstraints"] == metadata["CalculatedBaselineConstraints"]
    key = metadata["CalculatedBaselineStatistics"].split(f"s3://{bucket}/", 1)[1]
    statistics = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert statistics["dataset"]["item_count"] == 200
